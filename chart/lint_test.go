package chart

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// writeChart copies the embedded chart to a directory, as `helm lint` and `helm install ./dir` see it.
func writeChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dagster")
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHelmLint(t *testing.T) {
	dir := writeChart(t)
	for name, vals := range map[string]string{
		"defaults":       "",
		"dagster-dev up": "dagit: {service: {type: NodePort, nodePort: 30080}}\nimagePullPolicy: IfNotPresent",
		"external services": `postgresql: {enabled: false, postgresqlHost: db, existingSecret: pg}
rabbitmq: {enabled: false, brokerUrlSecret: broker}
daemon: {enabled: false}
rbacEnabled: false
serviceAccount: {create: false, name: sa}
userCode: {example: {enabled: false}, pythonFile: /app/defs.py}`,
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.All(dir, values(t, vals), "dagster", false)
			for _, msg := range linter.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("lint: %s", msg)
				} else {
					t.Logf("lint: %s", msg)
				}
			}
		})
	}
	// The parent's lint renders the subcharts but checks only its own templates.
	for _, sub := range []string{"postgresql", "rabbitmq"} {
		t.Run(sub, func(t *testing.T) {
			for _, msg := range lint.All(filepath.Join(dir, "charts", sub), nil, "dagster", false).Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("lint: %s", msg)
				} else {
					t.Logf("lint: %s", msg)
				}
			}
		})
	}
}

// The chart on disk is the chart that is embedded (loader.LoadDir honours .helmignore, the embed
// does not; this catches a file that one of them would drop).
func TestChartDirMatchesEmbedded(t *testing.T) {
	fromDir, err := loader.LoadDir(writeChart(t))
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Digest(fromDir, nil)
	b, _ := Digest(embedded, nil)
	if a != b {
		t.Errorf("chart loaded from disk differs from the embedded one (%d vs %d files)", len(fromDir.Raw), len(embedded.Raw))
	}
}

// `helm dependency build` needs no network: both subcharts are local. No getters are configured,
// so any attempt to download would fail.
func TestDependencyBuildOffline(t *testing.T) {
	dir := writeChart(t)
	home := t.TempDir()
	var out bytes.Buffer
	m := &downloader.Manager{
		Out:              &out,
		ChartPath:        dir,
		SkipUpdate:       true,
		RepositoryConfig: filepath.Join(home, "repositories.yaml"),
		RepositoryCache:  filepath.Join(home, "cache"),
	}
	if err := m.Build(); err != nil {
		t.Fatalf("dependency build: %v\n%s", err, out.String())
	}
	for _, sub := range []string{"postgresql", "rabbitmq"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", sub, "Chart.yaml")); err != nil {
			t.Errorf("subchart %s: %v", sub, err)
		}
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Dependencies()) != 2 {
		t.Errorf("after dependency build the chart has %d subcharts", len(ch.Dependencies()))
	}
}
