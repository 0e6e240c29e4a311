package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagster-dev/dagster-dev/config"
)

// fsHarness runs the real fsnotify watch and debouncer on a temp dir,
// stepped by hand (stepper): a check sees exactly the batch that the file
// operations since the previous check make, however slow the machine.
// When a burst ends by the clock is the debouncer's rule, tested exactly in
// debounce_test.go.
type fsHarness struct {
	t   *testing.T
	dir string
	fw  *fileWatch
	s   *stepper
}

func newFSHarness(t *testing.T, files, dirs []string) *fsHarness {
	t.Helper()
	return startFSHarness(t, files, dirs, nil)
}

// startFSHarness is newFSHarness with fileWatch.beforeAdd set to
// beforeAdd once the initial watches are in place.
func startFSHarness(t *testing.T, files, dirs []string, beforeAdd func(dir string)) *fsHarness {
	t.Helper()
	dir := t.TempDir()
	abs := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = filepath.Join(dir, p)
		}
		return out
	}
	fw, err := newFileWatch(abs(files), abs(dirs), nil)
	if err != nil {
		t.Fatal(err)
	}
	fw.beforeAdd = beforeAdd
	// The barriers go to a directory of their own, next to no target.
	barriers := t.TempDir()
	if err := fw.w.Add(barriers); err != nil {
		t.Fatal(err)
	}
	s := newStepper(t, barriers)
	e := &engine{opts: Options{hooks: s.hooks}, cfg: &config.Config{}, rep: &lockedReporter{r: discard{}}}
	ctx, cancel := context.WithCancel(context.Background())
	h := &fsHarness{t: t, dir: dir, fw: fw, s: s}
	fsErr := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// flush answers with the batch it delivers: nothing to keep here.
		e.collect(ctx, fw, func(batch) {}, fsErr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		fw.Close()
		select {
		case err := <-fsErr:
			t.Errorf("file watch error: %v", err)
		default:
		}
	})
	return h
}

func (h *fsHarness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *fsHarness) write(name, content string) {
	h.t.Helper()
	if err := os.WriteFile(h.path(name), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fsHarness) rename(from, to string) {
	h.t.Helper()
	if err := os.Rename(h.path(from), h.path(to)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fsHarness) remove(name string) {
	h.t.Helper()
	if err := os.RemoveAll(h.path(name)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fsHarness) mkdir(name string) {
	h.t.Helper()
	if err := os.MkdirAll(h.path(name), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

// expect checks that the file operations since the last check make one
// batch naming exactly the given targets: an editor's save is one sync,
// whatever noise it makes on the way.
func (h *fsHarness) expect(targets ...string) {
	h.t.Helper()
	var want []string
	for _, t := range targets {
		want = append(want, h.path(t))
	}
	sort.Strings(want)
	b := h.s.settle()
	var got []string
	for p := range b.paths {
		got = append(got, p)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		h.t.Fatalf("batch %v, want %v", got, want)
	}
	if b.first.IsZero() || b.first.After(time.Now()) {
		h.t.Errorf("batch save time %v", b.first)
	}
}

// expectNothing checks that the file operations since the last check
// concern no target.
func (h *fsHarness) expectNothing() {
	h.t.Helper()
	if b := h.s.settle(); !b.empty() {
		h.t.Fatalf("unexpected batch %v", b.paths)
	}
}

func (h *fsHarness) content(name string) string {
	h.t.Helper()
	b, err := os.ReadFile(h.path(name))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func TestEditorSaveVim(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{".env.dagit"}, nil)
	h.write(".env.dagit", "A=1\n")
	h.expect(".env.dagit")
	// Vim with the default writebackup on Linux: swap file, the 4913 probe,
	// rename the original to a backup, write a new file, drop the backup.
	h.write(".env.dagit.swp", "swap")
	h.write("4913", "")
	h.remove("4913")
	h.rename(".env.dagit", ".env.dagit~")
	h.write(".env.dagit", "A=2\n")
	if err := os.Chmod(h.path(".env.dagit"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.remove(".env.dagit~")
	h.remove(".env.dagit.swp")
	h.expect(".env.dagit")
	if h.content(".env.dagit") != "A=2\n" {
		t.Fatal("content")
	}
	// The watch survives the rename: a second save is seen too.
	h.rename(".env.dagit", ".env.dagit~")
	h.write(".env.dagit", "A=3\n")
	h.remove(".env.dagit~")
	h.expect(".env.dagit")
}

func TestEditorSaveJetBrains(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"values.yaml"}, nil)
	h.write("values.yaml", "a: 1\n")
	h.expect("values.yaml")
	// Safe write: write a temp file, move the original aside, move the
	// temp file in, delete the original.
	h.write("values.yaml___jb_tmp___", "a: 2\n")
	h.rename("values.yaml", "values.yaml___jb_old___")
	h.rename("values.yaml___jb_tmp___", "values.yaml")
	h.remove("values.yaml___jb_old___")
	h.expect("values.yaml")
	// Its temp files alone are noise.
	h.write("values.yaml___jb_tmp___", "x")
	h.remove("values.yaml___jb_tmp___")
	h.expectNothing()
}

func TestEditorSaveVSCode(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"team.env"}, nil)
	h.write("team.env", "A=1\n")
	h.expect("team.env")
	// VS Code's default: truncate and write in place, often in two writes.
	f, err := os.OpenFile(h.path("team.env"), os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("A=")
	f.Sync()
	f.WriteString("2\n")
	f.Close()
	h.expect("team.env")
	// Atomic writers (VS Code with files.saveAtomically, write-file-atomic):
	// a temp file renamed over the original.
	h.write(".team.env.tmp.12345", "A=3\n")
	h.rename(".team.env.tmp.12345", "team.env")
	h.expect("team.env")
	h.write("team.env.tmp", "A=4\n")
	h.rename("team.env.tmp", "team.env")
	h.expect("team.env")
	if h.content("team.env") != "A=4\n" {
		t.Fatal("content")
	}
}

func TestEditorSaveEmacs(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"conf"}, []string{"conf"})
	h.mkdir("conf")
	h.expect("conf")
	h.write("conf/LOG_LEVEL", "info")
	h.expect("conf")
	// Lock link, autosave, backup rename, new file, unlock.
	if err := os.Symlink("user@host.1234", h.path("conf/.#LOG_LEVEL")); err != nil {
		t.Fatal(err)
	}
	h.write("conf/#LOG_LEVEL#", "debug")
	h.rename("conf/LOG_LEVEL", "conf/LOG_LEVEL~")
	h.write("conf/LOG_LEVEL", "debug")
	h.remove("conf/#LOG_LEVEL#")
	h.remove("conf/.#LOG_LEVEL")
	h.expect("conf")
	// Only temp and backup files: nothing to do.
	h.write("conf/#LOG_LEVEL#", "x")
	h.write("conf/.LOG_LEVEL.swp", "x")
	h.remove("conf/LOG_LEVEL~")
	h.expectNothing()
}

// The events of a 200-write burst all land in one pending batch, which
// names the file once.
func TestBurstCoalesces(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"burst.env"}, nil)
	for i := 0; i < 200; i++ {
		h.write("burst.env", "N="+strings.Repeat("x", i)+"\n")
	}
	h.expect("burst.env")
}

