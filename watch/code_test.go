package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/dagit"
)

// fakeDagit is a CodeLocations that "loads" a location by reading its
// definitions.py from disk: every line `JOB name` defines a job, a line
// `RAISE` makes the load fail at that line. It counts reloads and can be
// made unreachable. A fake because Dagit cannot run in a unit test; the
// real reload is covered by the e2e code-reload case.
type fakeDagit struct {
	mu          sync.Mutex
	dirs        map[string]string // location -> directory
	reloads     map[string]int
	unreachable int // the next n calls fail as temporary
}

func (f *fakeDagit) load(name string) dagit.LocationEntry {
	e := dagit.LocationEntry{Name: name, LoadStatus: dagit.LocationLoaded, Typename: "RepositoryLocation"}
	b, err := os.ReadFile(filepath.Join(f.dirs[name], "definitions.py"))
	if err != nil {
		e.Typename = "PythonError"
		e.LoadError = &dagit.PythonError{Message: "FileNotFoundError: definitions.py"}
		return e
	}
	repo := dagit.Repository{Name: "__repository__"}
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "JOB "):
			repo.Jobs = append(repo.Jobs, strings.TrimPrefix(line, "JOB "))
		case line == "RAISE":
			e.Typename = "PythonError"
			e.LoadError = &dagit.PythonError{
				Message: "dagster._core.errors.DagsterImportError: Encountered ImportError",
				Stack: []string{
					`  File "/usr/local/lib/python3.11/site-packages/dagster/_core/code_pointer.py", line 10, in load_python_file` + "\n",
					fmt.Sprintf(`  File "%s/%s/definitions.py", line %d, in <module>`+"\n", config.CodePodRoot, name, i+1),
				},
			}
			return e
		}
	}
	slices.Sort(repo.Jobs)
	e.Definitions = dagit.Definitions{Repositories: []dagit.Repository{repo}}
	return e
}

func (f *fakeDagit) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unreachable > 0 {
		f.unreachable--
		return &dagit.RequestError{Op: "reloadRepositoryLocation", Temporary: true, Err: errors.New("connection refused")}
	}
	return nil
}

func (f *fakeDagit) Locations(context.Context) ([]dagit.LocationEntry, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	var out []dagit.LocationEntry
	for name := range f.dirs {
		out = append(out, f.load(name))
	}
	return out, nil
}

func (f *fakeDagit) Reload(_ context.Context, name string) (dagit.LocationEntry, error) {
	if err := f.fail(); err != nil {
		return dagit.LocationEntry{}, err
	}
	if _, ok := f.dirs[name]; !ok {
		return dagit.LocationEntry{}, &dagit.ReloadError{Location: name, Typename: "RepositoryLocationNotFound"}
	}
	f.mu.Lock()
	f.reloads[name]++
	f.mu.Unlock()
	return f.load(name), nil
}

func (f *fakeDagit) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloads[name]
}

// codeProject is a config with one path location "analytics" at
// <dir>/analytics and no other inputs.
func codeProject(t *testing.T) (*config.Config, *fakeDagit) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Path = filepath.Join(cfg.Dir, config.DefaultFile)
	write(t, cfg.Dir, config.DefaultFile, "")
	cfg.Watch.Debounce = config.Duration{Duration: 50 * time.Millisecond}
	cfg.Timeout = config.Duration{Duration: time.Minute}
	dir := filepath.Join(cfg.Dir, "analytics")
	write(t, dir, "definitions.py", "JOB daily\n")
	write(t, dir, "pkg/helpers.py", "x = 1\n")
	cfg.CodeLocations = []config.CodeLocation{{Name: "analytics", Path: "analytics", File: "definitions.py", Image: "team/analytics:dev"}}
	return cfg, &fakeDagit{dirs: map[string]string{"analytics": dir}, reloads: map[string]int{}}
}

// runCodeWatch runs watch until the test ends and returns its recorder
// and the stepper of its file watch: a test's saves become a batch when
// it calls settle, never by the clock.
func runCodeWatch(t *testing.T, cfg *config.Config, fd *fakeDagit) (*recorder, *stepper) {
	t.Helper()
	rec := &recorder{}
	// The barriers go next to dagster-dev.yaml, outside the location.
	s := newStepper(t, cfg.Dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	go func() {
		done <- Run(ctx, Options{Config: cfg, Client: client, Reporter: rec, Code: fd, WaitRollout: (&waiter{}).wait, hooks: s.hooks})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch: %v", err)
		}
	})
	// The first sync reloads every path location once.
	waitUntil(t, "the start-up reload", func() bool { return len(rec.reloadList()) == 1 })
	return rec, s
}

