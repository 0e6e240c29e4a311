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
