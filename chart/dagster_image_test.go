package chart

// Checks the rendered configuration with Dagster's own code, in the Dagster image (Docker, no
// cluster, no network), skipped unless DAGSTER_DEV_E2E=1: dagster.yaml against the instance schema
// and each configured class's schema and constructor, celery.yaml as `dagster-celery worker start`
// reads it, the workspace file, and the example code's probe op.
//
//	DAGSTER_DEV_E2E=1 go test ./chart/ -run DagsterImage -v

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagster-dev/dagster-dev/internal/e2etest"
)

// dagsterImage is the image the check runs in; the offline harness builds it.
func dagsterImage() string {
	if v := os.Getenv("DAGSTER_DEV_DAGSTER_IMAGE"); v != "" {
		return v
	}
	return "dagster-dev.local/dagster:1.13.27"
}

const configCheckScript = `
import importlib, importlib.util, inspect, os, sys, yaml
from dagster import build_op_context
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import process_workspace_config
from dagster_celery.cli import get_validated_config

problems = []
config, _ = dagster_instance_config("/cfg")  # the whole file against the instance schema
for key in ("run_storage", "event_log_storage", "schedule_storage", "run_coordinator", "run_launcher", "compute_logs"):
    section = config[key]
    klass = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(resolve_to_config_type(klass.config_type()), section.get("config") or {})
    if not result.success:
        problems.append("%s: %s" % (key, [e.message for e in result.errors]))
        continue
    # These classes are built with cls(inst_data=..., **config) (the storages instead build a URL
    # from postgres_db): every key must be a constructor parameter.
    params = inspect.signature(klass.__init__).parameters
    if key in ("run_launcher", "run_coordinator", "compute_logs") and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        extra = sorted(set(result.value) - set(params))
        if extra:
            problems.append("%s: %s.__init__ does not take %s" % (key, klass.__name__, extra))
    if key == "run_storage":
        from dagster_postgres.utils import pg_url_from_config
        url = pg_url_from_config(result.value)
        scheme = url.split("://")[0]
        from sqlalchemy.engine import make_url
        dialect = make_url(url).get_dialect()
        try:
            dialect.import_dbapi()
        except ImportError as exc:
            problems.append("postgres URL scheme %s needs a driver the image lacks: %s" % (scheme, exc))

celery = get_validated_config("/cfg/celery.yaml")
if celery.get("broker") != os.environ["DAGSTER_CELERY_BROKER_URL"]:
    problems.append("celery.yaml broker = %r" % celery.get("broker"))

with open("/cfg/workspace.yaml") as f:
    ws = process_workspace_config(yaml.safe_load(f))
if not ws.success:
    problems.append("workspace.yaml: %s" % [e.message for e in ws.errors])

spec = importlib.util.spec_from_file_location("dagster_dev_example", "/cfg/dagster_dev_example.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
job = example.defs.get_job_def("dagster_dev_probe")
if job.executor_def.name != "celery-k8s":
    problems.append("dagster_dev_probe executor = %s" % job.executor_def.name)
os.environ["PROBE_SET"] = "value-1"
os.environ.pop("PROBE_MISSING", None)
got = example.probe(build_op_context(op_config={"keys": ["PROBE_SET", "PROBE_MISSING", "DAGSTER_PG_PASSWORD", "DAGSTER_CELERY_BROKER_URL"]}))
# The chart's own secrets are set here (see the container's env) and must never be echoed.
if got != {"PROBE_SET": "value-1", "PROBE_MISSING": "<unset>", "DAGSTER_PG_PASSWORD": "<redacted>", "DAGSTER_CELERY_BROKER_URL": "<redacted>"}:
    problems.append("probe returned %r" % (got,))

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("config OK")
`

func TestDagsterImageAcceptsRenderedConfig(t *testing.T) {
	e2etest.Require(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("docker CLI: %v", err)
	}
	if out, err := exec.Command(docker, "image", "inspect", dagsterImage()).CombinedOutput(); err != nil {
		t.Fatalf("image %s: %v\n%s (build it with e2e/offline/prepare or set DAGSTER_DEV_DAGSTER_IMAGE)", dagsterImage(), err, out)
	}
	for name, vals := range map[string]string{
		"defaults": envValues + "\ncelery: {configSource: {task_default_priority: 7}}\nimagePullSecrets: [regcred]",
		"external services": `postgresql: {enabled: false, postgresqlHost: db.example, existingSecret: pg, postgresqlParams: {sslmode: require}}
rabbitmq: {enabled: false, brokerUrlSecret: broker}
daemon: {enabled: false}`,
	} {
		t.Run(name, func(t *testing.T) {
			m := render(t, "dagster", values(t, vals))
			dir := t.TempDir()
			files := map[string]string{
				"dagster.yaml":           configMapData(t, m, "dagster-instance")["dagster.yaml"],
				"celery.yaml":            configMapData(t, m, "dagster-celery")["celery.yaml"],
				"workspace.yaml":         configMapData(t, m, "dagster-workspace")["workspace.yaml"],
				"dagster_dev_example.py": string(mustRead(t, filepath.Join("dagster", "files", "dagster_dev_example.py"))),
				// The run launcher's module (runLauncher.locationContext), importable through PYTHONPATH.
				"dagster_dev_launcher.py": string(mustRead(t, filepath.Join("dagster", "files", "dagster_dev_launcher.py"))),
			}
			for f, content := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The container runs as root and reads the files; make the directory readable to anyone
			// in case the image runs as another user.
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(docker, "run", "--rm", "--network", "none",
				"-v", dir+":/cfg:ro",
				"-e", "PYTHONPATH=/cfg",
				"-e", "PYTHONDONTWRITEBYTECODE=1",
				"-e", "DAGSTER_PG_PASSWORD=not-used",
				"-e", "DAGSTER_CELERY_BROKER_URL=pyamqp://u:p@broker:5672//",
				"--entrypoint", "python", dagsterImage(), "-c", configCheckScript)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "config OK") {
				t.Fatalf("Dagster rejects the rendered config: %v\n%s", err, out)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
