package chart

import (
	"fmt"
	"strings"
	"testing"
)

const k8sLauncher = "runLauncher: {type: K8sRunLauncher}\nrabbitmq: {enabled: false}\n"

// runLauncher.type=K8sRunLauncher: no Celery and no broker; runs through dagster-dev's
// StepIdentityK8sRunLauncher with the run pod allowed to create its step Jobs and step pods under a
// ServiceAccount bound to nothing.
func TestK8sRunLauncher(t *testing.T) {
	m := render(t, "dagster", values(t, k8sLauncher))
	for _, k := range []string{"Deployment/dagster-celery-workers", "ConfigMap/dagster-celery", "StatefulSet/dagster-rabbitmq",
		"Secret/dagster-rabbitmq-broker", "Service/dagster-rabbitmq"} {
		kind, name, _ := strings.Cut(k, "/")
		if m.Find(kind, name) != nil {
			t.Errorf("%s rendered with the K8sRunLauncher", k)
		}
	}
	for _, k := range []string{"ServiceAccount/dagster-run", "ServiceAccount/dagster-step", "Role/dagster-run-worker", "RoleBinding/dagster-run-worker",
		"Deployment/dagster-dagit", "Deployment/dagster-daemon", "Deployment/dagster-user-code", "StatefulSet/dagster-postgresql"} {
		kind, name, _ := strings.Cut(k, "/")
		mustFind(t, m, kind, name)
	}
	inst := instanceConfig(t, m, "dagster")
	rl := nested(t, inst, "run_launcher").(map[string]any)
	if rl["module"] != "dagster_dev_launcher" || rl["class"] != "StepIdentityK8sRunLauncher" {
		t.Errorf("run_launcher = %v.%v", rl["module"], rl["class"])
	}
	lc := launcherConfig(t, inst)
	// K8sRunLauncher's schema (dagster-k8s 0.29.27) plus the subclass's step_service_account_name.
	accepted := map[string]bool{"step_service_account_name": true}
	for _, k := range strings.Fields(`job_image image_pull_policy image_pull_secrets service_account_name env_config_maps env_secrets
		env_vars volume_mounts volumes labels resources scheduler_name security_context instance_config_map postgres_password_secret
		dagster_home load_incluster_config kubeconfig_file k8s_api_ssl_ca_cert_file fail_pod_on_run_failure run_k8s_config
		job_namespace only_allow_user_defined_k8s_config_fields only_allow_user_defined_env_vars`) {
		accepted[k] = true
	}
	for k := range lc {
		if !accepted[k] {
			t.Errorf("launcher config key %q is not K8sRunLauncher's", k)
		}
	}
	if lc["service_account_name"] != "dagster-run" || lc["step_service_account_name"] != "dagster-step" {
		t.Errorf("service accounts: run %v, step %v", lc["service_account_name"], lc["step_service_account_name"])
	}
	if s, ok := lc["env_secrets"]; ok {
		t.Errorf("env_secrets = %v; no broker Secret without Celery", s)
	}
	pod := nested(t, lc, "run_k8s_config", "pod_spec_config", "securityContext").(map[string]any)
	containerSC := nested(t, lc, "run_k8s_config", "container_config", "securityContext").(map[string]any)
	if fmt.Sprint(pod["runAsUser"]) != "1001" || fmt.Sprint(pod["fsGroup"]) != "1001" || containerSC["readOnlyRootFilesystem"] != true {
		t.Errorf("run_k8s_config security: pod %v container %v", pod, containerSC)
	}
	if nested(t, lc, "run_k8s_config", "container_config", "resources", "limits", "memory") != "2Gi" {
		t.Errorf("run_k8s_config resources = %v", nested(t, lc, "run_k8s_config", "container_config"))
	}
	// The run pod builds the launcher: it needs the module.
	if got := volumeNames(lc["volumes"]); len(got) == 0 || got[0] != "dagster-dev-lib" {
		t.Errorf("launcher volumes = %v", got)
	}
	if got := configMapData(t, m, "dagster-job-runner-env")["DAGSTER_DEV_RUN_LAUNCHER"]; got != "K8sRunLauncher" {
		t.Errorf("job-runner-env DAGSTER_DEV_RUN_LAUNCHER = %q (the example's executor)", got)
	}
	for _, name := range []string{"dagster-dagit", "dagster-daemon"} {
		for _, e := range nested(t, container(t, mustFind(t, m, "Deployment", name), strings.TrimPrefix(name, "dagster-")), "env").([]any) {
			if e.(map[string]any)["name"] == "DAGSTER_CELERY_BROKER_URL" {
				t.Errorf("%s still reads the broker URL", name)
			}
		}
	}
	// The run worker Role: what k8s_job_executor calls, bound to the run ServiceAccount only.
	var rules []string
	for _, r := range nested(t, mustFind(t, m, "Role", "dagster-run-worker").Object, "rules").([]any) {
		rm := r.(map[string]any)
		rules = append(rules, fmt.Sprintf("%v/%v:%v", rm["apiGroups"], rm["resources"], rm["verbs"]))
	}
	if got := strings.Join(rules, " "); got != "[batch]/[jobs]:[create delete] [batch]/[jobs/status]:[get] []/[pods]:[delete list]" {
		t.Errorf("run-worker rules = %s", got)
	}
	subj := nested(t, mustFind(t, m, "RoleBinding", "dagster-run-worker").Object, "subjects").([]any)
	if len(subj) != 1 || subj[0].(map[string]any)["name"] != "dagster-run" {
		t.Errorf("run-worker subjects = %v", subj)
	}
	if n := checkHardened(t, m); n < 8 {
		t.Errorf("only %d containers checked", n)
	}
	// Resuming runs is the K8sRunLauncher's alone.
	inst = instanceConfig(t, render(t, "dagster", values(t, k8sLauncher+"runMonitoring: {maxResumeRunAttempts: 2}\n")), "dagster")
	if got := fmt.Sprint(nested(t, inst, "run_monitoring", "max_resume_run_attempts")); got != "2" {
		t.Errorf("max_resume_run_attempts = %s", got)
	}
	if _, err := Render("dagster", "dagster", values(t, "runMonitoring: {maxResumeRunAttempts: 2}\n")); err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Errorf("resume with Celery: %v", err)
	}
	// Bad combinations name the key.
	for doc, key := range map[string]string{
		"runLauncher: {type: K8sRunLauncher}\n": "rabbitmq.enabled",
		"celery: {enabled: false}\n":            "celery.enabled",
		"runLauncher: {type: Celery}\n":         "runLauncher.type",
	} {
		if _, err := Render("dagster", "dagster", values(t, doc)); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: err = %v, want one naming %s", doc, err, key)
		}
	}
}

