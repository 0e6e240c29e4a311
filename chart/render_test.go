// This file is long on purpose: one table-style render test per chart
// feature, sharing the render fixtures in helpers_test.go; splitting it by
// template would scatter cases that check the same rendered objects.

package chart

import (
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func TestLoadEmbeddedChart(t *testing.T) {
	ch, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.APIVersion != "v2" || ch.Metadata.Name != "dagster" {
		t.Errorf("chart = %s %s, want v2 dagster", ch.Metadata.APIVersion, ch.Metadata.Name)
	}
	if ch.Metadata.AppVersion != "1.13.27" {
		t.Errorf("appVersion = %q, want the Dagster version 1.13.27", ch.Metadata.AppVersion)
	}
	if ch.Metadata.Version == "" {
		t.Error("no chart version")
	}
	// _helpers.tpl only reaches the binary with the embed "all:" prefix.
	var haveHelpers bool
	for _, tpl := range ch.Templates {
		haveHelpers = haveHelpers || tpl.Name == "templates/_helpers.tpl"
	}
	if !haveHelpers {
		t.Error("templates/_helpers.tpl is missing from the embedded chart")
	}
	conds := map[string]string{}
	for _, d := range ch.Metadata.Dependencies {
		conds[d.Name] = d.Condition
		if d.Repository != "" {
			t.Errorf("dependency %s has repository %q; subcharts must be local (no network)", d.Name, d.Repository)
		}
	}
	want := map[string]string{"postgresql": "postgresql.enabled", "rabbitmq": "rabbitmq.enabled"}
	for name, cond := range want {
		if conds[name] != cond {
			t.Errorf("dependency %s condition = %q, want %q", name, conds[name], cond)
		}
	}
	var subs []string
	for _, d := range ch.Dependencies() {
		subs = append(subs, d.Name())
	}
	sort.Strings(subs)
	if !equalStrings(subs, []string{"postgresql", "rabbitmq"}) {
		t.Errorf("subcharts = %v", subs)
	}
}

// The objects of a default install for release "dagster": the seed chart's names.
var defaultObjects = []string{
	"ConfigMap/dagster-celery",
	"ConfigMap/dagster-dagit-env",
	"ConfigMap/dagster-dagster-dev-lib",
	"ConfigMap/dagster-instance",
	"ConfigMap/dagster-instance-migrated",
	"ConfigMap/dagster-job-runner-env",
	"ConfigMap/dagster-user-code-example",
	"ConfigMap/dagster-workspace",
	"Deployment/dagster-celery-workers",
	"Deployment/dagster-daemon",
	"Deployment/dagster-dagit",
	"Deployment/dagster-user-code",
	"PersistentVolumeClaim/dagster-compute-logs",
	"Role/dagster-job-runner",
	"RoleBinding/dagster-job-runner",
	"Secret/dagster-postgresql",
	"Secret/dagster-rabbitmq",
	"Secret/dagster-rabbitmq-broker",
	"Service/dagster-dagit",
	"Service/dagster-postgresql",
	"Service/dagster-postgresql-headless",
	"Service/dagster-rabbitmq",
	"Service/dagster-rabbitmq-headless",
	"Service/dagster-user-code",
	"ServiceAccount/dagster",
	"ServiceAccount/dagster-run",
	"StatefulSet/dagster-postgresql",
	"StatefulSet/dagster-rabbitmq",
}

func TestDefaultObjects(t *testing.T) {
	m := render(t, "dagster", nil)
	if got := objectKeys(m); !equalStrings(got, defaultObjects) {
		t.Errorf("objects:\n got %v\nwant %v", got, defaultObjects)
	}
	if len(m.Hooks) != 1 || m.Hooks[0].GetKind() != "Pod" || m.Hooks[0].GetName() != "dagster-test-dagit" {
		t.Errorf("hooks = %v, want the test Pod dagster-test-dagit", m.Hooks)
	} else if m.Hooks[0].GetAnnotations()["helm.sh/hook"] != "test" {
		t.Errorf("test pod hook annotation = %q", m.Hooks[0].GetAnnotations()["helm.sh/hook"])
	}
	for _, o := range m.Objects {
		if o.GetLabels()["app.kubernetes.io/instance"] != "dagster" {
			t.Errorf("%s/%s lacks the instance label", o.GetKind(), o.GetName())
		}
	}
}

func TestOtherReleaseName(t *testing.T) {
	m := render(t, "team-a", nil)
	for _, k := range objectKeys(m) {
		name := k[strings.Index(k, "/")+1:]
		if !strings.HasPrefix(name, "team-a") {
			t.Errorf("%s is not derived from the release name", k)
		}
	}
	if got, want := len(m.Objects), len(defaultObjects); got != want {
		t.Errorf("%d objects, want %d", got, want)
	}
	dagit := mustFind(t, m, "Deployment", "team-a-dagit")
	if got := envFrom(t, container(t, dagit, "dagit")); !equalStrings(got, []string{"configMap:team-a-dagit-env"}) {
		t.Errorf("dagit envFrom = %v", got)
	}
	lc := launcherConfig(t, instanceConfig(t, m, "team-a"))
	if got := strList(lc["env_config_maps"]); !equalStrings(got, []string{"team-a-job-runner-env"}) {
		t.Errorf("launcher env_config_maps = %v", got)
	}
	if lc["instance_config_map"] != "team-a-instance" || lc["postgres_password_secret"] != "team-a-postgresql" {
		t.Errorf("launcher names = %v / %v", lc["instance_config_map"], lc["postgres_password_secret"])
	}
	pg := nested(t, instanceConfig(t, m, "team-a"), "run_storage", "config", "postgres_db").(map[string]any)
	if pg["hostname"] != "team-a-postgresql" {
		t.Errorf("postgres host = %v", pg["hostname"])
	}
	ws := configMapData(t, m, "team-a-workspace")["workspace.yaml"]
	if !strings.Contains(ws, `host: "team-a-user-code"`) {
		t.Errorf("workspace does not point at team-a-user-code:\n%s", ws)
	}
	rb := mustFind(t, m, "RoleBinding", "team-a-job-runner")
	subj := nested(t, rb.Object, "subjects").([]any)[0].(map[string]any)
	if subj["name"] != "team-a" || subj["namespace"] != "dagster" {
		t.Errorf("RoleBinding subject = %v", subj)
	}
}

func TestObjectsPerValues(t *testing.T) {
	cases := []struct {
		name    string
		values  string
		absent  []string
		present []string
	}{
		{name: "daemon off", values: "daemon: {enabled: false}",
			absent: []string{"Deployment/dagster-daemon"}},
		{name: "rbac off", values: "rbacEnabled: false",
			absent: []string{"Role/dagster-job-runner", "RoleBinding/dagster-job-runner"}},
		{name: "existing service account", values: "serviceAccount: {create: false, name: dagit-admin}",
			absent: []string{"ServiceAccount/dagster"}},
		{name: "existing run service account", values: "runLauncher: {serviceAccount: {create: false, name: runner}}",
			absent: []string{"ServiceAccount/dagster-run"}},
		{name: "own code", values: "userCode: {example: {enabled: false}, moduleName: my_code}",
			absent: []string{"ConfigMap/dagster-user-code-example"}, present: []string{"Deployment/dagster-user-code"}},
		{name: "postgres persistence off", values: "postgresql: {persistence: {enabled: false}}",
			present: []string{"StatefulSet/dagster-postgresql", "Secret/dagster-postgresql"}},
		{name: "postgres existing secret", values: "postgresql: {existingSecret: pg-creds}",
			absent: []string{"Secret/dagster-postgresql"}, present: []string{"StatefulSet/dagster-postgresql"}},
		{name: "plain launcher", values: "runLauncher: {locationContext: false}",
			absent: []string{"ConfigMap/dagster-dagster-dev-lib"}},
		{name: "rabbitmq existing secret", values: "rabbitmq: {existingSecret: mq-creds}",
			absent: []string{"Secret/dagster-rabbitmq", "Secret/dagster-rabbitmq-broker"}, present: []string{"StatefulSet/dagster-rabbitmq"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, "dagster", values(t, tc.values))
			have := map[string]bool{}
			for _, k := range objectKeys(m) {
				have[k] = true
			}
			for _, k := range tc.absent {
				if have[k] {
					t.Errorf("%s rendered", k)
				}
			}
			for _, k := range tc.present {
				if !have[k] {
					t.Errorf("%s missing", k)
				}
			}
			if got, want := len(m.Objects), len(defaultObjects)-len(tc.absent); got != want {
				t.Errorf("%d objects, want %d: %v", got, want, objectKeys(m))
			}
		})
	}
}

