// Package harness builds everything a Dagster-on-kind stack needs on a machine
// that can reach package registries but no container registry: the Docker
// engine set-up, a kind node image, and the Dagster, PostgreSQL, RabbitMQ and
// busybox images. Every output is cached under a key made from its inputs, so
// a second run with nothing changed only checks labels and returns.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// Pinned versions. Changing any of them changes the keys of everything built
// from it, so the next prepare rebuilds exactly what is affected.
const (
	KubernetesVersion = "v1.34.4" // keep 1.34: the host is cgroup v1; 1.35+ kubelets refuse it by default
	// The staging modules (k8s.io/api, ...) are versioned v0.<minor>.<patch>.
	KubernetesStagingVersion = "v0.34.4"
	EtcdVersion              = "v3.6.5"
	CoreDNSVersion           = "v1.12.1"
	CrictlVersion            = "v1.34.0"
	// v0.0.30 is the newest local-path-provisioner the module proxy serves.
	LocalPathProvisionerVersion = "v0.0.30"
	DebianSuite                 = "bookworm"
	DagsterVersion              = "1.13.27"
)

// Component image tags, exactly as `kubeadm config images list
// --kubernetes-version v1.34.4` prints them (checked at build time).
const (
	EtcdImageTag  = "3.6.5-0"
	PauseImageTag = "3.10.1"
)

// The images prepare leaves in the local Docker engine.
const (
	NodeImage     = "dagster-dev.local/kind-node:" + KubernetesVersion
	DagsterImage  = "dagster-dev.local/dagster:" + DagsterVersion
	PostgresImage = "dagster-dev.local/postgres:15"
	RabbitMQImage = "dagster-dev.local/rabbitmq:3"
	// BusyboxImage is a few-MB image for tests that need "some image" to
	// side-load and run (Debian's busybox).
	BusyboxImage = "dagster-dev.local/busybox:1.35"
)

// KeyLabel is the image label holding the input hash an image was built from.
const KeyLabel = "dev.dagster-dev.offline.input-hash"

// Options configure a prepare run.
type Options struct {
	// RepoRoot is the dagster-dev checkout (holds go.mod and e2e/offline).
	RepoRoot string
	// CacheDir holds every cached output; see DefaultCacheDir.
	CacheDir string
	// Out receives one line per step.
	Out io.Writer
	// Only limits the images to build (by short name: node, dagster,
	// postgres, rabbitmq, busybox); empty means all.
	Only []string
	// Force rebuilds every selected image even when Docker or the image
	// archive cache has it (rootfs, Go tools and wheels still come from
	// their caches when present).
	Force bool
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/dagster-dev/offline.
func DefaultCacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no XDG_CACHE_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "dagster-dev", "offline"), nil
}

// Harness holds the state of one prepare run.
type Harness struct {
	opt    Options
	run    *Runner
	memoMu sync.Mutex        // the Go builds and the downloads run side by side (prefetch)
	memo   map[string]string // step name -> result (path or key), so shared inputs run once
	goVer  string
	mirror string
}

func (h *Harness) memoGet(name string) (string, bool) {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	v, ok := h.memo[name]
	return v, ok
}

func (h *Harness) memoSet(name, v string) {
	h.memoMu.Lock()
	defer h.memoMu.Unlock()
	h.memo[name] = v
}

// builderDir is where the image build scripts live, relative to the repo.
const builderDir = "e2e/offline/builders"

// Prepare runs every step: the Docker engine, then each image.
func Prepare(ctx context.Context, opt Options) error {
	if opt.Out == nil {
		opt.Out = os.Stdout
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return &StepError{Step: "check machine", Err: fmt.Errorf("unsupported platform %s/%s", runtime.GOOS, runtime.GOARCH),
			Hint: "the offline harness builds linux/amd64 images; run it on a linux/amd64 machine"}
	}
	for _, o := range opt.Only {
		switch strings.TrimSpace(o) {
		case "tools", "node", "dagster", "postgres", "rabbitmq", "busybox":
		default:
			return &StepError{Step: "check options", Err: fmt.Errorf("unknown -only name %q", o),
				Hint: "use a comma-separated subset of tools,node,dagster,postgres,rabbitmq,busybox"}
		}
	}
	if os.Geteuid() != 0 {
		return &StepError{Step: "check machine", Err: errors.New("not running as root"),
			Hint: "run prepare as root (it installs packages, starts dockerd, edits iptables and runs debootstrap)"}
	}
	if _, err := os.Stat(filepath.Join(opt.RepoRoot, builderDir)); err != nil {
		return &StepError{Step: "check machine", Err: err, Hint: "run e2e/offline/prepare from a dagster-dev checkout"}
	}
	if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
		return &StepError{Step: "check machine", Err: err, Hint: "make the cache directory writable or pass -cache"}
	}
	unlock, err := lockCache(opt.CacheDir, opt.Out)
	if err != nil {
		return &StepError{Step: "lock cache", Err: err}
	}
	defer unlock()
	h := &Harness{
		opt:  opt,
		run:  &Runner{Out: opt.Out, LogDir: filepath.Join(opt.CacheDir, "logs")},
		memo: map[string]string{},
	}
	fmt.Fprintf(opt.Out, "prepare: cache %s, logs %s\n", opt.CacheDir, h.run.LogDir)
	if named(opt.Only, "tools") {
		// warm-up target: the Go-built binaries only (no Docker needed)
		if err := h.AllTools(ctx); err != nil {
			return err
		}
		if len(opt.Only) == 1 {
			return nil
		}
	}
	if err := h.Engine(ctx); err != nil {
		return err
	}
	targets := []struct {
		name  string
		build imageBuild
	}{
		{"node", h.nodeBuild()},
		{"dagster", h.dagsterBuild()},
		{"postgres", h.rootfsImage("postgres", PostgresImage, postgresRootfs, nil, nil)},
		{"rabbitmq", h.rootfsImage("rabbitmq", RabbitMQImage, rabbitmqRootfs, nil, nil)},
		{"busybox", h.rootfsImage("busybox", BusyboxImage, nodeRootfs, nil, nil)},
	}
	var builds []imageBuild
	for _, t := range targets {
		if selected(opt.Only, t.name) {
			builds = append(builds, t.build)
		}
	}
	if err := h.prefetch(ctx, builds); err != nil {
		return err
	}
	for _, b := range builds {
		if err := h.ensureImage(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// selected: name is in -only, or -only is empty (everything).
func selected(only []string, name string) bool {
	return len(only) == 0 || named(only, name)
}

// named: name is in -only.
func named(only []string, name string) bool {
	for _, o := range only {
		if strings.TrimSpace(o) == name {
			return true
		}
	}
	return false
}

// cachePath joins parts below the cache directory.
func (h *Harness) cachePath(parts ...string) string {
	return filepath.Join(append([]string{h.opt.CacheDir}, parts...)...)
}

// builders is the directory of build scripts (an fs.FS for hashing).
func (h *Harness) builders() string { return filepath.Join(h.opt.RepoRoot, builderDir) }

// lockCache serialises prepare runs on one cache: two runs would share
// work directories and race on the same images.
func lockCache(dir string, out io.Writer) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "prepare.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(out, "prepare: another prepare is running on %s; waiting for it\n", dir)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { f.Close() }, nil
}