// The env contract reaches run and step pods with the K8sRunLauncher too: the launcher's
// ConfigMaps (the chart's first, then the user's) and Secrets in order; a location's own layer
// arrives through its DAGSTER_CONTAINER_CONTEXT, which dagster-k8s applies itself.
func TestK8sRunLauncherEnv(t *testing.T) {
	// twoLocations sets job_runner.env_config_maps [run-cm] and env_secrets [run-secret].
	m := render(t, "dagster", values(t, k8sLauncher+strings.TrimPrefix(twoLocations, "\n")))
	lc := launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got := strList(lc["env_config_maps"]); !equalStrings(got, []string{"dagster-job-runner-env", "run-cm"}) {
		t.Errorf("env_config_maps = %v", got)
	}
	if got := strList(lc["env_secrets"]); !equalStrings(got, []string{"run-secret"}) {
		t.Errorf("env_secrets = %v", got)
	}
	ctx := ""
	for _, e := range nested(t, container(t, mustFind(t, m, "Deployment", "dagster-code-analytics"), "user-code"), "env").([]any) {
		if e.(map[string]any)["name"] == "DAGSTER_CONTAINER_CONTEXT" {
			ctx = e.(map[string]any)["value"].(string)
		}
	}
	if !strings.Contains(ctx, "dagster-code-analytics-env") {
		t.Errorf("analytics DAGSTER_CONTAINER_CONTEXT = %s", ctx)
	}
}