func TestDaemonOffUsesDefaultRunCoordinator(t *testing.T) {
	on := nested(t, instanceConfig(t, render(t, "dagster", nil), "dagster"), "run_coordinator").(map[string]any)
	if on["class"] != "QueuedRunCoordinator" || on["module"] != "dagster._core.run_coordinator" {
		t.Errorf("run_coordinator with daemon = %v", on)
	}
	if got := nested(t, on, "config", "max_concurrent_runs"); got != float64(10) {
		t.Errorf("max_concurrent_runs = %v", got)
	}
	off := nested(t, instanceConfig(t, render(t, "dagster", values(t, "daemon: {enabled: false}")), "dagster"), "run_coordinator").(map[string]any)
	if off["class"] != "DefaultRunCoordinator" {
		t.Errorf("run_coordinator without daemon = %v (queued runs would never start)", off)
	}
}

const envValues = `
dagit:
  env: {DAGIT_A: "1", EMPTY: "", NUM: 3, FLAG: true}
  env_config_maps: [dagit-cm-1, "", dagit-cm-2]
  env_secrets: [dagit-secret-1, "", dagit-secret-2]
job_runner:
  env: {RUNNER_A: x}
  env_config_maps: [run-cm-1, "", run-cm-2]
  env_secrets: ["", run-secret-1, run-secret-2]
`

func TestEnvFromOrder(t *testing.T) {
	m := render(t, "dagster", values(t, envValues))
	dagitWant := []string{"configMap:dagster-dagit-env", "configMap:dagit-cm-1", "configMap:dagit-cm-2",
		"secret:dagit-secret-1", "secret:dagit-secret-2"}
	runnerWant := []string{"configMap:dagster-job-runner-env", "configMap:run-cm-1", "configMap:run-cm-2",
		"secret:run-secret-1", "secret:run-secret-2"}
	checks := []struct {
		kind, name, container string
		want                  []string
	}{
		{"Deployment", "dagster-dagit", "dagit", dagitWant},
		{"Deployment", "dagster-daemon", "daemon", dagitWant},
		{"Deployment", "dagster-celery-workers", "celery-worker", runnerWant},
		{"Deployment", "dagster-user-code", "user-code", runnerWant},
	}
	for _, c := range checks {
		got := envFrom(t, container(t, mustFind(t, m, c.kind, c.name), c.container))
		if !equalStrings(got, c.want) {
			t.Errorf("%s envFrom:\n got %v\nwant %v", c.name, got, c.want)
		}
	}

	// Job pods: the launcher passes the same order (Dagster puts ConfigMaps before Secrets). The
	// chart's broker Secret comes first among the Secrets so that every user Secret still wins.
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got, want := strList(lc["env_config_maps"]), []string{"dagster-job-runner-env", "run-cm-1", "run-cm-2"}; !equalStrings(got, want) {
		t.Errorf("launcher env_config_maps = %v, want %v", got, want)
	}
	if got, want := strList(lc["env_secrets"]), []string{"dagster-rabbitmq-broker", "run-secret-1", "run-secret-2"}; !equalStrings(got, want) {
		t.Errorf("launcher env_secrets = %v, want %v", got, want)
	}
}

// Nothing user-settable may be in `env`, which beats every envFrom source: only the chart's
// secret references are.
func TestEnvHoldsOnlyChartSecretRefs(t *testing.T) {
	m := render(t, "dagster", values(t, envValues))
	for _, w := range []struct{ name, container string }{
		{"dagster-dagit", "dagit"}, {"dagster-daemon", "daemon"}, {"dagster-celery-workers", "celery-worker"},
	} {
		c := container(t, mustFind(t, m, "Deployment", w.name), w.container)
		var names []string
		for _, e := range c["env"].([]any) {
			ev := e.(map[string]any)
			names = append(names, ev["name"].(string))
			if _, literal := ev["value"]; literal {
				t.Errorf("%s: env %s has a literal value; only secret references belong in env", w.name, ev["name"])
			}
			if nested(t, ev, "valueFrom", "secretKeyRef", "name") == nil {
				t.Errorf("%s: env %s is not a secretKeyRef", w.name, ev["name"])
			}
		}
		if !equalStrings(names, []string{"DAGSTER_PG_PASSWORD", "DAGSTER_CELERY_BROKER_URL"}) {
			t.Errorf("%s env = %v", w.name, names)
		}
	}
	if env := container(t, mustFind(t, m, "Deployment", "dagster-user-code"), "user-code")["env"]; env != nil {
		t.Errorf("user code has env %v; its environment must come from envFrom only", env)
	}
}

// The chart's GRPC_DNS_RESOLVER default yields to the user's env.
func TestGRPCResolverDefaultIsOverridable(t *testing.T) {
	m := render(t, "dagster", values(t, "dagit:\n  env:\n    GRPC_DNS_RESOLVER: ares\n"))
	if got := configMapData(t, m, "dagster-dagit-env")["GRPC_DNS_RESOLVER"]; got != "ares" {
		t.Errorf("dagit-env GRPC_DNS_RESOLVER = %q, want the user's ares", got)
	}
	if got := configMapData(t, m, "dagster-job-runner-env")["GRPC_DNS_RESOLVER"]; got != "native" {
		t.Errorf("job-runner-env GRPC_DNS_RESOLVER = %q, want the default native", got)
	}
}

