package chart

// dagster-dev's run launcher (runLauncher.locationContext): the module files/dagster_dev_launcher.py,
// its ConfigMap, mounts, PYTHONPATH and the instance's run_launcher section; and its Python tests
// (chart/testdata/launcher), run against the rendered chart when DAGSTER_DEV_PYTHON names a Python
// with dagster 1.13.27, dagster-k8s and dagster-celery-k8s 0.29.27:
//
//	DAGSTER_DEV_PYTHON=/tmp/launcher-venv/bin/python go test ./chart/ -run Launcher -v

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	libDir       = "/opt/dagster/dagster-dev-lib"
	libFile      = "dagster_dev_launcher.py"
	libVolume    = "dagster-dev-lib"
	launcherMod  = "dagster_dev_launcher"
	launcherCls  = "LocationContextCeleryK8sRunLauncher"
	launcherOff  = "runLauncher: {locationContext: false}\n"
	libChecksum  = "checksum/dagster-dev-lib"
	libConfigMap = "-dagster-dev-lib"
)

// podsWithLibrary are the workloads that build (or may build) the instance's run launcher, and the
// container that runs Dagster in each.
var podsWithLibrary = map[string]string{
	"dagster-dagit":          "dagit",
	"dagster-daemon":         "daemon",
	"dagster-celery-workers": "celery-worker",
	"dagster-user-code":      "user-code",
	"dagster-code-analytics": "user-code",
	"dagster-code-ml":        "user-code",
}

