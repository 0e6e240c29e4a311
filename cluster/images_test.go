package cluster

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func imageWithID(id string) image.InspectResponse { return image.InspectResponse{ID: id} }

func TestNormalizeRef(t *testing.T) {
	cases := []struct {
		in, ref string
		tagged  bool
	}{
		{"postgres:15", "docker.io/library/postgres:15", true},
		{"dagster-dev.local/dagster:1.13.27", "dagster-dev.local/dagster:1.13.27", true},
		{"myorg/app", "docker.io/myorg/app:latest", true},
		{"localhost:5000/app:v1", "localhost:5000/app:v1", true},
		{"busybox@sha256:" + strings.Repeat("a", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64), false},
	}
	for _, c := range cases {
		ref, tagged, err := normalizeRef(c.in)
		if err != nil || ref != c.ref || tagged != c.tagged {
			t.Errorf("normalizeRef(%q) = %q, %v, %v; want %q, %v", c.in, ref, tagged, err, c.ref, c.tagged)
		}
	}
	if _, _, err := normalizeRef("Not A Ref"); err == nil {
		t.Error("invalid reference accepted")
	}
}

func TestLoadImagesMissingImagesNameEachAndTouchNothing(t *testing.T) {
	f := newFakeDocker()
	f.images["dagster-dev.local/dagster:1.13.27"] = imageWithID("sha256:aaa")
	f.addNode("dd", "dd-control-plane", RoleControlPlane, "running", img134, nil)
	p := NewProvider(withDocker(f))
	reported := 0
	res, err := p.LoadImages(context.Background(), "dd",
		[]string{"dagster-dev.local/dagster:1.13.27", "my/app:dev", "other:1", "my/app:dev"},
		func(ImageLoad) { reported++ })
	if err == nil {
		t.Fatal("LoadImages with missing images succeeded")
	}
	var missing []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var me *MissingImageError
		if !errors.As(e, &me) {
			t.Errorf("unexpected error %v", e)
			continue
		}
		missing = append(missing, me.Image)
	}
	if strings.Join(missing, ",") != "my/app:dev,other:1" {
		t.Errorf("missing = %v (duplicates must be reported once)", missing)
	}
	for _, s := range []string{`image "my/app:dev" is not in the local Docker image store`, "docker build -t my/app:dev", "docker pull my/app:dev", "images:"} {
		if !strings.Contains(shown(err), s) {
			t.Errorf("message lacks %q: %s", s, err)
		}
	}
	if len(res) != 0 || reported != 0 || f.saves != 0 {
		t.Errorf("something was loaded: results %v, reported %d, saves %d", res, reported, f.saves)
	}
}

func TestLoadImagesClusterProblems(t *testing.T) {
	f := newFakeDocker()
	f.images["app:1"] = imageWithID("sha256:aaa")
	p := NewProvider(withDocker(f))
	_, err := p.LoadImages(context.Background(), "dd", []string{"app:1"}, nil)
	if err == nil || !strings.Contains(err.Error(), `kind cluster "dd" does not exist`) {
		t.Errorf("absent cluster: %v", err)
	}
	f.addNode("dd", "dd-control-plane", RoleControlPlane, "exited", img134, nil)
	_, err = p.LoadImages(context.Background(), "dd", []string{"app:1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "dd-control-plane (exited)") || !strings.Contains(err.Error(), "dagster-dev up") {
		t.Errorf("stopped node: %v", err)
	}
	if res, err := p.LoadImages(context.Background(), "dd", nil, nil); res != nil || err != nil {
		t.Errorf("no images: %v, %v", res, err)
	}
}

func TestLoadImagesWarnsAboutLatest(t *testing.T) {
	f := newFakeDocker()
	f.images["app"] = imageWithID("sha256:aaa")
	log := &recLogger{}
	p := NewProvider(withDocker(f), WithLogger(log))
	_, _ = p.LoadImages(context.Background(), "absent", []string{"app"}, nil)
	if len(log.warns) != 1 || !strings.Contains(log.warns[0], "imagePullPolicy") {
		t.Errorf("warnings = %v", log.warns)
	}
}

func TestSaveSettings(t *testing.T) {
	f := newFakeDocker()
	f.serverVersion = types.Version{Os: "linux", Arch: "arm64"}
	p := NewProvider(withDocker(f))
	ctx := context.Background()

	s := p.saveSettings(ctx, f, system.Info{})
	if s.platform == nil || formatPlatform(*s.platform) != "linux/arm64" || s.containerdStore {
		t.Errorf("API 1.50 classic store: %+v", s)
	}

	f.apiVersion = "1.47"
	log := &recLogger{}
	p = NewProvider(withDocker(f), WithLogger(log))
	info := system.Info{DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}
	s = p.saveSettings(ctx, f, info)
	if s.platform != nil || !s.containerdStore {
		t.Errorf("API 1.47 containerd store: %+v", s)
	}
	if len(log.warns) != 1 || !strings.Contains(log.warns[0], "kind#3795") {
		t.Errorf("warnings = %v", log.warns)
	}
	// Old API, classic store: nothing to warn about.
	log.warns = nil
	if s = p.saveSettings(ctx, f, system.Info{}); s.platform != nil || len(log.warns) != 0 {
		t.Errorf("API 1.47 classic: %+v, %v", s, log.warns)
	}
}

func TestInspectAsksForManifestsOnlyWhenSupported(t *testing.T) {
	f := newFakeDocker()
	f.images["app:1"] = imageWithID("sha256:aaa")
	p := NewProvider(withDocker(f))
	if _, err := p.inspectLocalImages(context.Background(), f, []string{"app:1"}); err != nil {
		t.Fatal(err)
	}
	f.apiVersion = "1.41"
	if _, err := p.inspectLocalImages(context.Background(), f, []string{"app:1"}); err != nil {
		t.Fatal(err)
	}
	if f.inspectOpts != 1 {
		t.Errorf("inspect calls with options = %d, want 1 (only on API >= 1.48)", f.inspectOpts)
	}
}

func TestImageDigests(t *testing.T) {
	idx := ocispec.Descriptor{Digest: "sha256:index"}
	ins := image.InspectResponse{
		ID:         "sha256:index",
		Descriptor: &idx,
		Manifests: []image.ManifestSummary{
			{Kind: image.ManifestKindImage, Descriptor: ocispec.Descriptor{Digest: "sha256:amd64"}},
			{Kind: image.ManifestKindAttestation, Descriptor: ocispec.Descriptor{Digest: "sha256:att"}},
		},
	}
	d := imageDigests(ins)
	if !d["sha256:index"] || !d["sha256:amd64"] || d["sha256:att"] || len(d) != 2 {
		t.Errorf("digests = %v", d)
	}
}

func TestCountingReader(t *testing.T) {
	c := &countingReader{r: strings.NewReader(strings.Repeat("x", 100000))}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != 100000 || c.n.Load() != 100000 {
		t.Errorf("copied %d, counted %d, %v", n, c.n.Load(), err)
	}
}

func TestDedupe(t *testing.T) {
	if got := strings.Join(dedupe([]string{"a", "", "b", "a", "c", "b"}), ","); got != "a,b,c" {
		t.Errorf("dedupe = %s", got)
	}
}
