package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// goTool is a program built from the Go module proxy in a throwaway module
// (`go install pkg@version` refuses modules with replace directives, and the
// Kubernetes main module needs replaces for its staging modules).
type goTool struct {
	name    string
	module  string
	version string
	// bins maps an output file name to the package built into it.
	bins    map[string]string
	ldflags string
	// k8sStaging: replace every k8s.io staging module of k8s.io/kubernetes
	// with its published v0.x version (the main module's go.mod points them
	// at ./staging, which a module-proxy download cannot use).
	k8sStaging bool
}

func k8sVersionLDFlags() string {
	major, minor := "1", strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	var b strings.Builder
	b.WriteString("-s -w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, kv := range [][2]string{
			{"gitVersion", KubernetesVersion},
			{"gitMajor", major},
			{"gitMinor", minor},
			{"gitTreeState", "clean"},
			{"buildDate", "1970-01-01T00:00:00Z"},
		} {
			fmt.Fprintf(&b, " -X %s.%s=%s", pkg, kv[0], kv[1])
		}
	}
	return b.String()
}

var goTools = map[string]goTool{
	"kubernetes": {
		name: "kubernetes", module: "k8s.io/kubernetes", version: KubernetesVersion,
		bins: map[string]string{
			"kubelet":                 "k8s.io/kubernetes/cmd/kubelet",
			"kubeadm":                 "k8s.io/kubernetes/cmd/kubeadm",
			"kubectl":                 "k8s.io/kubernetes/cmd/kubectl",
			"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
			"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
			"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
			"kube-proxy":              "k8s.io/kubernetes/cmd/kube-proxy",
		},
		ldflags:    k8sVersionLDFlags(),
		k8sStaging: true,
	},
	"etcd": {
		name: "etcd", module: "go.etcd.io/etcd/server/v3", version: EtcdVersion,
		bins: map[string]string{"etcd": "go.etcd.io/etcd/server/v3"}, ldflags: "-s -w",
	},
	"coredns": {
		name: "coredns", module: "github.com/coredns/coredns", version: CoreDNSVersion,
		bins: map[string]string{"coredns": "github.com/coredns/coredns"}, ldflags: "-s -w",
	},
	"crictl": {
		name: "crictl", module: "sigs.k8s.io/cri-tools", version: CrictlVersion,
		bins: map[string]string{"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
		// crictl --version prints this
		ldflags: "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=" + CrictlVersion,
	},
	"local-path-provisioner": {
		name: "local-path-provisioner", module: "github.com/rancher/local-path-provisioner", version: LocalPathProvisionerVersion,
		bins:    map[string]string{"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
		ldflags: "-s -w",
	},
}

// goEnv is the environment of every go command: static binaries, no
// toolchain download, module mode regardless of the caller's GOFLAGS.
func goEnv() []string {
	env := os.Environ()
	return append(env, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
}

func (h *Harness) goVersion(ctx context.Context) (string, error) {
	if h.goVer != "" {
		return h.goVer, nil
	}
	out, err := Cmd(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", withHint(fmt.Errorf("go env GOVERSION: %w", err), "install Go (the version in go.mod) and put it on PATH")
	}
	h.goVer = strings.TrimSpace(string(out))
	return h.goVer, nil
}

func (h *Harness) goToolKey(ctx context.Context, t goTool) (string, error) {
	gv, err := h.goVersion(ctx)
	if err != nil {
		return "", err
	}
	var names []string
	for n := range t.bins {
		names = append(names, n+"="+t.bins[n])
	}
	sort.Strings(names)
	return NewKey("go-tool").Str("name", t.name).Str("module", t.module).Str("version", t.version).
		Strs("bins", names).Str("ldflags", t.ldflags).Str("k8sStaging", fmt.Sprint(t.k8sStaging)).
		Str("go", gv).Str("recipe", "1").Sum()
}

// GoTool returns the directory holding the binaries of tool name, building
// them if the cache has no output for the current key.
func (h *Harness) GoTool(ctx context.Context, name string) (string, error) {
	t, ok := goTools[name]
	if !ok {
		return "", fmt.Errorf("unknown go tool %q", name)
	}
	memo := "go:" + name
	if d, ok := h.memoGet(memo); ok {
		return d, nil
	}
	key, err := h.goToolKey(ctx, t)
	if err != nil {
		return "", err
	}
	out := h.cachePath("go", name+"-"+key)
	if complete(out) {
		h.memoSet(memo, out)
		return out, nil
	}
	err = h.run.Do(fmt.Sprintf("go build %s %s", name, t.version), func(s *Step) (Status, error) {
		return Built, h.buildGoTool(ctx, s, t, out)
	})
	if err != nil {
		return "", err
	}
	pruneSiblings(h.cachePath("go"), name+"-", filepath.Base(out))
	h.memoSet(memo, out)
	return out, nil
}

// complete reports whether a cache directory was finished (see markComplete).
func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".complete"))
	return err == nil
}