func TestEnvConfigMaps(t *testing.T) {
	m := render(t, "dagster", values(t, envValues+"\ndagster_home: /home/d\n"))
	got := configMapData(t, m, "dagster-dagit-env")
	want := map[string]string{"DAGSTER_HOME": "/home/d", "DAGIT_A": "1", "NUM": "3", "FLAG": "true",
		"PYTHONPATH": "/opt/dagster/dagster-dev-lib", "GRPC_DNS_RESOLVER": "native"}
	if len(got) != len(want) {
		t.Errorf("dagit-env = %v, want %v (empty values skipped)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("dagit-env[%s] = %q, want %q", k, got[k], v)
		}
	}
	runner := configMapData(t, m, "dagster-job-runner-env")
	if runner["DAGSTER_HOME"] != "/home/d" || runner["RUNNER_A"] != "x" || runner["PYTHONPATH"] != "/opt/dagster/dagster-dev-lib" || runner["GRPC_DNS_RESOLVER"] != "native" || len(runner) != 4 {
		t.Errorf("job-runner-env = %v", runner)
	}
	// A component's own dagster_home wins over the shared one, in the env and in the mounts.
	m = render(t, "dagster", values(t, "job_runner: {dagster_home: /runner/home}"))
	if got := configMapData(t, m, "dagster-job-runner-env")["DAGSTER_HOME"]; got != "/runner/home" {
		t.Errorf("job runner DAGSTER_HOME = %q", got)
	}
	if got := configMapData(t, m, "dagster-dagit-env")["DAGSTER_HOME"]; got != "/opt/dagster/dagster_home" {
		t.Errorf("dagit DAGSTER_HOME = %q", got)
	}
	if got := launcherConfig(t, instanceConfig(t, m, "dagster"))["dagster_home"]; got != "/runner/home" {
		t.Errorf("launcher dagster_home = %v (the job pods' home)", got)
	}
	w := container(t, mustFind(t, m, "Deployment", "dagster-celery-workers"), "celery-worker")
	if !strings.Contains(strings.Join(strList(w["args"]), " "), "-y /runner/home/celery-config.yaml") {
		t.Errorf("worker args = %v", w["args"])
	}
}

func TestInstanceConfig(t *testing.T) {
	m := render(t, "dagster", values(t, envValues+`
postgresql: {postgresqlParams: {sslmode: disable}}
imagePullSecrets: [regcred]
celery: {configSource: {task_default_priority: 7}}
`))
	inst := instanceConfig(t, m, "dagster")
	storages := map[string]string{
		"run_storage":       "dagster_postgres.run_storage/PostgresRunStorage",
		"event_log_storage": "dagster_postgres.event_log/PostgresEventLogStorage",
		"schedule_storage":  "dagster_postgres.schedule_storage/PostgresScheduleStorage",
	}
	for key, class := range storages {
		s := nested(t, inst, key).(map[string]any)
		if got := s["module"].(string) + "/" + s["class"].(string); got != class {
			t.Errorf("%s = %s, want %s", key, got, class)
		}
		db := nested(t, s, "config", "postgres_db").(map[string]any)
		if db["hostname"] != "dagster-postgresql" || db["db_name"] != "dagster" || db["username"] != "dagster" ||
			db["port"] != float64(5432) {
			t.Errorf("%s postgres_db = %v", key, db)
		}
		if pw := nested(t, db, "password", "env"); pw != "DAGSTER_PG_PASSWORD" {
			t.Errorf("%s password = %v, want {env: DAGSTER_PG_PASSWORD}", key, db["password"])
		}
		if db["scheme"] != "postgresql+psycopg2" {
			t.Errorf("%s scheme = %v; dagster-postgres ships psycopg2, name it", key, db["scheme"])
		}
		if nested(t, db, "params", "sslmode") != "disable" {
			t.Errorf("%s params = %v", key, db["params"])
		}
	}
	rl := nested(t, inst, "run_launcher").(map[string]any)
	if rl["module"] != "dagster_dev_launcher" || rl["class"] != "LocationContextCeleryK8sRunLauncher" {
		t.Errorf("run_launcher = %v.%v", rl["module"], rl["class"])
	}
	lc := launcherConfig(t, inst)
	// CeleryK8sRunLauncher.__init__ (dagster-celery-k8s 0.29.27; the subclass inherits it) takes exactly these keyword
	// arguments; the instance passes its config as **kwargs, so any other key (job_image,
	// resources, ...) crashes every process that loads the instance.
	accepted := map[string]bool{}
	for _, k := range strings.Fields(`instance_config_map dagster_home postgres_password_secret
		load_incluster_config kubeconfig_file k8s_api_ssl_ca_cert_file broker backend include config_source
		retries env_config_maps env_secrets volume_mounts volumes service_account_name image_pull_policy
		image_pull_secrets labels fail_pod_on_run_failure job_namespace`) {
		accepted[k] = true
	}
	// The subclass (files/dagster_dev_launcher.py) also takes these two.
	accepted["security_context"] = true
	accepted["resources"] = true
	for k := range lc {
		if !accepted[k] {
			t.Errorf("run launcher config key %q is not accepted by CeleryK8sRunLauncher", k)
		}
	}
	want := map[string]any{
		"instance_config_map":      "dagster-instance",
		"dagster_home":             "/opt/dagster/dagster_home",
		"postgres_password_secret": "dagster-postgresql",
		"job_namespace":            "dagster",
		"service_account_name":     "dagster-run",
		"image_pull_policy":        "IfNotPresent",
		"backend":                  "rpc://",
	}
	for k, v := range want {
		if lc[k] != v {
			t.Errorf("launcher %s = %v, want %v", k, lc[k], v)
		}
	}
	if nested(t, lc, "broker", "env") != "DAGSTER_CELERY_BROKER_URL" {
		t.Errorf("launcher broker = %v", lc["broker"])
	}
	if nested(t, lc, "config_source", "task_default_priority") != float64(7) {
		t.Errorf("launcher config_source = %v", lc["config_source"])
	}
	if got := lc["image_pull_secrets"]; len(got.([]any)) != 1 || nested(t, got.([]any)[0].(map[string]any), "name") != "regcred" {
		t.Errorf("image_pull_secrets = %v", got)
	}
	// The example code reaches every job pod through the launcher's volumes, at the path the code
	// server loads it from (runs and steps re-import the job from that path).
	// (The launcher's module comes first: see TestLauncherLibrary.)
	vols := lc["volumes"].([]any)
	mounts := lc["volume_mounts"].([]any)
	if len(vols) != 5 || len(mounts) != 5 {
		t.Fatalf("launcher volumes %v mounts %v", vols, mounts)
	}
	if nested(t, vols[4].(map[string]any), "configMap", "name") != "dagster-user-code-example" {
		t.Errorf("launcher volume = %v", vols[4])
	}
	mountPath := mounts[4].(map[string]any)["mountPath"].(string)
	if mounts[1].(map[string]any)["name"] != vols[1].(map[string]any)["name"] {
		t.Errorf("launcher mount %v does not name volume %v", mounts[1], vols[1])
	}
	args := strList(container(t, mustFind(t, m, "Deployment", "dagster-user-code"), "user-code")["command"])
	if !strings.Contains(strings.Join(args, " "), "--python-file "+mountPath+"/dagster_dev_example.py") {
		t.Errorf("code server %v does not load the example from %s", args, mountPath)
	}
	if nested(t, inst, "compute_logs", "class") != "LocalComputeLogManager" || nested(t, inst, "telemetry", "enabled") != false {
		t.Errorf("compute_logs/telemetry = %v / %v", inst["compute_logs"], inst["telemetry"])
	}
	// The worker's celery.yaml agrees with the launcher about the broker and backend.
	var celery map[string]any
	if err := yaml.Unmarshal([]byte(configMapData(t, m, "dagster-celery")["celery.yaml"]), &celery); err != nil {
		t.Fatal(err)
	}
	cc := nested(t, celery, "execution", "config").(map[string]any)
	if nested(t, cc, "broker", "env") != "DAGSTER_CELERY_BROKER_URL" || cc["backend"] != "rpc://" ||
		nested(t, cc, "config_source", "task_default_priority") != float64(7) {
		t.Errorf("celery.yaml = %v", cc)
	}
}