func TestUnrelatedFilesAreIgnored(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"values.yaml"}, nil)
	h.write("README.md", "x")
	h.write("other.yaml", "x")
	h.mkdir("subdir")
	h.write("subdir/x", "x")
	h.expectNothing()
}

func TestDirectorySourceDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, nil, []string{"conf"})
	h.mkdir("conf")
	h.write("conf/A", "1")
	h.expect("conf")
	h.remove("conf")
	h.expect("conf")
	h.mkdir("conf")
	h.expect("conf")
	// The new directory is watched: a file written into it is seen.
	h.write("conf/B", "2")
	h.expect("conf")
	// Replaced by rename (some tools swap whole directories).
	h.mkdir("conf.new")
	h.write("conf.new/C", "3")
	h.expectNothing()
	h.remove("conf")
	h.rename("conf.new", "conf")
	h.expect("conf")
	h.write("conf/D", "4")
	h.expect("conf")
}

func TestMissingParentIsWatchedWhenCreated(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"deep/config/team.env"}, nil)
	h.mkdir("deep/config")
	h.expect("deep/config/team.env")
	h.write("deep/config/team.env", "A=1\n")
	h.expect("deep/config/team.env")
	h.write("deep/config/team.env", "A=2\n")
	h.expect("deep/config/team.env")
}

// `mkdir -p deep/config && echo A=1 > deep/config/team.env` can create
// config after the watch found it missing (on deep's Create event) and
// before the watch on deep is in place: then no event ever says config
// appeared. A real mkdir lands in that window now and then (it failed CI
// as "no batch" for the save after the mkdir); the hook puts it there
// every time. The save before the watches were in place is read with the
// batch of deep's Create event, and every later save is seen.
func TestDirectoryCreatedBeforeItsParentIsWatched(t *testing.T) {
	t.Parallel()
	var raced atomic.Bool
	h := startFSHarness(t, []string{"deep/config/team.env"}, nil, func(dir string) {
		if filepath.Base(dir) != "deep" || raced.Swap(true) {
			return
		}
		if err := os.Mkdir(filepath.Join(dir, "config"), 0o755); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config", "team.env"), []byte("A=1\n"), 0o644); err != nil {
			t.Error(err)
		}
	})
	h.mkdir("deep")
	h.expect("deep/config/team.env")
	if !raced.Load() {
		t.Fatal("the watch on deep was added without the hook: the race was not reproduced")
	}
	if h.content("deep/config/team.env") != "A=1\n" {
		t.Fatal("content")
	}
	h.write("deep/config/team.env", "A=2\n")
	h.expect("deep/config/team.env")
	h.write("deep/config/team.env", "A=3\n")
	h.expect("deep/config/team.env")
}

// The same without a hook, as a user's script does it, many times over:
// each target's directories and file are created in one go.
func TestNestedDirectoriesCreatedInOneGo(t *testing.T) {
	t.Parallel()
	const n = 50
	var targets []string
	for i := 0; i < n; i++ {
		targets = append(targets, fmt.Sprintf("t%d/a/b/team.env", i))
	}
	h := newFSHarness(t, targets, nil)
	for _, target := range targets {
		h.mkdir(filepath.Dir(target))
		h.write(target, "A=1\n")
		h.expect(target)
		h.write(target, "A=2\n")
		h.expect(target)
	}
}

func TestSourceFileDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	h := newFSHarness(t, []string{"s.env"}, []string{"s.env"})
	h.write("s.env", "A=1\n")
	h.expect("s.env")
	h.remove("s.env")
	h.expect("s.env")
	h.write("s.env", "A=2\n")
	h.expect("s.env")
}
