// Package imagebuild builds a code location's image from its Dockerfile
// through the Docker Engine API and names it by content: the tag is a hash
// of what the build reads, so the same inputs give the same tag on every
// machine and run, and a changed input gives a new tag, which rolls exactly
// the location's pods.
package imagebuild

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Spec is one location's build.
type Spec struct {
	// Location names the code location, for messages.
	Location string
	// Context is the build context directory (absolute).
	Context string
	// Dockerfile is relative to Context.
	Dockerfile string
	// Repository is the image name the content tag is added to.
	Repository string
	// DependenciesOnly is set when the location's code is mounted from
	// the host (a path location): the tag then hashes only the Dockerfile
	// and the dependency files, so a code edit, which a reload picks up,
	// never asks for a new image.
	DependenciesOnly bool
}

// TagPrefix starts every content tag, so they are told from a user's own.
const TagPrefix = "dd-"

// IsDependencyFile reports whether a file name defines a Python
// environment rather than code: requirements files, packaging metadata,
// lock files, the Dockerfile.
func IsDependencyFile(base string) bool {
	switch base {
	case "pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "Dockerfile":
		return true
	}
	return strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt")
}

// skippedDirs are never sent to the engine nor hashed: caches and VCS
// data that no Dockerfile should COPY, and that can be large.
var skippedDirs = map[string]bool{".git": true, "__pycache__": true, ".mypy_cache": true, ".pytest_cache": true, ".ruff_cache": true, ".venv": true, "node_modules": true}

// files lists the context's files the build sends, honouring
// .dockerignore (Docker's own matcher, moby/patternmatcher), sorted.
func (s Spec) files() ([]string, error) {
	var excludes []string
	if f, err := os.Open(filepath.Join(s.Context, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(s.Context, ".dockerignore"), err)
		}
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(s.Context, ".dockerignore"), err)
	}
	var out []string
	err = filepath.WalkDir(s.Context, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Context, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if skippedDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		// The Dockerfile is always sent, as docker build does.
		if rel != filepath.ToSlash(s.Dockerfile) {
			if ok, err := pm.MatchesOrParentMatches(rel); err != nil || ok {
				return err
			}
		}
		if d.Type().IsRegular() {
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Ref is the content-tagged image reference: Repository:dd-<hash>.
func (s Spec) Ref() (string, error) {
	files, err := s.files()
	if err != nil {
		return "", fmt.Errorf("code location %s: reading the build context %s: %w", s.Location, s.Context, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %s\n", filepath.ToSlash(s.Dockerfile))
	found := false
	for _, rel := range files {
		if s.DependenciesOnly && !IsDependencyFile(filepath.Base(rel)) && rel != filepath.ToSlash(s.Dockerfile) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Context, filepath.FromSlash(rel)))
		if err != nil {
			return "", fmt.Errorf("code location %s: %w", s.Location, err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s %x\n", rel, sum)
		found = found || rel == filepath.ToSlash(s.Dockerfile)
	}
	if !found {
		return "", fmt.Errorf("code location %s: no Dockerfile %s in the build context %s", s.Location, s.Dockerfile, s.Context)
	}
	return s.Repository + ":" + TagPrefix + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Docker is the part of the Docker Engine API a build needs.
type Docker interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

// Error is a build that failed: the engine's message and the last lines
// of the build output.
type Error struct {
	Location string
	Ref      string
	Msg      string
	Output   []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("building the image of code location %s (%s): %s", e.Location, e.Ref, e.Msg)
}

// Fix says where to look.
func (e *Error) Fix() string {
	return "fix the Dockerfile or the dependency files it installs; the build output above shows the failing step"
}

// Details is the end of the build output.
func (e *Error) Details() string { return strings.Join(e.Output, "\n") }

// Build builds s as ref (Ref's answer) with the classic builder and sends
// each line of the build's output to progress (nil discards). It returns
// the image ID.
//
// The classic builder is used because a BuildKit build through the Engine
// API needs a client-side session for the context; the resulting image is
// the same for a Dockerfile that uses no BuildKit-only syntax.
func Build(ctx context.Context, dc Docker, s Spec, ref string, progress func(string)) (string, error) {
	files, err := s.files()
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, s.Context, files)) }()
	resp, err := dc.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  filepath.ToSlash(s.Dockerfile),
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Labels:      map[string]string{"dagster-dev.io/code-location": s.Location},
	})
	if err != nil {
		pr.CloseWithError(err)
		return "", &Error{Location: s.Location, Ref: ref, Msg: err.Error()}
	}
	defer resp.Body.Close()
	return readBuildOutput(resp.Body, s, ref, progress)
}

// buildMessage is one JSON line of the engine's build output.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux *struct {
		ID string `json:"ID"`
	} `json:"aux"`
}

func readBuildOutput(r io.Reader, s Spec, ref string, progress func(string)) (string, error) {
	var tail []string
	var id string
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m buildMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", &Error{Location: s.Location, Ref: ref, Msg: "reading the build output: " + err.Error(), Output: tail}
		}
		for _, line := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
			if line == "" {
				continue
			}
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			if progress != nil {
				progress(line)
			}
		}
		if m.Aux != nil && m.Aux.ID != "" {
			id = m.Aux.ID
		}
		if m.Error != "" {
			return "", &Error{Location: s.Location, Ref: ref, Msg: m.Error, Output: tail}
		}
	}
	if id == "" {
		return "", &Error{Location: s.Location, Ref: ref, Msg: "the engine did not report an image ID", Output: tail}
	}
	return id, nil
}

// writeTar writes the build context: the listed files, with stable
// headers so that the same files make the same archive.
func writeTar(w io.Writer, dir string, files []string) error {
	tw := tar.NewWriter(w)
	for _, rel := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, Mode: int64(st.Mode().Perm()), Size: st.Size(), Typeflag: tar.TypeReg, ModTime: st.ModTime()}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, st.Size())
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