func TestWorkers(t *testing.T) {
	m := render(t, "dagster", values(t, "celery: {replicaCount: 3, queues: [dagster, extra], concurrency: 4}"))
	d := mustFind(t, m, "Deployment", "dagster-celery-workers")
	if got := nested(t, d.Object, "spec", "replicas"); got != float64(3) {
		t.Errorf("replicas = %v", got)
	}
	c := container(t, d, "celery-worker")
	// dagster-celery's worker start command, exec'ing celery so the worker is PID 1 and gets SIGTERM.
	cmd := strList(c["command"])
	if len(cmd) != 3 || cmd[0] != "python" || !strings.Contains(cmd[2], "worker_start_command.main(args=sys.argv[1:]") ||
		!strings.Contains(cmd[2], "os.execvpe(args[0], args, env)") {
		t.Errorf("worker command = %q", cmd)
	}
	want := []string{"-A", "dagster_celery_k8s.app", "-y",
		"/opt/dagster/dagster_home/celery-config.yaml", "-q", "dagster", "-q", "extra", "--", "--concurrency", "4"}
	if args := strList(c["args"]); !equalStrings(args, want) {
		t.Errorf("worker args:\n got %v\nwant %v", args, want)
	}
	probe := strings.Join(strList(nested(t, c, "livenessProbe", "exec", "command")), " ")
	if !strings.Contains(probe, "dagster-celery status -A dagster_celery_k8s.app -y /opt/dagster/dagster_home/celery-config.yaml") ||
		!strings.Contains(probe, `grep "${HOSTNAME}:.*OK"`) {
		t.Errorf("liveness probe = %s", probe)
	}
	var inits []string
	for _, ic := range nested(t, podSpec(t, d), "initContainers").([]any) {
		inits = append(inits, ic.(map[string]any)["name"].(string))
	}
	if !equalStrings(inits, []string{"wait-for-postgresql", "wait-for-broker"}) {
		t.Errorf("worker init containers = %v", inits)
	}
	mounts := map[string]string{}
	for _, vm := range c["volumeMounts"].([]any) {
		v := vm.(map[string]any)
		mounts[v["mountPath"].(string)] = v["name"].(string)
	}
	if mounts["/opt/dagster/dagster_home/dagster.yaml"] != "instance" || mounts["/opt/dagster/dagster_home/celery-config.yaml"] != "celery-config" {
		t.Errorf("worker mounts = %v", mounts)
	}
}

func TestDagit(t *testing.T) {
	m := render(t, "dagster", nil)
	d := mustFind(t, m, "Deployment", "dagster-dagit")
	c := container(t, d, "dagit")
	if got := nested(t, c, "readinessProbe", "httpGet", "path"); got != "/server_info" {
		t.Errorf("readiness path = %v", got)
	}
	if !strings.Contains(strings.Join(strList(c["command"]), " "), "dagster-webserver --host 0.0.0.0 --port 3000 --workspace /dagster-workspace/workspace.yaml") {
		t.Errorf("dagit command = %v", c["command"])
	}
	svc := mustFind(t, m, "Service", "dagster-dagit")
	if nested(t, svc.Object, "spec", "type") != "ClusterIP" {
		t.Errorf("default service type = %v", nested(t, svc.Object, "spec", "type"))
	}
	port := nested(t, svc.Object, "spec", "ports").([]any)[0].(map[string]any)
	if port["port"] != float64(80) || port["targetPort"] != "http" || port["nodePort"] != nil {
		t.Errorf("service port = %v", port)
	}
	if !strings.Contains(m.Notes, "kubectl port-forward --namespace dagster service/dagster-dagit 3000:80") {
		t.Errorf("NOTES do not explain the port-forward:\n%s", m.Notes)
	}

	m = render(t, "dagster", values(t, "dagit: {service: {type: NodePort, nodePort: 30080}}"))
	svc = mustFind(t, m, "Service", "dagster-dagit")
	port = nested(t, svc.Object, "spec", "ports").([]any)[0].(map[string]any)
	if nested(t, svc.Object, "spec", "type") != "NodePort" || port["nodePort"] != float64(30080) {
		t.Errorf("NodePort service = %v", svc.Object["spec"])
	}
	if !strings.Contains(m.Notes, "node port 30080") {
		t.Errorf("NOTES do not mention the node port:\n%s", m.Notes)
	}
}

// Each Service and Deployment selects the pods of exactly one component, so the Dagit Service never
// routes to workers, the daemon or the code server.
func TestSelectorsAreDisjoint(t *testing.T) {
	m := render(t, "dagster", nil)
	pods := map[string]labels.Set{}
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		for _, o := range m.OfKind(kind) {
			pods[o.GetName()] = labels.Set(podLabels(t, o))
		}
	}
	// Dagster's own run/step job pods carry these labels.
	for _, comp := range []string{"run_worker", "step_worker"} {
		pods["job pod "+comp] = labels.Set{"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster",
			"app.kubernetes.io/component": comp}
	}
	check := func(what string, selector map[string]string, own string) {
		sel := labels.SelectorFromSet(selector)
		for name, l := range pods {
			if got := sel.Matches(l); got != (name == own) {
				t.Errorf("%s selector %v matches %s: %v", what, selector, name, got)
			}
		}
	}
	services := map[string]string{
		"dagster-dagit": "dagster-dagit", "dagster-user-code": "dagster-user-code",
		"dagster-postgresql": "dagster-postgresql", "dagster-postgresql-headless": "dagster-postgresql",
		"dagster-rabbitmq": "dagster-rabbitmq", "dagster-rabbitmq-headless": "dagster-rabbitmq",
	}
	for svc, owner := range services {
		sel, _, _ := unstructured.NestedStringMap(mustFind(t, m, "Service", svc).Object, "spec", "selector")
		check("Service "+svc, sel, owner)
	}
	for name := range pods {
		for _, kind := range []string{"Deployment", "StatefulSet"} {
			if o := m.Find(kind, name); o != nil {
				sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
				check(kind+" "+name, sel, name)
			}
		}
	}
}

