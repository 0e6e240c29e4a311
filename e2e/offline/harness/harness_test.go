package harness

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestKeyStableAndSensitive(t *testing.T) {
	fsys := fstest.MapFS{
		"b/build.sh":  {Data: []byte("echo hi\n"), Mode: 0o755},
		"b/conf.yaml": {Data: []byte("x: 1\n"), Mode: 0o644},
		"other/x":     {Data: []byte("unrelated")},
	}
	key := func(fsys fstest.MapFS, version string) string {
		t.Helper()
		k, err := NewKey("img").Str("version", version).Files("builder", fsys, "b").Sum()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(fsys, "1.0")
	if len(base) != KeyLen || !isHex(base) {
		t.Fatalf("key %q: want %d hex digits", base, KeyLen)
	}
	if again := key(fsys, "1.0"); again != base {
		t.Fatalf("same inputs gave %s and %s", base, again)
	}
	if k := key(fsys, "1.1"); k == base {
		t.Fatal("version change did not change the key")
	}
	changed := fstest.MapFS{}
	for p, f := range fsys {
		c := *f
		changed[p] = &c
	}
	changed["b/build.sh"] = &fstest.MapFile{Data: []byte("echo ho\n"), Mode: 0o755}
	if k := key(changed, "1.0"); k == base {
		t.Fatal("builder content change did not change the key")
	}
	changed["b/build.sh"] = &fstest.MapFile{Data: []byte("echo hi\n"), Mode: 0o644}
	if k := key(changed, "1.0"); k == base {
		t.Fatal("executable bit change did not change the key")
	}
	changed["b/build.sh"] = fsys["b/build.sh"]
	changed["other/x"] = &fstest.MapFile{Data: []byte("changed")}
	if k := key(changed, "1.0"); k != base {
		t.Fatal("a file outside the hashed directory changed the key")
	}
	// value boundaries are part of the hash
	a, _ := NewKey("k").Str("ab", "c").Sum()
	b, _ := NewKey("k").Str("a", "bc").Sum()
	if a == b {
		t.Fatal(`("ab","c") and ("a","bc") collide`)
	}
	// the kind separates outputs with equal inputs
	n, _ := NewKey("node").Str("v", "1").Sum()
	d, _ := NewKey("dagster").Str("v", "1").Sum()
	if n == d {
		t.Fatal("kinds do not separate keys")
	}
	if _, err := NewKey("k").Files("missing", fsys, "nope").Sum(); err == nil {
		t.Fatal("hashing a missing directory did not fail")
	}
}

// The real builder tree hashes, and each image key covers its own builder.
func TestBuilderKeys(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{opt: Options{RepoRoot: repo}, memo: map[string]string{}, goVer: "go-test"}
	wk, err := h.wheelsKey()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{"wheels": wk}
	for _, b := range []imageBuild{
		h.rootfsImage("postgres", PostgresImage, postgresRootfs, nil, nil),
		h.rootfsImage("rabbitmq", RabbitMQImage, rabbitmqRootfs, nil, nil),
		h.rootfsImage("busybox", BusyboxImage, nodeRootfs, nil, nil),
	} {
		k, err := b.key(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", b.short, err)
		}
		for other, ok := range seen {
			if ok == k {
				t.Fatalf("%s and %s share key %s", b.short, other, k)
			}
		}
		seen[b.short] = k
		if _, err := os.Stat(filepath.Join(h.builders(), b.conf)); err != nil {
			t.Fatalf("%s: image config: %v", b.short, err)
		}
	}
}

func TestRootfsKey(t *testing.T) {
	a, _ := rootfsKey(rootfsSpec{name: "x", include: []string{"a", "b"}})
	b, _ := rootfsKey(rootfsSpec{name: "x", include: []string{"a", "b", "c"}})
	c, _ := rootfsKey(rootfsSpec{name: "y", include: []string{"a", "b"}})
	if a == b || a == c {
		t.Fatal("package list or name does not change the rootfs key")
	}
}

func TestDebianMirror(t *testing.T) {
	deb822 := `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`
	thirdParty := "deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] https://vendor.example/apt nodistro main\n"
	for _, tc := range []struct {
		name  string
		files []aptFile
		want  string
	}{
		{"deb822", []aptFile{{"debian.sources", deb822}}, "http://mirror.example/debian"},
		{"third party first", []aptFile{{"sources.list", thirdParty}, {"debian.sources", deb822}}, "http://mirror.example/debian"},
		{"one-line", []aptFile{{"sources.list", "# comment\ndeb http://m.example/debian/ bookworm main contrib\n"}}, "http://m.example/debian"},
		{"security only then main", []aptFile{{"sources.list", "deb http://s.example/debian-security bookworm-security main\ndeb http://m.example/debian stable main\n"}}, "http://m.example/debian"},
		{"disabled", []aptFile{{"a.sources", "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n"}, {"b.list", "deb http://on.example/debian bookworm main\n"}}, "http://on.example/debian"},
	} {
		got, err := debianMirror(tc.files)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := debianMirror([]aptFile{{"x.list", thirdParty}}); err == nil {
		t.Error("a third-party repository alone was taken for the Debian mirror")
	}
}

func TestCapBoundingHas(t *testing.T) {
	status := "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n"
	has, err := capBoundingHas(status, 24)
	if err != nil || has {
		t.Fatalf("CAP_SYS_RESOURCE reported present in 000001fffeffffff (err %v)", err)
	}
	has, err = capBoundingHas("CapBnd:\t000001ffffffffff\n", 24)
	if err != nil || !has {
		t.Fatalf("CAP_SYS_RESOURCE reported missing in 000001ffffffffff (err %v)", err)
	}
	if _, err := capBoundingHas("Name: x\n", 24); err == nil {
		t.Fatal("no error without a CapBnd line")
	}
}

func TestMergeDaemonJSON(t *testing.T) {
	out, changed, err := mergeDaemonJSON(nil, "rt", "/p/runc-wrap")
	if err != nil || !changed {
		t.Fatalf("empty: changed=%v err=%v", changed, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["default-runtime"] != "rt" || doc["runtimes"].(map[string]any)["rt"].(map[string]any)["path"] != "/p/runc-wrap" {
		t.Fatalf("unexpected %s", out)
	}
	// keeps other settings and runtimes; idempotent
	old := []byte(`{"log-level":"warn","max-concurrent-downloads":3,"runtimes":{"other":{"path":"/x"}}}`)
	out, changed, err = mergeDaemonJSON(old, "rt", "/p/runc-wrap")
	if err != nil || !changed {
		t.Fatalf("merge: changed=%v err=%v", changed, err)
	}
	for _, want := range []string{`"log-level": "warn"`, `"max-concurrent-downloads": 3`, `"other"`, `"default-runtime": "rt"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("merged daemon.json lacks %s:\n%s", want, out)
		}
	}
	again, changed, err := mergeDaemonJSON(out, "rt", "/p/runc-wrap")
	if err != nil || changed || string(again) != string(out) {
		t.Fatalf("second merge changed it: %v %v", changed, err)
	}
	if _, _, err := mergeDaemonJSON([]byte("{nope"), "rt", "/p"); err == nil {
		t.Fatal("invalid JSON accepted")
	}
}

func TestDefaultRouteIface(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	got, err := defaultRouteIface(table)
	if err != nil || got != "eth0" {
		t.Fatalf("got %q, %v; want eth0 (lowest metric)", got, err)
	}
	if _, err := defaultRouteIface("Iface\tDestination\n"); err == nil {
		t.Fatal("no error without a default route")
	}
	if got := strings.Join(RejectRuleArgs("eth0"), " "); got != "DOCKER-USER -o eth0 -j REJECT" {
		t.Fatalf("rule %q", got)
	}
}

func TestParseK8sGoMod(t *testing.T) {
	gomod := `module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
	github.com/x/y v1.2.3
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/x/y => github.com/x/y v1.2.4
)
`
	staging, godebug := parseK8sGoMod(gomod)
	if strings.Join(staging, ",") != "k8s.io/api,k8s.io/client-go" {
		t.Fatalf("staging = %v", staging)
	}
	if strings.Join(godebug, ",") != "default=go1.24" {
		t.Fatalf("godebug = %v", godebug)
	}
	text := k8sGoModText("v1.34.4", "v0.34.4", staging, godebug)
	for _, want := range []string{"require k8s.io/kubernetes v1.34.4", "k8s.io/api => k8s.io/api v0.34.4", "k8s.io/client-go => k8s.io/client-go v0.34.4", "godebug (\n\tdefault=go1.24\n)"} {
		if !strings.Contains(text, want) {
			t.Errorf("go.mod text lacks %q:\n%s", want, text)
		}
	}
}

func TestParseImageConfig(t *testing.T) {
	c, err := parseImageConfig([]string{"ENV PATH=/a:/b", "ENV X=1=2", `ENTRYPOINT ["/pause"]`, `CMD ["sh", "-c", "x"]`, "USER 65532", "WORKDIR /w"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Env, ";") != "PATH=/a:/b;X=1=2" || c.Entrypoint[0] != "/pause" || len(c.Cmd) != 3 || c.User != "65532" || c.WorkingDir != "/w" {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []string{"ENV NOVALUE", "CMD sh -c x", "RUN echo"} {
		if _, err := parseImageConfig([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWriteDockerArchive(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("tool", filepath.Join(root, "bin", "alias"))
	r := &Runner{Out: io.Discard, LogDir: filepath.Join(dir, "logs")}
	out := filepath.Join(dir, "images.tar")
	err := r.Do("archive", func(s *Step) (Status, error) {
		return Built, writeDockerArchive(context.Background(), s, out, filepath.Join(dir, "work"), []archiveImage{
			{Ref: "registry.example/a:1", Root: root, Config: []string{`ENTRYPOINT ["/bin/tool"]`}},
			{Ref: "registry.example/b:1", Root: root, Config: []string{"ENV A=b"}},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, out)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 2 || manifest[0].RepoTags[0] != "registry.example/a:1" {
		t.Fatalf("manifest %+v", manifest)
	}
	for _, m := range manifest {
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
			t.Fatal(err)
		}
		layer := files[m.Layers[0]]
		if layer == nil {
			t.Fatalf("layer %s missing", m.Layers[0])
		}
		if want := "sha256:" + strings.TrimSuffix(m.Layers[0], "/layer.tar"); cfg.RootFS.DiffIDs[0] != want {
			t.Fatalf("diff_id %s, layer dir %s", cfg.RootFS.DiffIDs[0], want)
		}
	}
	// same content, same layer: written once
	if manifest[0].Layers[0] != manifest[1].Layers[0] {
		t.Fatal("identical filesystems gave different layers (tar not deterministic)")
	}
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, dup := out[h.Name]; dup {
				t.Fatalf("%s twice in archive", h.Name)
			}
			b, _ := io.ReadAll(tr)
			out[h.Name] = b
		}
	}
}

func TestMountsBelow(t *testing.T) {
	mi := "22 1 0:21 / /proc rw - proc proc rw\n" +
		"30 25 0:5 / /cache/work/node/rootfs/dev rw - devtmpfs udev rw\n" +
		"31 30 0:6 / /cache/work/node/rootfs/dev/pts rw - devpts devpts rw\n" +
		"32 25 0:21 / /cache/work/node/rootfs/proc rw - proc proc rw\n" +
		"33 25 0:21 / /cache/work/node2/x rw - proc proc rw\n" +
		"34 25 0:21 / /cache/work/with\\040space/proc rw - proc proc rw\n"
	got := mountsBelow(mi, "/cache/work/node")
	want := "/cache/work/node/rootfs/dev/pts,/cache/work/node/rootfs/proc,/cache/work/node/rootfs/dev"
	if strings.Join(got, ",") != want {
		t.Fatalf("got %v", got)
	}
	if got := mountsBelow(mi, "/cache/work/with space"); len(got) != 1 {
		t.Fatalf("escaped path: %v", got)
	}
}

func TestRunnerOutputAndErrors(t *testing.T) {
	var out strings.Builder
	clock := time.Unix(0, 0)
	r := &Runner{Out: &out, LogDir: t.TempDir(), now: func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }}
	if err := r.Do("image x", func(s *Step) (Status, error) { return Cached, nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ok   image x") || !strings.Contains(out.String(), "1.5s  cached") {
		t.Fatalf("line %q", out.String())
	}
	err := r.Do("build y", func(s *Step) (Status, error) {
		s.Logf("detail line")
		return "", withHint(errors.New("boom"), "do %s", "this")
	})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "build y" || se.Hint != "do this" {
		t.Fatalf("err %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{`step "build y" failed: boom`, "detail line", "what to do: do this", se.Log} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond:                "0.3s",
		59*time.Second + 940*time.Millisecond: "59.9s",
		5*time.Minute + 47*time.Second + 1e8:  "5m47.1s",
		62 * time.Second:                      "1m02.0s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestPruneSiblings(t *testing.T) {
	dir := t.TempDir()
	keep := "node-" + strings.Repeat("a", KeyLen) + ".tar"
	for _, n := range []string{keep, "node-" + strings.Repeat("b", KeyLen) + ".tar", "node-" + strings.Repeat("c", KeyLen) + ".tar.tmp", "node-notakey.tar", "nodes-" + strings.Repeat("d", KeyLen) + ".tar", "other"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	pruneSiblings(dir, "node-", keep)
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{keep, "node-notakey.tar", "nodes-" + strings.Repeat("d", KeyLen) + ".tar", "other"}
	if strings.Join(left, ",") != strings.Join(want, ",") {
		t.Fatalf("left %v, want %v", left, want)
	}
}

func TestNodeImageRefsMatchKubeadmShape(t *testing.T) {
	refs := controlPlaneImages()
	if len(refs) != 7 {
		t.Fatalf("kubeadm lists 7 images, have %d", len(refs))
	}
	for _, r := range nodeImageRefs() {
		if strings.HasSuffix(r, ":latest") || !strings.Contains(r, ":") {
			t.Errorf("%s: every image needs a pinned tag (nothing can be pulled)", r)
		}
	}
	for _, r := range []string{NodeImage, DagsterImage, PostgresImage, RabbitMQImage, BusyboxImage} {
		if !strings.HasPrefix(r, "dagster-dev.local/") || strings.HasSuffix(r, ":latest") {
			t.Errorf("%s: harness images are dagster-dev.local/ with a pinned tag", r)
		}
	}
}

func TestSplitChanges(t *testing.T) {
	imp, rest := splitChanges([]string{"ENV a=b", "STOPSIGNAL SIGRTMIN+3", `ENTRYPOINT ["/x"]`, "LABEL k=v", "HEALTHCHECK NONE"})
	if strings.Join(imp, "|") != `ENV a=b|ENTRYPOINT ["/x"]|LABEL k=v` || strings.Join(rest, "|") != "STOPSIGNAL SIGRTMIN+3|HEALTHCHECK NONE" {
		t.Fatalf("imp %q rest %q", imp, rest)
	}
}

func TestSelected(t *testing.T) {
	if !selected(nil, "node") || !selected([]string{"node", " dagster"}, "dagster") || selected([]string{"node"}, "dagster") {
		t.Fatal("selected")
	}
	// the tools warm-up is opt-in: a plain run must not build tools whose images are cached
	if named(nil, "tools") || !named([]string{"node", " tools"}, "tools") {
		t.Fatal("tools selected by default")
	}
}