func markComplete(dir string) error {
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

func (h *Harness) buildGoTool(ctx context.Context, s *Step, t goTool, out string) error {
	mod := h.cachePath("gomod", t.name)
	if err := os.RemoveAll(mod); err != nil {
		return err
	}
	if err := os.MkdirAll(mod, 0o755); err != nil {
		return err
	}
	gomod := fmt.Sprintf("module dagster-dev.local/offline/%s\n\ngo 1.24.0\n", t.name)
	if t.k8sStaging {
		extra, err := h.k8sGoModExtras(ctx, s, t.version)
		if err != nil {
			return err
		}
		gomod += extra
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	get := Cmd(ctx, "go", "get", t.module+"@"+t.version)
	get.Dir, get.Env = mod, goEnv()
	if err := s.Run(get); err != nil {
		return withHint(err, "fetching %s@%s from the Go module proxy failed; check `go env GOPROXY` and network access to it", t.module, t.version)
	}
	tmp := out + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	var names []string
	for n := range t.bins {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 1 {
		// one go build for all binaries: packages compile once and in parallel
		args := []string{"build", "-trimpath", "-ldflags", t.ldflags, "-o", tmp + "/"}
		for _, n := range names {
			if filepath.Base(t.bins[n]) != n {
				return fmt.Errorf("tool %s: binary %s must be named after its package %s", t.name, n, t.bins[n])
			}
			args = append(args, t.bins[n])
		}
		b := Cmd(ctx, "go", args...)
		b.Dir, b.Env = mod, goEnv()
		if err := s.Run(b); err != nil {
			return withHint(err, "go build of %s failed; the log has the compiler output", t.name)
		}
	} else {
		for _, n := range names {
			b := Cmd(ctx, "go", "build", "-trimpath", "-ldflags", t.ldflags, "-o", filepath.Join(tmp, n), t.bins[n])
			b.Dir, b.Env = mod, goEnv()
			if err := s.Run(b); err != nil {
				return withHint(err, "go build of %s failed; the log has the compiler output", t.name)
			}
		}
	}
	if err := markComplete(tmp); err != nil {
		return err
	}
	os.RemoveAll(out)
	return os.Rename(tmp, out)
}

// k8sGoModExtras downloads k8s.io/kubernetes' go.mod and returns the require
// and replace lines a throwaway main module needs to build its commands.
func (h *Harness) k8sGoModExtras(ctx context.Context, s *Step, version string) (string, error) {
	dl := Cmd(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	dl.Dir, dl.Env = h.cachePath("gomod"), goEnv()
	outJSON, err := s.Output(dl)
	if err != nil {
		return "", withHint(err, "downloading k8s.io/kubernetes@%s from the Go module proxy failed", version)
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal([]byte(outJSON), &info); err != nil || info.GoMod == "" {
		return "", fmt.Errorf("go mod download -json k8s.io/kubernetes@%s: unexpected output %q", version, shorten(outJSON, 200))
	}
	data, err := os.ReadFile(info.GoMod)
	if err != nil {
		return "", err
	}
	staging, godebug := parseK8sGoMod(string(data))
	if len(staging) == 0 {
		return "", fmt.Errorf("no ./staging replaces in %s: has the Kubernetes module layout changed?", info.GoMod)
	}
	sv := "v0." + strings.TrimPrefix(version, "v1.")
	return k8sGoModText(version, sv, staging, godebug), nil
}

// parseK8sGoMod returns the module paths k8s.io/kubernetes' go.mod replaces
// with ./staging directories, and its godebug lines (the main module's
// godebug settings decide runtime defaults, so the throwaway module keeps
// Kubernetes' own).
func parseK8sGoMod(gomod string) (staging []string, godebug []string) {
	sc := bufio.NewScanner(strings.NewReader(gomod))
	inGodebug := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "godebug ("):
			inGodebug = true
			continue
		case inGodebug && line == ")":
			inGodebug = false
			continue
		case inGodebug:
			if line != "" && !strings.HasPrefix(line, "//") {
				godebug = append(godebug, line)
			}
			continue
		case strings.HasPrefix(line, "godebug "):
			godebug = append(godebug, strings.TrimPrefix(line, "godebug "))
			continue
		}
		line = strings.TrimPrefix(line, "replace ")
		from, to, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		to = strings.TrimSpace(to)
		if !strings.HasPrefix(to, "./staging/") {
			continue
		}
		f := strings.Fields(from)
		if len(f) >= 1 {
			staging = append(staging, f[0])
		}
	}
	sort.Strings(staging)
	return staging, godebug
}

func k8sGoModText(version, stagingVersion string, staging, godebug []string) string {
	var b strings.Builder
	if len(godebug) > 0 {
		b.WriteString("\ngodebug (\n")
		for _, g := range godebug {
			fmt.Fprintf(&b, "\t%s\n", g)
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, "\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	for _, m := range staging {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, stagingVersion)
	}
	b.WriteString(")\n")
	return b.String()
}

func (h *Harness) localGoKey(ctx context.Context, name string) (string, error) {
	gv, err := h.goVersion(ctx)
	if err != nil {
		return "", err
	}
	src := filepath.Join(h.opt.RepoRoot, "e2e", "offline", "cmd", name)
	// tests do not go into the binary
	notTest := func(p string) bool { return !strings.HasSuffix(p, "_test.go") }
	return NewKey("local-go").Str("name", name).Str("go", gv).FilesMatching("src", os.DirFS(src), ".", notTest).Sum()
}

// localGoBuilt reports whether the cache already holds the current build of
// e2e/offline/cmd/<name>.
func (h *Harness) localGoBuilt(ctx context.Context, name string) (bool, error) {
	key, err := h.localGoKey(ctx, name)
	if err != nil {
		return false, err
	}
	return complete(h.cachePath("go", name+"-"+key)), nil
}

// localGoBinary builds a small program of this repository
// (e2e/offline/cmd/<name>) into the cache, keyed by its source.
func (h *Harness) localGoBinary(ctx context.Context, s *Step, name string) (string, error) {
	memo := "local:" + name
	if p, ok := h.memoGet(memo); ok {
		return p, nil
	}
	src := filepath.Join("e2e", "offline", "cmd", name)
	key, err := h.localGoKey(ctx, name)
	if err != nil {
		return "", err
	}
	dir := h.cachePath("go", name+"-"+key)
	bin := filepath.Join(dir, name)
	if complete(dir) {
		h.memoSet(memo, bin)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b := Cmd(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./"+filepath.ToSlash(src))
	b.Dir, b.Env = h.opt.RepoRoot, goEnv()
	if err := s.Run(b); err != nil {
		return "", withHint(err, "building %s from this repository failed", src)
	}
	if err := markComplete(dir); err != nil {
		return "", err
	}
	pruneSiblings(h.cachePath("go"), name+"-", filepath.Base(dir))
	h.memoSet(memo, bin)
	return bin, nil
}

// pruneSiblings removes older cache entries of one output (same prefix,
// other key) so the cache does not grow with every input change.
func pruneSiblings(dir, prefix, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if n == keep || !strings.HasPrefix(n, prefix) {
			continue
		}
		rest := strings.TrimSuffix(strings.TrimSuffix(n[len(prefix):], ".tmp"), ".tar")
		if len(rest) == KeyLen && isHex(rest) {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// AllTools builds every Go tool the node image needs.
func (h *Harness) AllTools(ctx context.Context) error {
	for _, n := range []string{"kubernetes", "etcd", "coredns", "crictl", "local-path-provisioner"} {
		if _, err := h.GoTool(ctx, n); err != nil {
			return err
		}
	}
	return nil
}
