package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/dagster-dev/dagster-dev/sources"
)

// fileWatch turns fsnotify events into the watched paths they concern.
//
// It watches parent directories, never the files: editors save by writing
// a temp file and renaming it over the original, and a watch on the file
// itself is gone after the first such save (fsnotify#134, #255). Directory
// sources are also watched themselves, for their files. A directory that
// does not exist yet is covered by its nearest existing ancestor until it
// appears.
type fileWatch struct {
	w *fsnotify.Watcher
	// targets are the watched files and source directories.
	targets map[string]bool
	// dirTargets are targets whose direct children count (directory
	// sources, or auto sources that may be directories).
	dirTargets map[string]bool
	// code are the path code locations, watched recursively; nil or empty
	// when there are none.
	code *codeTree
	// beforeAdd, when set (tests only), runs just before ensure adds a
	// watch: a test creates a directory there, in the window a real
	// `mkdir -p` hits only now and then, to prove ensure does not lose it.
	beforeAdd func(dir string)
}

func newFileWatch(files, dirs []string, code *codeTree) (*fileWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, inotifyHint(err)
	}
	f := &fileWatch{w: w, targets: map[string]bool{}, dirTargets: map[string]bool{}, code: code}
	for _, p := range files {
		f.targets[filepath.Clean(p)] = true
	}
	for _, p := range dirs {
		f.targets[filepath.Clean(p)] = true
		f.dirTargets[filepath.Clean(p)] = true
	}
	if err := f.ensure(); err != nil {
		w.Close()
		return nil, err
	}
	if code != nil {
		for _, r := range code.roots {
			if _, err := f.addTree(r, r.dir); err != nil {
				w.Close()
				return nil, err
			}
		}
	}
	return f, nil
}

// addTree watches dir and every directory below it that is not ignored,
// and returns the files found: when a directory appears (a checkout, a
// moved package), its files were written before the watch saw them.
func (f *fileWatch) addTree(r *codeRoot, dir string) ([]string, error) {
	files, err := r.walk(dir, func(d string) error {
		if err := f.w.Add(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", d, inotifyHint(err))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("watching code location %s: %w", r.loc.Name, err)
	}
	return files, nil
}

// matchCode returns the changed files of code locations an event
// concerns. ok is false when the event is outside every location.
func (f *fileWatch) matchCode(ev fsnotify.Event) (hits []string, ok bool, err error) {
	if f.code == nil {
		return nil, false, nil
	}
	name := filepath.Clean(ev.Name)
	roots := f.code.rootsOf(name)
	if len(roots) == 0 {
		return nil, false, nil
	}
	if ev.Op == fsnotify.Chmod {
		return nil, true, nil
	}
	gone := ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	st, statErr := os.Lstat(name)
	isDir := statErr == nil && st.IsDir()
	for _, r := range roots {
		if gone && statErr != nil {
			// Gone: it may have been a directory or a file.
			if r.ignored(name, true) || r.ignored(name, false) {
				continue
			}
			hits = append(hits, name)
			continue
		}
		if r.ignored(name, isDir) {
			continue
		}
		if filepath.Base(name) == ".gitignore" {
			r.load()
		}
		if isDir {
			if ev.Has(fsnotify.Create) {
				files, err := f.addTree(r, name)
				if err != nil {
					return hits, true, err
				}
				hits = append(hits, files...)
			}
			continue
		}
		if statErr == nil && !st.Mode().IsRegular() {
			continue // sockets, fifos, device files: not code
		}
		hits = append(hits, name)
	}
	return hits, true, nil
}

func (f *fileWatch) Close() error { return f.w.Close() }

// ensure (re)adds the directory watches. It is called at start and after
// any event that may have created or replaced a directory; adding a watch
// that exists is a no-op for the kernel.
//
// A directory created after ensure found it missing but before the watch
// on its parent was added raises no event anywhere: `mkdir -p a/b` racing
// the Create event of a left b unwatched, and every later save in b
// unseen. So ensure looks again after adding watches, until a look finds
// no directory it has not just watched: a directory created after that
// look is created in a watched one, which reports it. Nothing else is
// lost: the Create event of a (the event that called ensure, or one still
// queued) names every target below a, so the files written in b before
// its watch existed are read anyway.
func (f *fileWatch) ensure() error {
	added := map[string]bool{}
	// The looks end when directories stop appearing; the cap only bounds
	// a tree created and removed over and over, whose events call ensure
	// again anyway.
	for look := 0; look < 100; look++ {
		var fresh []string
		for d := range f.wanted() {
			if !added[d] {
				fresh = append(fresh, d)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		slices.Sort(fresh)
		for _, d := range fresh {
			if f.beforeAdd != nil {
				f.beforeAdd(d)
			}
			if err := f.w.Add(d); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // gone again: the next look watches its parent
				}
				return fmt.Errorf("watching %s: %w", d, inotifyHint(err))
			}
			added[d] = true
		}
	}
	return nil
}

// wanted is the set of directories to watch: each target's nearest
// existing ancestor, and each directory target that exists.
func (f *fileWatch) wanted() map[string]bool {
	want := map[string]bool{}
	for t := range f.targets {
		want[existingAncestor(filepath.Dir(t))] = true
		if f.dirTargets[t] {
			if st, err := os.Stat(t); err == nil && st.IsDir() {
				want[t] = true
			}
		}
	}
	return want
}

func existingAncestor(dir string) string {
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// match returns the targets an event concerns (none for noise) and whether
// the watches need refreshing because a directory may have come or gone.
func (f *fileWatch) match(ev fsnotify.Event) (hits []string, rewatch bool) {
	// Chmod alone is noise (Spotlight, antivirus, backup tools touch
	// attributes); content changes come with Write/Create/Rename/Remove.
	if ev.Op == fsnotify.Chmod {
		return nil, false
	}
	name := filepath.Clean(ev.Name)
	structural := ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	if f.targets[name] {
		return []string{name}, structural && f.dirTargets[name]
	}
	parent := filepath.Dir(name)
	if f.dirTargets[parent] {
		base := filepath.Base(name)
		if strings.HasPrefix(base, ".") || sources.IsEditorTemp(base) {
			return nil, false
		}
		return []string{parent}, false
	}
	if !structural {
		return nil, false
	}
	// A directory on the way to a target appeared or went away.
	prefix := name + string(filepath.Separator)
	for t := range f.targets {
		if strings.HasPrefix(t, prefix) {
			hits = append(hits, t)
		}
	}
	return hits, len(hits) > 0
}

// inotifyHint explains the Linux limits behind "too many open files" and
// "no space left on device", which kind clusters make common (kind's
// known-issues page).
func inotifyHint(err error) error {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return fmt.Errorf("%w (raise the inotify instance limit: sudo sysctl fs.inotify.max_user_instances=512)", err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w (raise the inotify watch limit: sudo sysctl fs.inotify.max_user_watches=524288)", err)
	}
	return err
}
