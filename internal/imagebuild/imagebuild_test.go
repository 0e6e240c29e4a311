package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/build"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func project(t *testing.T) Spec {
	dir := t.TempDir()
	write(t, dir, "Dockerfile", "FROM dagster\nCOPY requirements.txt .\n")
	write(t, dir, "requirements.txt", "pandas\n")
	write(t, dir, "definitions.py", "x = 1\n")
	write(t, dir, ".git/HEAD", "ref\n")
	write(t, dir, "__pycache__/d.pyc", "\x00")
	return Spec{Location: "analytics", Context: dir, Dockerfile: "Dockerfile", Repository: "team/analytics"}
}

func ref(t *testing.T, s Spec) string {
	t.Helper()
	r, err := s.Ref()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRefIsAContentTag(t *testing.T) {
	s := project(t)
	r1 := ref(t, s)
	if !strings.HasPrefix(r1, "team/analytics:"+TagPrefix) || len(r1) != len("team/analytics:"+TagPrefix)+16 {
		t.Fatalf("ref %q", r1)
	}
	if ref(t, s) != r1 {
		t.Error("the same inputs gave another tag")
	}
	// A code edit changes the tag of an image that holds the code...
	write(t, s.Context, "definitions.py", "x = 2\n")
	r2 := ref(t, s)
	if r2 == r1 {
		t.Error("a code edit did not change the full-context tag")
	}
	// ... but not of one whose code is mounted (a path location).
	s.DependenciesOnly = true
	d1 := ref(t, s)
	write(t, s.Context, "definitions.py", "x = 3\n")
	if ref(t, s) != d1 {
		t.Error("a code edit changed the dependencies-only tag")
	}
	write(t, s.Context, "requirements.txt", "pandas==2.2\n")
	if ref(t, s) == d1 {
		t.Error("a requirements edit did not change the tag")
	}
	// Caches and VCS data never count.
	d2 := ref(t, s)
	s.DependenciesOnly = false
	f1 := ref(t, s)
	write(t, s.Context, ".git/HEAD", "other\n")
	write(t, s.Context, "__pycache__/d.pyc", "\x01")
	if ref(t, s) != f1 {
		t.Error(".git or __pycache__ changed the tag")
	}
	_ = d2
}

func TestDockerignoreAndMissingDockerfile(t *testing.T) {
	s := project(t)
	write(t, s.Context, ".dockerignore", "data/\n*.csv\n!keep.csv\nDockerfile\n")
	write(t, s.Context, "data/big.bin", "x")
	write(t, s.Context, "a.csv", "x")
	write(t, s.Context, "keep.csv", "x")
	files, err := s.files()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "definitions.py", "keep.csv", "requirements.txt"}
	if !slices.Equal(files, want) {
		t.Errorf("context files %v, want %v", files, want)
	}
	s.Dockerfile = "build/Dockerfile"
	if _, err := s.Ref(); err == nil || !strings.Contains(err.Error(), "no Dockerfile build/Dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
}

// engine is a Docker stand-in that records the context it is sent and
// answers with canned build output (the engine's JSON lines). The real
// engine is used by the e2e bench and by `up` on the harness.
type engine struct {
	output string
	err    error
	sent   []string
	opts   build.ImageBuildOptions
}

func (e *engine) ImageBuild(_ context.Context, r io.Reader, o build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	e.opts = o
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		e.sent = append(e.sent, h.Name)
	}
	if e.err != nil {
		return build.ImageBuildResponse{}, e.err
	}
	return build.ImageBuildResponse{Body: io.NopCloser(bytes.NewBufferString(e.output))}, nil
}

func TestBuildStreamsTheContextAndReadsTheImageID(t *testing.T) {
	s := project(t)
	e := &engine{output: `{"stream":"Step 1/2 : FROM dagster\n"}` + "\n" + `{"stream":" ---> abc\n"}` + "\n" + `{"aux":{"ID":"sha256:0123456789abcdef"}}` + "\n"}
	var lines []string
	id, err := Build(context.Background(), e, s, "team/analytics:dd-x", func(l string) { lines = append(lines, l) })
	if err != nil || id != "sha256:0123456789abcdef" {
		t.Fatalf("id %q err %v", id, err)
	}
	if !slices.Equal(e.sent, []string{"Dockerfile", "definitions.py", "requirements.txt"}) {
		t.Errorf("sent %v", e.sent)
	}
	if !slices.Equal(e.opts.Tags, []string{"team/analytics:dd-x"}) || e.opts.Labels["dagster-dev.io/code-location"] != "analytics" {
		t.Errorf("options %+v", e.opts)
	}
	if !slices.Equal(lines, []string{"Step 1/2 : FROM dagster", " ---> abc"}) {
		t.Errorf("progress %q", lines)
	}
}

func TestBuildFailureCarriesTheOutput(t *testing.T) {
	s := project(t)
	e := &engine{output: `{"stream":"Step 2/2 : RUN pip install nope\n"}` + "\n" + `{"stream":"ERROR: No matching distribution found for nope\n"}` + "\n" +
		`{"errorDetail":{"message":"The command '/bin/sh -c pip install nope' returned a non-zero code: 1"},"error":"The command '/bin/sh -c pip install nope' returned a non-zero code: 1"}` + "\n"}
	_, err := Build(context.Background(), e, s, "team/analytics:dd-x", nil)
	var be *Error
	if !errors.As(err, &be) || !strings.Contains(be.Error(), "returned a non-zero code: 1") || !strings.Contains(be.Details(), "No matching distribution found for nope") || be.Fix() == "" {
		t.Fatalf("%v", err)
	}
	e = &engine{err: errors.New("Cannot connect to the Docker daemon")}
	if _, err := Build(context.Background(), e, s, "r:t", nil); err == nil || !strings.Contains(err.Error(), "Cannot connect") {
		t.Errorf("%v", err)
	}
}
