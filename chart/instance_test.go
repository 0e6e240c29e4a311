package chart

import (
	"fmt"
	"strings"
	"testing"
)

// Run monitoring and run retries are on by default (with the daemon), off without it; tag
// concurrency limits reach the QueuedRunCoordinator.
func TestInstanceDaemonFeatures(t *testing.T) {
	inst := instanceConfig(t, render(t, "dagster", nil), "dagster")
	mon := nested(t, inst, "run_monitoring").(map[string]any)
	if mon["enabled"] != true || fmt.Sprint(mon["start_timeout_seconds"]) != "300" || fmt.Sprint(mon["poll_interval_seconds"]) != "120" ||
		fmt.Sprint(mon["max_resume_run_attempts"]) != "0" {
		t.Errorf("run_monitoring = %v", mon)
	}
	if r := nested(t, inst, "run_retries").(map[string]any); r["enabled"] != true || fmt.Sprint(r["max_retries"]) != "0" {
		t.Errorf("run_retries = %v", r)
	}
	if _, ok := nested(t, inst, "run_coordinator", "config").(map[string]any)["tag_concurrency_limits"]; ok {
		t.Errorf("tag_concurrency_limits set by default")
	}

	inst = instanceConfig(t, render(t, "dagster", values(t, `runCoordinator:
  tagConcurrencyLimits:
    - {key: team, value: data, limit: 1}
    - {key: database, value: {applyLimitPerUniqueValue: true}, limit: 2}
runMonitoring: {maxRuntimeSeconds: 3600}
runRetries: {maxRetries: 2, retryOnAssetOrOpFailure: false}
`)), "dagster")
	limits := nested(t, inst, "run_coordinator", "config", "tag_concurrency_limits").([]any)
	if len(limits) != 2 || nested(t, limits[1].(map[string]any), "value", "applyLimitPerUniqueValue") != true {
		t.Errorf("tag_concurrency_limits = %v", limits)
	}
	if got := fmt.Sprint(nested(t, inst, "run_monitoring", "max_runtime_seconds")); got != "3600" {
		t.Errorf("max_runtime_seconds = %s", got)
	}
	if r := nested(t, inst, "run_retries").(map[string]any); fmt.Sprint(r["max_retries"]) != "2" || r["retry_on_asset_or_op_failure"] != false {
		t.Errorf("run_retries = %v", r)
	}

	// Both are daemon features: without the daemon they are not configured.
	inst = instanceConfig(t, render(t, "dagster", values(t, "daemon: {enabled: false}\n")), "dagster")
	for _, k := range []string{"run_monitoring", "run_retries"} {
		if _, ok := inst[k]; ok {
			t.Errorf("%s set without the daemon", k)
		}
	}
	// A limit without a key is rejected by the schema.
	if _, err := Render("dagster", "dagster", values(t, "runCoordinator: {tagConcurrencyLimits: [{limit: 1}]}\n")); err == nil {
		t.Error("a tag concurrency limit without a key rendered")
	}
}

