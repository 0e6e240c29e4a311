package watch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dagster-dev/dagster-dev/config"
)

// testConfig returns a config rooted at a temp dir (also the working
// directory, so messages name files relative to it).
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return &config.Config{Dir: dir, Namespace: "dagster", Release: "dagster"}
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