func TestRBAC(t *testing.T) {
	m := render(t, "dagster", nil)
	role := mustFind(t, m, "Role", "dagster-job-runner")
	var got []string
	for _, r := range nested(t, role.Object, "rules").([]any) {
		rule := r.(map[string]any)
		for _, g := range strList(rule["apiGroups"]) {
			for _, res := range strList(rule["resources"]) {
				verbs := strList(rule["verbs"])
				sort.Strings(verbs)
				got = append(got, g+"/"+res+":"+strings.Join(verbs, ","))
			}
		}
	}
	sort.Strings(got)
	want := []string{"/events:list", "/pods/log:get", "/pods:delete,get,list", "batch/jobs/status:get", "batch/jobs:create,delete,get,list"}
	if !equalStrings(got, want) {
		t.Errorf("role rules:\n got %v\nwant %v", got, want)
	}
	for _, name := range []string{"dagster-dagit", "dagster-daemon", "dagster-celery-workers", "dagster-user-code"} {
		if sa := podSpec(t, mustFind(t, m, "Deployment", name))["serviceAccountName"]; sa != "dagster" {
			t.Errorf("%s serviceAccountName = %v", name, sa)
		}
	}
	m = render(t, "dagster", values(t, "serviceAccount: {create: false, name: dagit-admin}"))
	if sa := podSpec(t, mustFind(t, m, "Deployment", "dagster-dagit"))["serviceAccountName"]; sa != "dagit-admin" {
		t.Errorf("serviceAccountName = %v", sa)
	}
	// Run and step pods keep their own identity.
	if lc := launcherConfig(t, instanceConfig(t, m, "dagster")); lc["service_account_name"] != "dagster-run" {
		t.Errorf("job pods' service account = %v", lc["service_account_name"])
	}
	subj := nested(t, mustFind(t, m, "RoleBinding", "dagster-job-runner").Object, "subjects").([]any)[0].(map[string]any)
	if subj["name"] != "dagit-admin" {
		t.Errorf("RoleBinding subject = %v", subj)
	}
	if _, err := Render("dagster", "dagster", values(t, "serviceAccount: {create: false}")); err == nil ||
		!strings.Contains(err.Error(), "serviceAccount.name") {
		t.Errorf("create=false without a name: err = %v", err)
	}
}

// checksums returns every pod template's checksum annotations, by workload.
func checksums(t *testing.T, m Manifests) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		for _, o := range m.OfKind(kind) {
			sums := map[string]string{}
			for k, v := range podAnnotations(t, o) {
				if strings.HasPrefix(k, "checksum/") {
					sums[k] = v
				}
			}
			out[o.GetName()] = sums
		}
	}
	return out
}

func TestChecksumAnnotations(t *testing.T) {
	base := checksums(t, render(t, "dagster", values(t, envValues)))
	wantKeys := map[string][]string{
		"dagster-dagit":          {"checksum/dagit-env", "checksum/dagster-dev-lib", "checksum/instance", "checksum/workspace"},
		"dagster-daemon":         {"checksum/dagit-env", "checksum/dagster-dev-lib", "checksum/instance", "checksum/workspace"},
		"dagster-celery-workers": {"checksum/celery", "checksum/dagster-dev-lib", "checksum/instance", "checksum/job-runner-env"},
		"dagster-user-code":      {"checksum/dagster-dev-lib", "checksum/example", "checksum/job-runner-env"},
		"dagster-postgresql":     nil,
		"dagster-rabbitmq":       nil,
	}
	for name, keys := range wantKeys {
		var got []string
		for k := range base[name] {
			got = append(got, k)
		}
		sort.Strings(got)
		if !equalStrings(got, keys) {
			t.Errorf("%s checksums = %v, want %v", name, got, keys)
		}
	}
	// A second render is identical: generated passwords are not part of any checksum, so an
	// upgrade that changes nothing rolls nothing.
	if again := checksums(t, render(t, "dagster", values(t, envValues))); !sameChecksums(base, again) {
		t.Errorf("checksums differ between identical renders:\n%v\n%v", base, again)
	}
	cases := []struct {
		name    string
		extra   string
		changed map[string][]string // workload -> checksum keys that must change; all others must not
	}{
		{"unrelated value", "dagit: {replicaCount: 2}\ncelery: {replicaCount: 2}", nil},
		{"dagit env", "dagit: {env: {DAGIT_A: changed}}", map[string][]string{
			"dagster-dagit": {"checksum/dagit-env"}, "dagster-daemon": {"checksum/dagit-env"}}},
		{"job runner env", "job_runner: {env: {RUNNER_A: changed}}", map[string][]string{
			"dagster-celery-workers": {"checksum/job-runner-env"}, "dagster-user-code": {"checksum/job-runner-env"}}},
		// The launcher config is part of dagster.yaml: everything that loads the instance rolls.
		{"job runner secrets", "job_runner: {env_secrets: [another]}", map[string][]string{
			"dagster-dagit": {"checksum/instance"}, "dagster-daemon": {"checksum/instance"},
			"dagster-celery-workers": {"checksum/instance"}}},
		{"celery settings", "celery: {configSource: {worker_max_tasks_per_child: 5}}", map[string][]string{
			"dagster-dagit": {"checksum/instance"}, "dagster-daemon": {"checksum/instance"},
			"dagster-celery-workers": {"checksum/instance", "checksum/celery"}}},
		{"code location name", "userCode: {locationName: other}", map[string][]string{
			"dagster-dagit": {"checksum/workspace"}, "dagster-daemon": {"checksum/workspace"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := mergeValues(values(t, envValues), values(t, tc.extra))
			got := checksums(t, render(t, "dagster", vals))
			for workload, sums := range base {
				mustChange := map[string]bool{}
				for _, k := range tc.changed[workload] {
					mustChange[k] = true
				}
				for k, v := range sums {
					if changed := got[workload][k] != v; changed != mustChange[k] {
						t.Errorf("%s %s changed = %v, want %v", workload, k, changed, mustChange[k])
					}
				}
			}
		})
	}
}

func sameChecksums(a, b map[string]map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for w, sums := range a {
		if len(sums) != len(b[w]) {
			return false
		}
		for k, v := range sums {
			if b[w][k] != v {
				return false
			}
		}
	}
	return true
}

func secretData(t *testing.T, m Manifests, name string) map[string]string {
	t.Helper()
	raw, _, _ := unstructured.NestedStringMap(mustFind(t, m, "Secret", name).Object, "data")
	out := map[string]string{}
	for k, v := range raw {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("Secret %s key %s is not base64: %v", name, k, err)
		}
		out[k] = string(b)
	}
	return out
}