// settleCode ends the burst of saves and checks that it is one batch of
// exactly the given files of the location (relative to it).
func settleCode(t *testing.T, s *stepper, dir string, files ...string) {
	t.Helper()
	b := s.settle()
	var got []string
	for p := range b.paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rel)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(files))
	if !slices.Equal(got, want) {
		t.Fatalf("batch %v, want %v", got, want)
	}
}

func TestCodeSaveReloadsWithTheDefinitionsDiff(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")

	write(t, dir, "definitions.py", "JOB daily\nJOB weekly\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the reload", func() bool { return len(rec.reloadList()) == 2 })
	r := rec.reloadList()[1]
	if r.Location != "analytics" || !slices.Equal(r.Files, []string{"definitions.py"}) || r.Err != nil {
		t.Fatalf("%+v", r)
	}
	if len(r.Added) != 1 || r.Added[0].String() != "job weekly" || len(r.Removed) != 0 {
		t.Errorf("added %v removed %v", r.Added, r.Removed)
	}
	if s := r.Summary(); !strings.Contains(s, "code location analytics reloaded") || !strings.Contains(s, "after save (definitions.py): +job weekly") {
		t.Errorf("summary %q", s)
	}

	// A file in a subpackage counts; an unchanged definition set says so.
	write(t, dir, "pkg/helpers.py", "x = 2\n")
	settleCode(t, s, dir, filepath.Join("pkg", "helpers.py"))
	waitUntil(t, "the second reload", func() bool { return len(rec.reloadList()) == 3 })
	r = rec.reloadList()[2]
	if !slices.Equal(r.Files, []string{filepath.Join("pkg", "helpers.py")}) || !strings.Contains(r.Summary(), "2 definitions, unchanged") {
		t.Errorf("%+v: %s", r, r.Summary())
	}
}