func findMount(c map[string]any, name string) map[string]any {
	list, _ := c["volumeMounts"].([]any)
	for _, e := range list {
		if m := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

func findVolume(spec map[string]any, name string) map[string]any {
	list, _ := spec["volumes"].([]any)
	for _, e := range list {
		if m := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

func TestLauncherLibrary(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations))

	// The ConfigMap holds the module byte for byte.
	src, err := os.ReadFile(filepath.Join("dagster", "files", libFile))
	if err != nil {
		t.Fatal(err)
	}
	data := configMapData(t, m, "dagster"+libConfigMap)
	if len(data) != 1 || data[libFile] != string(src) {
		t.Errorf("ConfigMap dagster%s keys %v; %s differs from files/%s", libConfigMap, keys(data), libFile, libFile)
	}

	// Mounted read-only at libDir from that ConfigMap, with a checksum that rolls the pod.
	for name, cname := range podsWithLibrary {
		d := mustFind(t, m, "Deployment", name)
		mount := findMount(container(t, d, cname), libVolume)
		if mount == nil || mount["mountPath"] != libDir || mount["readOnly"] != true || mount["subPath"] != nil {
			t.Errorf("%s: library mount = %v", name, mount)
		}
		vol := findVolume(podSpec(t, d), libVolume)
		if vol == nil || nested(t, vol, "configMap", "name") != "dagster"+libConfigMap {
			t.Errorf("%s: library volume = %v", name, vol)
		}
		if podAnnotations(t, d)[libChecksum] == "" {
			t.Errorf("%s: no %s annotation", name, libChecksum)
		}
	}

	// The instance builds the subclass; run and step pods get the module through the launcher's
	// volumes (first, so a location volume or mount can never displace it).
	inst := instanceConfig(t, m, "dagster")
	rl := nested(t, inst, "run_launcher").(map[string]any)
	if rl["module"] != launcherMod || rl["class"] != launcherCls {
		t.Errorf("run_launcher = %v.%v, want %s.%s", rl["module"], rl["class"], launcherMod, launcherCls)
	}
	lc := launcherConfig(t, inst)
	if got := volumeNames(lc["volumes"]); len(got) == 0 || got[0] != libVolume {
		t.Errorf("launcher volumes = %v", got)
	} else if nested(t, lc["volumes"].([]any)[0].(map[string]any), "configMap", "name") != "dagster"+libConfigMap {
		t.Errorf("launcher library volume = %v", lc["volumes"].([]any)[0])
	}
	mounts, _ := lc["volume_mounts"].([]any)
	if len(mounts) == 0 || !reflect.DeepEqual(mounts[0], map[string]any{"name": libVolume, "mountPath": libDir, "readOnly": true}) {
		t.Errorf("launcher volume_mounts = %v", mounts)
	}

	// PYTHONPATH: Dagit and the daemon through dagit-env; workers, code servers and every job pod
	// through job-runner-env (the first ConfigMap of the launcher's env_config_maps).
	for _, cm := range []string{"dagster-dagit-env", "dagster-job-runner-env"} {
		if got := configMapData(t, m, cm)["PYTHONPATH"]; got != libDir {
			t.Errorf("%s PYTHONPATH = %q, want %q", cm, got, libDir)
		}
	}
	if got := strList(lc["env_config_maps"]); len(got) == 0 || got[0] != "dagster-job-runner-env" {
		t.Errorf("launcher env_config_maps = %v: job pods must load dagster-job-runner-env first", got)
	}
	for name, cname := range podsWithLibrary {
		c := container(t, mustFind(t, m, "Deployment", name), cname)
		if _, ok := envValue(c, "PYTHONPATH"); ok {
			t.Errorf("%s sets PYTHONPATH in env (it must stay overridable from envFrom)", name)
		}
		from := envFrom(t, c)
		want := "configMap:dagster-job-runner-env"
		if name == "dagster-dagit" || name == "dagster-daemon" {
			want = "configMap:dagster-dagit-env"
		}
		if len(from) == 0 || from[0] != want {
			t.Errorf("%s envFrom = %v, want %s first", name, from, want)
		}
	}
	// A location's server carries the same context as before: the launcher's own volume is not in it.
	_, a := codeServer(t, m, "dagster-code-analytics")
	if got := volumeNames(nested(t, containerContext(t, a), "k8s", "volumes")); !equalStrings(got, []string{"settings"}) {
		t.Errorf("analytics container context volumes = %v", got)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A PYTHONPATH in env values is kept, with the library directory appended, in every chart env
// ConfigMap; without one the chart's is the library alone.
func TestLauncherPythonPathKeepsYours(t *testing.T) {
	m := render(t, "dagster", values(t, `
dagit: {env: {PYTHONPATH: /srv/dagit}}
job_runner: {env: {PYTHONPATH: "/app/src:/app/lib"}}
userDeployments:
  - name: analytics
    module: analytics.definitions
    env: {PYTHONPATH: /code/src, OTHER: "1"}
  - name: ml
    module: ml.defs
    env: {PYTHONPATH: ""}
`))
	for cm, want := range map[string]string{
		"dagster-dagit-env":          "/srv/dagit:" + libDir,
		"dagster-job-runner-env":     "/app/src:/app/lib:" + libDir,
		"dagster-code-analytics-env": "/code/src:" + libDir,
	} {
		if got := configMapData(t, m, cm)["PYTHONPATH"]; got != want {
			t.Errorf("%s PYTHONPATH = %q, want %q", cm, got, want)
		}
	}
	if got := configMapData(t, m, "dagster-code-analytics-env")["OTHER"]; got != "1" {
		t.Errorf("analytics env OTHER = %q", got)
	}
	// An empty value is skipped as before: the location inherits job-runner-env's PYTHONPATH.
	if got, ok := configMapData(t, m, "dagster-code-ml-env")["PYTHONPATH"]; ok {
		t.Errorf("ml env PYTHONPATH = %q, want none", got)
	}

	// Off: values pass through untouched.
	m = render(t, "dagster", values(t, launcherOff+`
job_runner: {env: {PYTHONPATH: /app/src}}
userDeployments: [{name: analytics, module: a, env: {PYTHONPATH: /code/src}}]
`))
	for cm, want := range map[string]string{"dagster-job-runner-env": "/app/src", "dagster-code-analytics-env": "/code/src"} {
		if got := configMapData(t, m, cm)["PYTHONPATH"]; got != want {
			t.Errorf("off: %s PYTHONPATH = %q, want %q", cm, got, want)
		}
	}
	if _, ok := configMapData(t, m, "dagster-dagit-env")["PYTHONPATH"]; ok {
		t.Errorf("off: dagit-env has a PYTHONPATH")
	}
}

func TestLauncherLocationContextOff(t *testing.T) {
	m := render(t, "dagster", values(t, twoLocations+launcherOff))
	if o := m.Find("ConfigMap", "dagster"+libConfigMap); o != nil {
		t.Errorf("ConfigMap dagster%s rendered with locationContext=false", libConfigMap)
	}
	inst := instanceConfig(t, m, "dagster")
	rl := nested(t, inst, "run_launcher").(map[string]any)
	if rl["module"] != "dagster_celery_k8s" || rl["class"] != "CeleryK8sRunLauncher" {
		t.Errorf("run_launcher = %v.%v, want the plain dagster_celery_k8s.CeleryK8sRunLauncher", rl["module"], rl["class"])
	}
	lc := launcherConfig(t, inst)
	if got := volumeNames(lc["volumes"]); !equalStrings(got, []string{"dagster-home", "tmp", "compute-logs", "dagster-dev-example"}) {
		t.Errorf("launcher volumes = %v", got)
	}
	if got := volumeNames(lc["volume_mounts"]); !equalStrings(got, []string{"dagster-home", "tmp", "compute-logs", "dagster-dev-example"}) {
		t.Errorf("launcher volume_mounts = %v", got)
	}
	for name, cname := range podsWithLibrary {
		d := mustFind(t, m, "Deployment", name)
		if findMount(container(t, d, cname), libVolume) != nil || findVolume(podSpec(t, d), libVolume) != nil {
			t.Errorf("%s still mounts the library", name)
		}
		if _, ok := podAnnotations(t, d)[libChecksum]; ok {
			t.Errorf("%s still has %s", name, libChecksum)
		}
	}
	for _, cm := range []string{"dagster-dagit-env", "dagster-job-runner-env"} {
		if got, ok := configMapData(t, m, cm)["PYTHONPATH"]; ok {
			t.Errorf("%s PYTHONPATH = %q with locationContext=false", cm, got)
		}
	}
	// The plain launcher cannot take a securityContext or resources (dagster-celery-k8s rejects them).
	for _, k := range []string{"security_context", "resources"} {
		if _, ok := lc[k]; ok {
			t.Errorf("launcher %s set with locationContext=false", k)
		}
	}
	// Off and no example: only the writable DAGSTER_HOME and /tmp.
	m = render(t, "dagster", values(t, twoLocations+launcherOff+"userCode: {example: {enabled: false}}\n"))
	lc = launcherConfig(t, instanceConfig(t, m, "dagster"))
	if got := volumeNames(lc["volumes"]); !equalStrings(got, []string{"dagster-home", "tmp", "compute-logs"}) {
		t.Errorf("launcher volumes %v mounts %v", lc["volumes"], lc["volume_mounts"])
	}
}

// The library adds exactly a mount, a volume and a checksum to a pod; nothing else changes.
func TestLauncherLibraryIsTheOnlyChange(t *testing.T) {
	on := render(t, "dagster", values(t, twoLocations))
	off := render(t, "dagster", values(t, twoLocations+launcherOff))
	strip := func(o *unstructured.Unstructured, cname string) map[string]any {
		obj := o.DeepCopy().Object
		spec := nested(t, obj, "spec", "template", "spec").(map[string]any)
		var vols []any
		for _, v := range spec["volumes"].([]any) {
			if v.(map[string]any)["name"] != libVolume {
				vols = append(vols, v)
			}
		}
		spec["volumes"] = vols
		for _, c := range spec["containers"].([]any) {
			c := c.(map[string]any)
			if c["name"] != cname {
				continue
			}
			var mounts []any
			for _, mt := range c["volumeMounts"].([]any) {
				if mt.(map[string]any)["name"] != libVolume {
					mounts = append(mounts, mt)
				}
			}
			c["volumeMounts"] = mounts
		}
		ann := nested(t, obj, "spec", "template", "metadata", "annotations").(map[string]any)
		delete(ann, libChecksum)
		// Dagit, the daemon and the workers load ConfigMaps whose PYTHONPATH (or dagster.yaml)
		// differs by design; their checksums are compared by TestChecksumAnnotations.
		for _, k := range []string{"checksum/instance", "checksum/dagit-env", "checksum/job-runner-env"} {
			delete(ann, k)
		}
		return obj
	}
	for name, cname := range podsWithLibrary {
		a := strip(mustFind(t, on, "Deployment", name), cname)
		b := strip(mustFind(t, off, "Deployment", name), cname)
		if !reflect.DeepEqual(a, b) {
			ja, _ := json.MarshalIndent(a, "", "  ")
			jb, _ := json.MarshalIndent(b, "", "  ")
			t.Errorf("%s differs beyond the library:\non  %s\noff %s", name, ja, jb)
		}
	}
}

func TestLauncherLibraryReservedNames(t *testing.T) {
	for _, bad := range []struct{ values, want string }{
		{"userDeployments: [{name: a, module: a, volumes: [{name: dagster-dev-lib, emptyDir: {}}]}]", "dagster-dev-lib is the chart's own"},
		{"userDeployments: [{name: a, module: a, volumes: [{name: x, emptyDir: {}}], volumeMounts: [{name: x, mountPath: " + libDir + "}]}]", "mountPath " + libDir},
	} {
		if _, err := Render("dagster", "dagster", values(t, bad.values)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want it to mention %q", bad.values, err, bad.want)
		}
	}
	// With the launcher off the path is free again.
	if _, err := Render("dagster", "dagster", values(t, launcherOff+
		"userDeployments: [{name: a, module: a, volumes: [{name: x, emptyDir: {}}], volumeMounts: [{name: x, mountPath: "+libDir+"}]}]")); err != nil {
		t.Errorf("off: %v", err)
	}
}

// TestLauncherPython runs chart/testdata/launcher with DAGSTER_DEV_PYTHON, handing it the rendered
// dagster.yaml (launcher on and off) and a location's rendered DAGSTER_CONTAINER_CONTEXT.
func TestLauncherPython(t *testing.T) {
	python := os.Getenv("DAGSTER_DEV_PYTHON")
	if python == "" {
		t.Skip("DAGSTER_DEV_PYTHON unset: set it to a Python with dagster==1.13.27, dagster-k8s==0.29.27, dagster-celery-k8s==0.29.27 and pytest")
	}
	probe := exec.Command(python, "-c", "import dagster, dagster_celery_k8s, dagster_k8s, pytest; print(dagster.__version__, dagster_celery_k8s.__version__)")
	out, err := probe.CombinedOutput()
	if err != nil {
		t.Skipf("DAGSTER_DEV_PYTHON=%s cannot import dagster, dagster_celery_k8s, dagster_k8s and pytest: %v\n%s", python, err, out)
	}
	t.Logf("Python packages: dagster, dagster-celery-k8s %s", strings.TrimSpace(string(out)))

	dir := t.TempDir()
	cases := map[string]string{"location-context-on": twoLocations, "location-context-off": twoLocations + launcherOff,
		"k8s-launcher": twoLocations + k8sLauncher}
	for name, vals := range cases {
		m := render(t, "dagster", values(t, vals))
		caseDir := filepath.Join(dir, name)
		if err := os.MkdirAll(caseDir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(file string, data []byte) {
			if err := os.WriteFile(filepath.Join(caseDir, file), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("dagster.yaml", []byte(configMapData(t, m, "dagster-instance")["dagster.yaml"]))
		_, a := codeServer(t, m, "dagster-code-analytics")
		ctx, _ := json.Marshal(containerContext(t, a))
		write("container_context.json", ctx)
		rl := nested(t, instanceConfig(t, m, "dagster"), "run_launcher").(map[string]any)
		expect := map[string]any{
			"module": rl["module"],
			"class":  rl["class"],
			"mounts": []string{libDir, "/opt/dagster/dagster_home", "/tmp", "/opt/dagster/compute-logs", "/opt/dagster/dagster-dev-example"},
			// The launcher's layers (job_runner), then the location's own; Secrets likewise.
			"env_config_maps": []string{"dagster-job-runner-env", "run-cm", "dagster-code-analytics-env", "analytics-cm-1", "analytics-cm-2"},
			"env_secrets":     []string{"dagster-rabbitmq-broker", "run-secret", "analytics-secret-1", "analytics-secret-2"},
			"volumes":         []string{libVolume, "dagster-home", "tmp", "compute-logs", "dagster-dev-example", "settings"},
		}
		if name == "location-context-off" {
			expect["mounts"] = []string{"/opt/dagster/dagster_home", "/tmp", "/opt/dagster/compute-logs", "/opt/dagster/dagster-dev-example"}
		}
		if name == "k8s-launcher" {
			// dagster-k8s merges the lists itself (de-duplicated, not in this order): see the test.
			expect["env_config_maps"] = []string{"dagster-job-runner-env", "run-cm", "dagster-code-analytics-env", "analytics-cm-1", "analytics-cm-2"}
			expect["env_secrets"] = []string{"run-secret", "analytics-secret-1", "analytics-secret-2"}
			expect["run_service_account"] = "dagster-run"
			expect["step_service_account"] = "dagster-step"
		}
		b, _ := json.Marshal(expect)
		write("expect.json", b)
	}

	cmd := exec.Command(python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", filepath.Join("testdata", "launcher"))
	cmd.Env = append(os.Environ(), "DAGSTER_DEV_RENDERED_DIR="+dir, "PYTHONDONTWRITEBYTECODE=1")
	out, err = cmd.CombinedOutput()
	t.Logf("pytest:\n%s", out)
	if err != nil {
		t.Fatalf("pytest failed: %v", err)
	}
	if strings.Contains(string(out), "SKIPPED") && strings.Contains(string(out), "DAGSTER_DEV_RENDERED_DIR") {
		t.Errorf("the rendered-config tests were skipped")
	}
	// No bytecode may land in the chart directory (it is embedded and digested).
	_ = filepath.WalkDir("dagster", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "__pycache__" {
			t.Errorf("%s created inside the chart", p)
		}
		return nil
	})
}