func TestGeneratedCredentials(t *testing.T) {
	m := render(t, "dagster", nil)
	pg := secretData(t, m, "dagster-postgresql")["postgresql-password"]
	mq := secretData(t, m, "dagster-rabbitmq")
	url := secretData(t, m, "dagster-rabbitmq-broker")["DAGSTER_CELERY_BROKER_URL"]
	if len(pg) < 24 || pg == "test" || len(mq["rabbitmq-password"]) < 24 || mq["rabbitmq-password"] == pg {
		t.Errorf("weak or shared generated passwords: %q %q", pg, mq["rabbitmq-password"])
	}
	// The broker URL carries the very password the server is created with.
	if want := "pyamqp://dagster:" + mq["rabbitmq-password"] + "@dagster-rabbitmq:5672//"; url != want {
		t.Errorf("broker URL = %q, want %q", url, want)
	}
	// The data volume only opens with the Postgres password, so its Secret outlives an uninstall.
	if ann := mustFind(t, m, "Secret", "dagster-postgresql").GetAnnotations(); ann["helm.sh/resource-policy"] != "keep" {
		t.Errorf("postgres Secret annotations = %v", ann)
	}
	pgSts := mustFind(t, m, "StatefulSet", "dagster-postgresql")
	env := map[string]any{}
	for _, e := range container(t, pgSts, "postgresql")["env"].([]any) {
		env[e.(map[string]any)["name"].(string)] = e
	}
	if nested(t, env["POSTGRES_PASSWORD"].(map[string]any), "valueFrom", "secretKeyRef", "name") != "dagster-postgresql" {
		t.Errorf("POSTGRES_PASSWORD = %v", env["POSTGRES_PASSWORD"])
	}
	if pgdata := env["PGDATA"].(map[string]any)["value"]; pgdata != "/var/lib/postgresql/data/pgdata" {
		t.Errorf("PGDATA = %v, want a subdirectory of the mount", pgdata)
	}
	claims := nested(t, pgSts.Object, "spec", "volumeClaimTemplates").([]any)
	if len(claims) != 1 || nested(t, claims[0].(map[string]any), "spec", "resources", "requests", "storage") != "8Gi" {
		t.Errorf("postgres volume claims = %v", claims)
	}

	m = render(t, "dagster", values(t, "postgresql: {postgresqlPassword: pg-pw}\nrabbitmq: {rabbitmq: {password: 'mq:pw@x'}}"))
	if got := secretData(t, m, "dagster-postgresql")["postgresql-password"]; got != "pg-pw" {
		t.Errorf("explicit postgres password = %q", got)
	}
	if got := secretData(t, m, "dagster-rabbitmq-broker")["DAGSTER_CELERY_BROKER_URL"]; got != "pyamqp://dagster:mq%3Apw%40x@dagster-rabbitmq:5672//" {
		t.Errorf("broker URL with an explicit password = %q (must be URL-escaped)", got)
	}
}

// With existing Secrets for the deployed services, every consumer reads that Secret.
func TestExistingCredentialSecrets(t *testing.T) {
	m := render(t, "dagster", values(t, "postgresql: {existingSecret: pg-creds}\nrabbitmq: {existingSecret: mq-creds}"))
	secretRefs := func(c map[string]any) map[string]string {
		out := map[string]string{}
		for _, e := range c["env"].([]any) {
			ev := e.(map[string]any)
			if name, ok, _ := unstructured.NestedString(ev, "valueFrom", "secretKeyRef", "name"); ok {
				out[ev["name"].(string)] = name
			}
		}
		return out
	}
	if got := secretRefs(container(t, mustFind(t, m, "StatefulSet", "dagster-postgresql"), "postgresql")); got["POSTGRES_PASSWORD"] != "pg-creds" {
		t.Errorf("postgres reads its password from %v", got)
	}
	if got := secretRefs(container(t, mustFind(t, m, "StatefulSet", "dagster-rabbitmq"), "rabbitmq")); got["RABBITMQ_DEFAULT_PASS"] != "mq-creds" {
		t.Errorf("rabbitmq reads its password from %v", got)
	}
	for _, w := range []struct{ name, container string }{{"dagster-dagit", "dagit"}, {"dagster-celery-workers", "celery-worker"}} {
		got := secretRefs(container(t, mustFind(t, m, "Deployment", w.name), w.container))
		if got["DAGSTER_PG_PASSWORD"] != "pg-creds" || got["DAGSTER_CELERY_BROKER_URL"] != "mq-creds" {
			t.Errorf("%s secret refs = %v", w.name, got)
		}
	}
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if lc["postgres_password_secret"] != "pg-creds" || strList(lc["env_secrets"])[0] != "mq-creds" {
		t.Errorf("launcher secrets = %v / %v", lc["postgres_password_secret"], lc["env_secrets"])
	}
}

func TestExternalDatabase(t *testing.T) {
	for _, tc := range []struct {
		name, values, secret string
		chartSecret          bool
	}{
		{"existing secret", "postgresql: {enabled: false, postgresqlHost: db.example, existingSecret: pg-creds, postgresqlUsername: u, postgresqlDatabase: d, service: {port: 6543}}", "pg-creds", false},
		{"inline password", "postgresql: {enabled: false, postgresqlHost: db.example, postgresqlPassword: s3cret, postgresqlUsername: u, postgresqlDatabase: d, service: {port: 6543}}", "dagster-postgresql", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, "dagster", values(t, tc.values))
			for path := range m.Files {
				if strings.HasPrefix(path, "charts/postgresql/") {
					t.Errorf("disabled subchart rendered %s", path)
				}
			}
			for _, k := range objectKeys(m) {
				if strings.HasPrefix(k, "StatefulSet/dagster-postgresql") || strings.HasPrefix(k, "Service/dagster-postgresql") {
					t.Errorf("%s rendered with postgresql.enabled=false", k)
				}
			}
			if got := m.Find("Secret", "dagster-postgresql") != nil; got != tc.chartSecret {
				t.Errorf("chart Secret dagster-postgresql rendered = %v, want %v", got, tc.chartSecret)
			}
			if tc.chartSecret {
				if got := secretData(t, m, "dagster-postgresql")["postgresql-password"]; got != "s3cret" {
					t.Errorf("password = %q", got)
				}
			}
			db := nested(t, instanceConfig(t, m, "dagster"), "run_storage", "config", "postgres_db").(map[string]any)
			if db["hostname"] != "db.example" || db["port"] != float64(6543) || db["username"] != "u" || db["db_name"] != "d" {
				t.Errorf("postgres_db = %v", db)
			}
			if got := launcherConfig(t, instanceConfig(t, m, "dagster"))["postgres_password_secret"]; got != tc.secret {
				t.Errorf("postgres_password_secret = %v, want %s", got, tc.secret)
			}
			dagit := mustFind(t, m, "Deployment", "dagster-dagit")
			pw := container(t, dagit, "dagit")["env"].([]any)[0].(map[string]any)
			if nested(t, pw, "valueFrom", "secretKeyRef", "name") != tc.secret {
				t.Errorf("DAGSTER_PG_PASSWORD = %v", pw)
			}
			wait := container(t, dagit, "wait-for-postgresql")
			env := map[string]string{}
			for _, e := range wait["env"].([]any) {
				env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"].(string)
			}
			if env["PGHOST"] != "db.example" || env["PGPORT"] != "6543" {
				t.Errorf("init container waits for %v", env)
			}
		})
	}
	_, err := Render("dagster", "dagster", values(t, "postgresql: {enabled: false, existingSecret: x}"))
	if err == nil || !strings.Contains(err.Error(), "postgresql.postgresqlHost") {
		t.Errorf("external database without a host: err = %v", err)
	}
	_, err = Render("dagster", "dagster", values(t, "postgresql: {enabled: false, postgresqlHost: db}"))
	if err == nil || !strings.Contains(err.Error(), "postgresql.existingSecret") {
		t.Errorf("external database without a password: err = %v", err)
	}
}