func TestCodeIgnoredFilesDoNotReload(t *testing.T) {
	cfg, fd := codeProject(t)
	dir := filepath.Join(cfg.Dir, "analytics")
	write(t, dir, ".gitignore", "*.log\ndata/\n!data/keep.py\n")
	write(t, dir, "data/big.csv", "a,b\n")
	if err := os.MkdirAll(filepath.Join(dir, "env311"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "env311/pyvenv.cfg", "home = /usr/bin\n")
	rec, s := runCodeWatch(t, cfg, fd)

	write(t, dir, "__pycache__/definitions.cpython-311.pyc", "\x00\x01")
	write(t, dir, "run.log", "line\n")
	write(t, dir, "data/big.csv", "a,b\n1,2\n")
	write(t, dir, ".definitions.py.swp", "swap")
	write(t, dir, "definitions.py~", "backup")
	write(t, dir, "env311/lib/site.py", "x\n")
	write(t, dir, ".venv/lib/x.py", "x\n")
	write(t, dir, "node_modules/a/index.js", "x\n")
	// Every event of those writes has been handled, and none made a batch.
	settleCode(t, s, dir)
	// A real edit still reloads, once.
	write(t, dir, "definitions.py", "JOB daily\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the reload", func() bool { return len(rec.reloadList()) == 2 })
	if r := rec.reloadList()[1]; !slices.Equal(r.Files, []string{"definitions.py"}) {
		t.Errorf("files %v", r.Files)
	}
}

func TestCodeLoadErrorIsReportedAtTheUsersLineAndRecovers(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")

	write(t, dir, "definitions.py", "JOB daily\n\nRAISE\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the failed reload", func() bool { return len(rec.reloadList()) == 2 })
	r := rec.reloadList()[1]
	if r.Err == nil {
		t.Fatalf("no error: %+v", r)
	}
	want := filepath.Join("analytics", "definitions.py") + ":3"
	if !strings.Contains(r.Summary(), "failed to load at "+want) || !strings.Contains(r.Err.Fix(), "fix "+want) {
		t.Errorf("summary %q fix %q", r.Summary(), r.Err.Fix())
	}
	if !strings.Contains(r.Err.Fix(), "Dagit shows the location as failed") {
		t.Errorf("fix does not say what Dagit shows: %q", r.Err.Fix())
	}

	write(t, dir, "definitions.py", "JOB daily\nJOB fixed\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the recovery", func() bool { return len(rec.reloadList()) == 3 })
	r = rec.reloadList()[2]
	if r.Err != nil || !r.Recovered || !strings.Contains(r.Summary(), "recovered") {
		t.Errorf("%+v: %s", r, r.Summary())
	}
	// The diff is against the last good load, not the failed one.
	if len(r.Added) != 1 || r.Added[0].Name != "fixed" || len(r.Removed) != 0 {
		t.Errorf("recovery diff +%v -%v, want +job fixed", r.Added, r.Removed)
	}
}

func TestCodeCheckoutOfManyFilesIsOneReload(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")

	// A branch switch: 500 files in new and existing packages, then the
	// definitions, in one burst: the files of a new directory written
	// before its watch was added are found by listing it.
	files := []string{"definitions.py"}
	for i := 0; i < 500; i++ {
		f := write(t, dir, fmt.Sprintf("models/m%02d/f%03d.py", i%25, i), fmt.Sprintf("v = %d\n", i))
		files = append(files, strings.TrimPrefix(f, dir+string(filepath.Separator)))
	}
	write(t, dir, "definitions.py", "JOB daily\nJOB branch\n")
	settleCode(t, s, dir, files...)
	waitUntil(t, "the reload", func() bool { return len(rec.reloadList()) >= 2 })
	// That batch was the only one: without a flush no other is delivered.
	if b := s.flush(); !b.empty() {
		t.Fatalf("a second batch %v", b.paths)
	}
	rs := rec.reloadList()
	if len(rs) != 2 {
		t.Fatalf("%d reloads for one checkout, want 1", len(rs)-1)
	}
	if len(rs[1].Added) != 1 || !strings.Contains(rs[1].Summary(), "and 498 more files") {
		t.Errorf("%s", rs[1].Summary())
	}
	if fd.count("analytics") != 2 {
		t.Errorf("%d reloads at Dagit", fd.count("analytics"))
	}
}

func TestCodeDependencyFileSaysToRebuild(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")
	write(t, dir, "requirements-dev.txt", "pandas==2.2\n")
	settleCode(t, s, dir, "requirements-dev.txt")
	waitUntil(t, "the hint", func() bool {
		infos, _, _ := rec.snapshot()
		return slices.ContainsFunc(infos, func(s string) bool { return strings.Contains(s, "requirements-dev.txt changed") })
	})
	infos, _, _ := rec.snapshot()
	i := slices.IndexFunc(infos, func(s string) bool { return strings.Contains(s, "requirements-dev.txt changed") })
	if !strings.Contains(infos[i], "docker build -t team/analytics:dev ./analytics") || !strings.Contains(infos[i], "dagster-dev up") {
		t.Errorf("hint %q", infos[i])
	}
	// The next save's sync runs after that batch's sync has ended: its
	// reload comes right after the start-up one unless the dependency
	// file caused one.
	write(t, dir, "definitions.py", "JOB daily\nJOB next\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the reload of the next save", func() bool {
		return slices.ContainsFunc(rec.reloadList(), func(r Reload) bool { return slices.Contains(r.Files, "definitions.py") })
	})
	if rs := rec.reloadList(); len(rs) != 2 {
		t.Errorf("a dependency file caused a reload: %+v", rs[1:])
	}
}

func TestCodeReloadWaitsOutAnUnreachableDagit(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")
	fd.mu.Lock()
	fd.unreachable = 2
	fd.mu.Unlock()
	write(t, dir, "definitions.py", "JOB daily\nJOB later\n")
	settleCode(t, s, dir, "definitions.py")
	waitUntil(t, "the reload after the retries", func() bool { return len(rec.reloadList()) == 2 })
	if r := rec.reloadList()[1]; len(r.Added) != 1 {
		t.Errorf("%s", r.Summary())
	}
	infos, _, _ := rec.snapshot()
	if !slices.ContainsFunc(infos, func(s string) bool { return strings.Contains(s, "retrying in") }) {
		t.Errorf("retries not reported: %q", infos)
	}
}

func TestCodeFileDeletedMidSaveAndBinaryFiles(t *testing.T) {
	cfg, fd := codeProject(t)
	rec, s := runCodeWatch(t, cfg, fd)
	dir := filepath.Join(cfg.Dir, "analytics")
	// An editor's save: write a temp file, rename it over the original;
	// a file created and deleted before the batch is read; a binary file.
	tmp := write(t, dir, "definitions.py.tmp.123", "JOB daily\nJOB renamed\n")
	if err := os.Rename(tmp, filepath.Join(dir, "definitions.py")); err != nil {
		t.Fatal(err)
	}
	p := write(t, dir, "scratch.py", "x")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "model.bin", "\x00\xff\xfe\x00")
	// scratch.py is in the batch although it is gone again: a removed
	// file is a change too. The editor's temp file is not.
	settleCode(t, s, dir, "definitions.py", "model.bin", "scratch.py")
	waitUntil(t, "the reload", func() bool { return len(rec.reloadList()) >= 2 })
	rs := rec.reloadList()
	if len(rs) != 2 || len(rs[1].Added) != 1 {
		t.Fatalf("%d reloads: %+v", len(rs)-1, rs[1:])
	}
	if slices.Contains(rs[1].Files, "definitions.py.tmp.123") {
		t.Errorf("editor temp file listed: %v", rs[1].Files)
	}
}