// Compute logs: by default a volume run/step pods write and Dagit reads at the same path; none and
// custom switch the manager (and drop the volume).
func TestComputeLogs(t *testing.T) {
	m := render(t, "dagster", nil)
	inst := instanceConfig(t, m, "dagster")
	dir := nested(t, inst, "compute_logs", "config", "base_dir")
	pvc := mustFind(t, m, "PersistentVolumeClaim", "dagster-compute-logs")
	if got := fmt.Sprint(nested(t, pvc.Object, "spec", "accessModes")); got != "[ReadWriteOnce]" {
		t.Errorf("accessModes = %s", got)
	}
	dagit := container(t, mustFind(t, m, "Deployment", "dagster-dagit"), "dagit")
	if mt := findMount(dagit, "compute-logs"); mt == nil || mt["mountPath"] != dir || mt["readOnly"] == true {
		t.Errorf("Dagit's compute-logs mount = %v, want %v (writable: it creates a run's directory)", mt, dir)
	}
	if v := findVolume(podSpec(t, mustFind(t, m, "Deployment", "dagster-dagit")), "compute-logs"); v == nil ||
		nested(t, v, "persistentVolumeClaim", "claimName") != "dagster-compute-logs" {
		t.Errorf("Dagit's compute-logs volume = %v", v)
	}
	lc := launcherConfig(t, inst)
	found := false
	for _, mt := range lc["volume_mounts"].([]any) {
		if mt.(map[string]any)["name"] == "compute-logs" && mt.(map[string]any)["mountPath"] == dir {
			found = true
		}
	}
	if !found {
		t.Errorf("run/step pods do not mount the compute logs at %v: %v", dir, lc["volume_mounts"])
	}

	m = render(t, "dagster", values(t, "computeLogs: {type: none}\n"))
	if nested(t, instanceConfig(t, m, "dagster"), "compute_logs", "class") != "NoOpComputeLogManager" || m.Find("PersistentVolumeClaim", "dagster-compute-logs") != nil {
		t.Errorf("type none: %v", instanceConfig(t, m, "dagster")["compute_logs"])
	}
	m = render(t, "dagster", values(t, "computeLogs: {type: custom, custom: {module: dagster_aws.s3.compute_log_manager, class: S3ComputeLogManager, config: {bucket: logs}}}\n"))
	cl := nested(t, instanceConfig(t, m, "dagster"), "compute_logs").(map[string]any)
	if cl["class"] != "S3ComputeLogManager" || nested(t, cl, "config", "bucket") != "logs" {
		t.Errorf("type custom: %v", cl)
	}
	if _, err := Render("dagster", "dagster", values(t, "computeLogs: {type: custom}\n")); err == nil || !strings.Contains(err.Error(), "computeLogs.custom.module") {
		t.Errorf("custom without a module: %v", err)
	}
}

// The migrate hook: never on install; on an upgrade that changes the Dagster image (here `lookup`
// finds no marker, as on the first upgrade after the hook was added), a pre-upgrade Job running
// `dagster instance migrate` with a storage-only dagster.yaml and no API token, hardened.
func TestMigrateHook(t *testing.T) {
	install := render(t, "dagster", nil)
	for _, h := range install.Hooks {
		if h.GetKind() == "Job" {
			t.Errorf("install renders hook Job %s", h.GetName())
		}
	}
	if got := configMapData(t, install, "dagster-instance-migrated")["image"]; got != "dagster/dagster-celery-k8s:1.13.27" {
		t.Errorf("marker image = %q", got)
	}
	up, err := renderRelease("dagster", "dagster", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var job, cm map[string]any
	for _, h := range up.Hooks {
		switch {
		case h.GetKind() == "Job" && h.GetName() == "dagster-instance-migrate":
			job = h.Object
		case h.GetKind() == "ConfigMap" && h.GetName() == "dagster-instance-migrate":
			cm = h.Object
		}
	}
	if job == nil || cm == nil {
		t.Fatalf("upgrade hooks: %v", up.Hooks)
	}
	for _, o := range []map[string]any{job, cm} {
		if got := nested(t, o, "metadata", "annotations", "helm.sh/hook"); got != "pre-upgrade" {
			t.Errorf("hook = %v", got)
		}
	}
	spec := nested(t, job, "spec", "template", "spec").(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	if got := strings.Join(strList(c["command"]), " "); got != "dagster instance migrate" {
		t.Errorf("command = %s", got)
	}
	if spec["automountServiceAccountToken"] != false {
		t.Errorf("the migrate pod mounts an API token")
	}
	inst := nested(t, cm, "data", "dagster.yaml").(string)
	for _, want := range []string{"PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage", "DAGSTER_PG_PASSWORD"} {
		if !strings.Contains(inst, want) {
			t.Errorf("migrate dagster.yaml lacks %s:\n%s", want, inst)
		}
	}
	if strings.Contains(inst, "run_launcher") {
		t.Errorf("migrate dagster.yaml has a run launcher (needs a token and the module):\n%s", inst)
	}
	checkHardened(t, up)
	// Off: neither hook nor marker.
	off, err := renderRelease("dagster", "dagster", values(t, "migrate: {enabled: false}\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(off.Hooks) != 1 || off.Find("ConfigMap", "dagster-instance-migrated") != nil {
		t.Errorf("migrate off: hooks %d, marker %v", len(off.Hooks), off.Find("ConfigMap", "dagster-instance-migrated"))
	}
}