func TestExternalBroker(t *testing.T) {
	for _, tc := range []struct {
		name, values, secret string
		chartSecret          bool
	}{
		{"url", "rabbitmq: {enabled: false, brokerUrl: 'pyamqp://u:p@mq.example:5672//'}", "dagster-celery-broker", true},
		{"existing secret", "rabbitmq: {enabled: false, brokerUrlSecret: my-broker}", "my-broker", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, "dagster", values(t, tc.values))
			for path := range m.Files {
				if strings.HasPrefix(path, "charts/rabbitmq/") {
					t.Errorf("disabled subchart rendered %s", path)
				}
			}
			for _, k := range objectKeys(m) {
				if strings.Contains(k, "rabbitmq") {
					t.Errorf("%s rendered with rabbitmq.enabled=false", k)
				}
			}
			if got := m.Find("Secret", "dagster-celery-broker") != nil; got != tc.chartSecret {
				t.Errorf("chart broker Secret rendered = %v, want %v", got, tc.chartSecret)
			}
			if tc.chartSecret {
				if got := secretData(t, m, tc.secret)["DAGSTER_CELERY_BROKER_URL"]; got != "pyamqp://u:p@mq.example:5672//" {
					t.Errorf("broker URL = %q", got)
				}
			}
			if got := strList(launcherConfig(t, instanceConfig(t, m, "dagster"))["env_secrets"]); !equalStrings(got, []string{tc.secret}) {
				t.Errorf("launcher env_secrets = %v", got)
			}
			for _, c := range []string{"celery-worker", "wait-for-broker"} {
				found := false
				for _, e := range container(t, mustFind(t, m, "Deployment", "dagster-celery-workers"), c)["env"].([]any) {
					ev := e.(map[string]any)
					if ev["name"] == "DAGSTER_CELERY_BROKER_URL" {
						found = nested(t, ev, "valueFrom", "secretKeyRef", "name") == tc.secret
					}
				}
				if !found {
					t.Errorf("%s does not read the broker URL from %s", c, tc.secret)
				}
			}
		})
	}
	_, err := Render("dagster", "dagster", values(t, "rabbitmq: {enabled: false}"))
	if err == nil || !strings.Contains(err.Error(), "rabbitmq.brokerUrl") {
		t.Errorf("external broker without a URL: err = %v", err)
	}
}

// Every pod runs on one of three images, so nothing else has to be pulled or side-loaded.
func TestImages(t *testing.T) {
	images := func(m Manifests) (map[string]bool, map[string]bool) {
		imgs, policies := map[string]bool{}, map[string]bool{}
		var workloads []*unstructured.Unstructured
		for _, kind := range []string{"Deployment", "StatefulSet"} {
			workloads = append(workloads, m.OfKind(kind)...)
		}
		workloads = append(workloads, m.Hooks...)
		for _, o := range workloads {
			for _, c := range containers(t, o, true) {
				imgs[c["image"].(string)] = true
				policies[c["imagePullPolicy"].(string)] = true
			}
		}
		return imgs, policies
	}
	imgs, policies := images(render(t, "dagster", nil))
	want := []string{"dagster/dagster-celery-k8s:1.13.27", "postgres:15.14", "rabbitmq:3.13.7-management"}
	var got []string
	for i := range imgs {
		got = append(got, i)
		if strings.HasSuffix(i, ":latest") {
			t.Errorf("image %s uses latest", i)
		}
	}
	sort.Strings(got)
	if !equalStrings(got, want) {
		t.Errorf("images = %v, want %v", got, want)
	}
	if len(policies) != 1 || !policies["IfNotPresent"] {
		t.Errorf("pull policies = %v", policies)
	}

	local := values(t, `
image: {repository: dagster-dev.local/dagster, tag: "1.13.27"}
imagePullPolicy: Never
postgresql: {image: {repository: dagster-dev.local/postgres, tag: 15, pullPolicy: Never}}
rabbitmq: {image: {repository: dagster-dev.local/rabbitmq, tag: "3", pullPolicy: Never}}
`)
	m := render(t, "dagster", local)
	imgs, policies = images(m)
	got = nil
	for i := range imgs {
		got = append(got, i)
	}
	sort.Strings(got)
	if want := []string{"dagster-dev.local/dagster:1.13.27", "dagster-dev.local/postgres:15", "dagster-dev.local/rabbitmq:3"}; !equalStrings(got, want) {
		t.Errorf("local images = %v, want %v", got, want)
	}
	if len(policies) != 1 || !policies["Never"] {
		t.Errorf("pull policies = %v", policies)
	}
	if got := launcherConfig(t, instanceConfig(t, m, "dagster"))["image_pull_policy"]; got != "Never" {
		t.Errorf("job pods' pull policy = %v", got)
	}

	// Component images fall back field by field to the shared image.
	m = render(t, "dagster", values(t, `
dagit: {image: {repository: my/dagit}}
job_runner: {image: {tag: "9.9"}}
userCode: {image: {repository: my/code, tag: v1}}
`))
	for name, want := range map[string]string{
		"dagster-dagit": "my/dagit:1.13.27", "dagster-daemon": "my/dagit:1.13.27",
		"dagster-celery-workers": "dagster/dagster-celery-k8s:9.9", "dagster-user-code": "my/code:v1",
	} {
		if got := containers(t, mustFind(t, m, "Deployment", name), false)[0]["image"]; got != want {
			t.Errorf("%s image = %v, want %s", name, got, want)
		}
	}
	// Runs and steps are launched in the code location's image.
	cmd := strings.Join(strList(container(t, mustFind(t, m, "Deployment", "dagster-user-code"), "user-code")["command"]), " ")
	if !strings.Contains(cmd, "--container-image my/code:v1") {
		t.Errorf("code server command = %s", cmd)
	}
}

func TestUserCode(t *testing.T) {
	m := render(t, "dagster", nil)
	d := mustFind(t, m, "Deployment", "dagster-user-code")
	c := container(t, d, "user-code")
	cmd := strList(c["command"])
	want := []string{"dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "3030", "--location-name", "user-code",
		"--container-image", "dagster/dagster-celery-k8s:1.13.27",
		"--python-file", "/opt/dagster/dagster-dev-example/dagster_dev_example.py",
		"--working-directory", "/opt/dagster/dagster-dev-example"}
	if !equalStrings(cmd, want) {
		t.Errorf("code server command:\n got %v\nwant %v", cmd, want)
	}
	if got := nested(t, c, "readinessProbe", "grpc", "service"); got != "DagsterApi" {
		t.Errorf("code server readiness = %v", c["readinessProbe"])
	}
	ws := configMapData(t, m, "dagster-workspace")["workspace.yaml"]
	var workspace map[string]any
	if err := yaml.Unmarshal([]byte(ws), &workspace); err != nil {
		t.Fatal(err)
	}
	grpc := nested(t, workspace, "load_from").([]any)[0].(map[string]any)["grpc_server"].(map[string]any)
	if grpc["host"] != "dagster-user-code" || grpc["port"] != float64(3030) || grpc["location_name"] != "user-code" {
		t.Errorf("workspace entry = %v", grpc)
	}
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		if !strings.Contains(strings.Join(strList(containers(t, mustFind(t, m, "Deployment", name), false)[0]["command"]), " "),
			"--workspace /dagster-workspace/workspace.yaml") {
			t.Errorf("%s does not load the workspace", name)
		}
	}

	m = render(t, "dagster", values(t, `userCode: {example: {enabled: false}, image: {repository: me/code, tag: "2"},
  moduleName: my_pkg.defs, workingDirectory: /app, attribute: defs, locationName: mine}`))
	c = container(t, mustFind(t, m, "Deployment", "dagster-user-code"), "user-code")
	cmd = strList(c["command"])
	want = []string{"dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "3030", "--location-name", "mine",
		"--container-image", "me/code:2", "--module-name", "my_pkg.defs", "--working-directory", "/app", "--attribute", "defs"}
	if !equalStrings(cmd, want) {
		t.Errorf("own code command:\n got %v\nwant %v", cmd, want)
	}
	if got := volumeNames(c["volumeMounts"]); !equalStrings(got, []string{"dagster-home", "tmp", "dagster-dev-lib"}) {
		t.Errorf("own code mounts %v; want no example", got)
	}
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got := volumeNames(lc["volumes"]); !equalStrings(got, []string{"dagster-dev-lib", "dagster-home", "tmp", "compute-logs"}) {
		t.Errorf("launcher volumes = %v; want no example", got)
	}
	if got := volumeNames(lc["volume_mounts"]); !equalStrings(got, []string{"dagster-dev-lib", "dagster-home", "tmp", "compute-logs"}) {
		t.Errorf("launcher volume_mounts = %v; want no example", got)
	}

	for _, bad := range []struct{ values, want string }{
		{"userCode: {example: {enabled: false}, pythonFile: a.py, moduleName: a}", "only one of"},
		{"userCode: {example: {enabled: true}, pythonFile: a.py}", "userCode.example.enabled=false"},
	} {
		if _, err := Render("dagster", "dagster", values(t, bad.values)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want it to mention %q", bad.values, err, bad.want)
		}
	}
}