func TestSyncOnceReloadsEveryLocation(t *testing.T) {
	cfg, fd := codeProject(t)
	other := filepath.Join(cfg.Dir, "image-location")
	write(t, other, "definitions.py", "JOB a\n")
	fd.dirs["ml"] = other // locations without path: in their images
	fd.dirs["nlp"] = other
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	rec := &recorder{}
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, Reporter: rec, Code: fd, Once: true, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	if fd.count("analytics") != 1 || fd.count("ml") != 1 || fd.count("nlp") != 1 {
		t.Errorf("reloads %v", fd.reloads)
	}
	// A load error fails --once.
	write(t, filepath.Join(cfg.Dir, "analytics"), "definitions.py", "RAISE\n")
	err := Sync(context.Background(), Options{Config: cfg, Client: client, Reporter: rec, Code: fd, Once: true, WaitRollout: (&waiter{}).wait})
	if !errors.Is(err, ErrProblems) {
		t.Errorf("--once with a load error: %v", err)
	}
}

// A location whose directory the repository's .gitignore ignores (a
// scratch project) is still watched: declaring it says so.
func TestCodeLocationInAnIgnoredDirectory(t *testing.T) {
	cfg, fd := codeProject(t)
	write(t, cfg.Dir, ".gitignore", "/analytics/\n")
	rec, s := runCodeWatch(t, cfg, fd)
	write(t, filepath.Join(cfg.Dir, "analytics"), "definitions.py", "JOB daily\nJOB more\n")
	settleCode(t, s, filepath.Join(cfg.Dir, "analytics"), "definitions.py")
	waitUntil(t, "the reload", func() bool { return len(rec.reloadList()) == 2 })
}

func TestCodeTreeIgnoreRules(t *testing.T) {
	cfg, _ := codeProject(t)
	dir := filepath.Join(cfg.Dir, "analytics")
	// The repository's .gitignore above the location counts too.
	if err := os.MkdirAll(filepath.Join(cfg.Dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, cfg.Dir, ".gitignore", "*.parquet\n")
	write(t, dir, ".gitignore", "build/\n*.log\n!keep.log\n")
	write(t, dir, "sub/.gitignore", "local.py\n")
	tree := newCodeTree(cfg)
	r := tree.roots[0]
	cases := []struct {
		path    string
		dir     bool
		ignored bool
	}{
		{"definitions.py", false, false},
		{"pkg/helpers.py", false, false},
		{"out.parquet", false, true},
		{"build", true, true},
		{"x.log", false, true},
		{"keep.log", false, false},
		{"sub/local.py", false, true},
		{"local.py", false, false},
		{"__pycache__", true, true},
		{"pkg/__pycache__/a.pyc", false, true},
		{"a.egg-info", true, true},
		{".git", true, true},
		{"x.py~", false, true},
		{".x.py.swp", false, true},
		{"config.yaml", false, false},
	}
	for _, c := range cases {
		if got := r.ignored(filepath.Join(dir, c.path), c.dir); got != c.ignored {
			t.Errorf("%s: ignored %v, want %v", c.path, got, c.ignored)
		}
	}
	for _, f := range []string{"requirements.txt", "requirements-dev.txt", "pyproject.toml", "setup.py", "Dockerfile", "uv.lock"} {
		if r.kind(filepath.Join(dir, f)) != KindDependency {
			t.Errorf("%s is not a dependency file", f)
		}
	}
	if r.kind(filepath.Join(dir, "definitions.py")) != KindCode {
		t.Error("definitions.py")
	}
}
