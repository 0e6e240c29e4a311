package watch

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
	"github.com/dagster-dev/dagster-dev/sources"
)

// codeTree is the set of `path` code locations watch follows: each
// location's directory, recursively, minus what never changes the code a
// code server loads (caches, virtualenvs, VCS data, editor temp files) and
// what the project's .gitignore files ignore. Gitignore rules are matched
// with go-git's gitignore package (the rules git itself applies, negation
// and `**` included).
type codeTree struct {
	roots []*codeRoot
}

// codeRoot is one location's directory.
type codeRoot struct {
	loc config.CodeLocation
	dir string // absolute, cleaned

	mu sync.Mutex
	// patterns are the .gitignore rules found so far, by the directory
	// whose .gitignore holds them (rules apply below their directory).
	patterns map[string][]gitignore.Pattern
	matcher  gitignore.Matcher
}

// FileKind says what a changed file means for its location.
type FileKind int

const (
	// KindCode is any project file the code server may read: a reload
	// picks it up.
	KindCode FileKind = iota
	// KindDependency is a file that defines the location's image
	// (requirements, pyproject, setup.py, the Dockerfile): a reload cannot
	// install what it lists.
	KindDependency
)

// alwaysIgnoredDirs never hold code a code server loads, and some hold
// thousands of files (a virtualenv, node_modules) that must not be watched.
var alwaysIgnoredDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true,
	"__pycache__": true, ".mypy_cache": true, ".pytest_cache": true, ".ruff_cache": true,
	".ipynb_checkpoints": true, ".tox": true, ".nox": true, ".venv": true, "venv": true,
	"node_modules": true, ".idea": true, ".vscode": true, ".dagster": true, ".eggs": true,
}

func newCodeTree(cfg *config.Config) *codeTree {
	t := &codeTree{}
	for _, l := range cfg.CodeLocations {
		if l.Path == "" {
			continue
		}
		r := &codeRoot{loc: l, dir: filepath.Clean(cfg.Resolve(l.Path))}
		r.load()
		t.roots = append(t.roots, r)
	}
	return t
}

// load reads the .gitignore files of the location's tree and of the
// directories above it up to the enclosing git repository's root (a
// project's .gitignore often sits at the repository root).
func (r *codeRoot) load() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.patterns = map[string][]gitignore.Pattern{}
	for d := filepath.Dir(r.dir); ; d = filepath.Dir(d) {
		r.readIgnoreFile(d)
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil || filepath.Dir(d) == d {
			break
		}
	}
	r.rebuildLocked()
	if r.matcher.Match(splitPath(r.dir), true) {
		// The rules above ignore the location's directory itself (a
		// scratch or generated project): declaring it as a location says
		// otherwise, and they would ignore every file in it.
		r.patterns = map[string][]gitignore.Pattern{}
	}
	_ = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != r.dir && r.ignoredLocked(p, true) {
			return filepath.SkipDir
		}
		if r.readIgnoreFile(p) {
			r.rebuildLocked()
		}
		return nil
	})
	r.rebuildLocked()
}

// readIgnoreFile adds dir/.gitignore's rules and reports whether it found
// any; a missing or unreadable file adds none.
func (r *codeRoot) readIgnoreFile(dir string) bool {
	f, err := os.Open(filepath.Join(dir, ".gitignore"))
	if err != nil {
		return false
	}
	defer f.Close()
	domain := splitPath(dir)
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	r.patterns[dir] = ps
	return len(ps) > 0
}

func (r *codeRoot) rebuildLocked() {
	// Rules of deeper directories come later: gitignore gives the last
	// matching rule precedence, and a subdirectory's file overrides its
	// parent's.
	dirs := make([]string, 0, len(r.patterns))
	for d := range r.patterns {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(a, b string) int { return len(a) - len(b) })
	var all []gitignore.Pattern
	for _, d := range dirs {
		all = append(all, r.patterns[d]...)
	}
	r.matcher = gitignore.NewMatcher(all)
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(filepath.ToSlash(p), "/"), "/")
}

// contains reports whether p is the root or below it.
func (r *codeRoot) contains(p string) bool {
	return p == r.dir || strings.HasPrefix(p, r.dir+string(filepath.Separator))
}

// ignored reports whether p (below the root) is outside what a reload
// needs: a name that is always ignored, on any level below the root, or a
// path the .gitignore rules ignore.
func (r *codeRoot) ignored(p string, isDir bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ignoredLocked(p, isDir)
}

func (r *codeRoot) ignoredLocked(p string, isDir bool) bool {
	rel, err := filepath.Rel(r.dir, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, part := range parts {
		last := i == len(parts)-1
		if (!last || isDir) && (alwaysIgnoredDirs[part] || strings.HasSuffix(part, ".egg-info")) {
			return true
		}
	}
	base := parts[len(parts)-1]
	if !isDir && (sources.IsEditorTemp(base) || strings.HasSuffix(base, ".pyc") || strings.HasSuffix(base, ".pyo")) {
		return true
	}
	if isDir {
		// A virtualenv by any name.
		if _, err := os.Stat(filepath.Join(p, "pyvenv.cfg")); err == nil {
			return true
		}
	}
	return r.matcher != nil && r.matcher.Match(splitPath(p), isDir)
}

// kind classifies a changed file of the location.
func (r *codeRoot) kind(p string) FileKind {
	base := filepath.Base(p)
	if imagebuild.IsDependencyFile(base) {
		return KindDependency
	}
	return KindCode
}

// root returns the locations p belongs to (nested locations share files).
func (t *codeTree) rootsOf(p string) []*codeRoot {
	var out []*codeRoot
	for _, r := range t.roots {
		if r.contains(p) {
			out = append(out, r)
		}
	}
	return out
}

// walk calls onDir for dir and every directory below it that is not
// ignored, before reading it, and lists the files in them: a watch added by
// onDir is in place before the directory is listed, so a file created
// meanwhile is either listed or seen as an event. A directory that
// vanishes during the walk (a checkout in progress) is skipped, not an
// error: its removal is an event of its own.
func (r *codeRoot) walk(dir string, onDir func(string) error) (files []string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if p == dir {
				return err
			}
			return nil
		}
		if d.IsDir() {
			if p != r.dir && r.ignored(p, true) {
				return filepath.SkipDir
			}
			return onDir(p)
		}
		if !r.ignored(p, false) && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return files, err
}