func TestExampleCode(t *testing.T) {
	m := render(t, "dagster", nil)
	src := configMapData(t, m, "dagster-user-code-example")["dagster_dev_example.py"]
	for _, want := range []string{"def dagster_dev_probe", "executor_def=EXECUTOR", "else celery_k8s_job_executor", `"DAGSTER_DEV_RUN_LAUNCHER") == "K8sRunLauncher"`,
		`f"DAGSTER_DEV_PROBE {key}={value}"`, `"<unset>"`, `"keys"`, "Definitions(jobs=[dagster_dev_probe])"} {
		if !strings.Contains(src, want) {
			t.Errorf("example code lacks %q", want)
		}
	}
	// The ConfigMap must hold the file byte for byte.
	orig, err := os.ReadFile(filepath.Join("dagster", "files", "dagster_dev_example.py"))
	if err != nil {
		t.Fatal(err)
	}
	if src != string(orig) {
		t.Errorf("example ConfigMap differs from files/dagster_dev_example.py")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: syntax not checked")
	}
	check := `import ast, sys; ast.parse(open(sys.argv[1]).read())`
	if out, err := exec.Command(python, "-c", check, filepath.Join("dagster", "files", "dagster_dev_example.py")).CombinedOutput(); err != nil {
		t.Errorf("example code does not parse: %v\n%s", err, out)
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	cases := []struct{ values, key string }{
		{"dagit: {service: {type: LoadBalancerish}}", "dagit.service.type"},
		{"dagit: {service: {port: 70000}}", "dagit.service.port"},
		{"dagit: {service: {nodePort: abc}}", "dagit.service.nodePort"},
		{"dagit: {env_secrets: [Not_A_Name]}", "dagit.env_secrets[0]"},
		{"job_runner: {env_config_maps: notalist}", "job_runner.env_config_maps"},
		{"dagit: {env: {'bad key': x}}", "dagit.env"},
		{"dagit: {env: {NESTED: {a: b}}}", "dagit.env.NESTED"},
		{"imagePullPolicy: Sometimes", "imagePullPolicy"},
		{"celery: {queues: [a, b, c, d, e]}", "celery.queues"},
		{"celery: {enabled: false}", "celery.enabled"},
		{"celery: {replicaCount: -1}", "celery.replicaCount"},
		{"postgresql: {image: {tag: ''}}", "postgresql.image.tag"},
		{"postgresql: {persistence: {size: lots}}", "postgresql.persistence.size"},
		{"postgresql: {postgresqlScheme: 'mysql'}", "postgresql.postgresqlScheme"},
		{"rabbitmq: {enabled: maybe}", "rabbitmq.enabled"},
		{"userCode: {port: 0}", "userCode.port"},
		{"dagster_home: relative/path", "dagster_home"},
		{"daemon: {enabeld: true}", "daemon"},
		{"unknownTopLevel: 1", "unknownTopLevel"},
	}
	for _, tc := range cases {
		_, err := Render("dagster", "dagster", values(t, tc.values))
		if err == nil {
			t.Errorf("%s: accepted", tc.values)
			continue
		}
		var ve *ValuesError
		if !errors.As(err, &ve) {
			t.Errorf("%s: not a ValuesError: %v", tc.values, err)
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error does not name %s:\n%v", tc.values, tc.key, err)
		}
	}
}

func TestValidReleaseNameRequired(t *testing.T) {
	if _, err := Render("Bad_Name", "dagster", nil); err == nil {
		t.Error("invalid release name accepted")
	}
}

func TestDottedKey(t *testing.T) {
	for ptr, want := range map[string]string{
		"":                      "(top level)",
		"/dagit/service/type":   "dagit.service.type",
		"/dagit/env_secrets/0":  "dagit.env_secrets[0]",
		"/nodeSelector/a~1b~0c": "nodeSelector.a/b~c",
	} {
		if got := dottedKey(ptr); got != want {
			t.Errorf("dottedKey(%q) = %q, want %q", ptr, got, want)
		}
	}
}

// Dagit and the daemon start only once the code server answers: Dagster's
// webserver does not retry a location that stayed unreachable past its
// reconnect window, so a simultaneous roll would leave it errored.
func TestDagitAndDaemonWaitForTheCodeServer(t *testing.T) {
	m := render(t, "dg", map[string]any{"userCode": map[string]any{"port": 4040}})
	for _, name := range []string{"dg-dagit", "dg-daemon"} {
		d := mustFind(t, m, "Deployment", name)
		var inits []string
		var wait map[string]any
		for _, ic := range nested(t, podSpec(t, d), "initContainers").([]any) {
			c := ic.(map[string]any)
			inits = append(inits, c["name"].(string))
			if c["name"] == "wait-for-user-code" {
				wait = c
			}
		}
		if !equalStrings(inits, []string{"wait-for-postgresql", "wait-for-user-code"}) {
			t.Errorf("%s init containers = %v", name, inits)
			continue
		}
		env := map[string]string{}
		for _, e := range wait["env"].([]any) {
			kv := e.(map[string]any)
			env[kv["name"].(string)] = kv["value"].(string)
		}
		if env["CODE_SERVER_HOST"] != "dg-user-code" || env["CODE_SERVER_PORT"] != "4040" {
			t.Errorf("%s waits for %v", name, env)
		}
		// Dagster's own health check, without importing Dagster.
		script := strings.Join(strList(wait["command"]), " ")
		if !strings.Contains(script, `HealthCheckRequest(service="DagsterApi")`) || strings.Contains(script, "import dagster") {
			t.Errorf("%s wait command = %s", name, script)
		}
		if env["GRPC_DNS_RESOLVER"] != "native" {
			t.Errorf("%s wait env %v: want gRPC's system resolver", name, env)
		}
	}
	// The service name the init container polls must be the code server's.
	mustFind(t, m, "Service", "dg-user-code")
}
