package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Images that exist only inside the node's containerd.
const (
	KindnetImage   = "dagster-dev.local/kindnet-lite:1"
	LPPImage       = "dagster-dev.local/local-path-provisioner:" + LocalPathProvisionerVersion
	LPPHelperImage = "dagster-dev.local/local-path-helper:1"
)

// nodeRootfs is kind's base package list, from Debian: containerd, runc and
// the CNI plugins included; nfs/iscsi (storage e2e tests) and fuse-overlayfs
// (rootless) left out; busybox for the small component images.
var nodeRootfs = rootfsSpec{name: "node", include: []string{
	"systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
	"util-linux", "mount", "kmod", "libseccomp2", "pigz", "e2fsprogs", "bash", "ca-certificates",
	"curl", "jq", "procps", "socat", "containerd", "runc", "containernetworking-plugins", "busybox",
}}

// controlPlaneImages are the refs kubeadm's `config images list` must print.
func controlPlaneImages() []string {
	return []string{
		"registry.k8s.io/kube-apiserver:" + KubernetesVersion,
		"registry.k8s.io/kube-controller-manager:" + KubernetesVersion,
		"registry.k8s.io/kube-scheduler:" + KubernetesVersion,
		"registry.k8s.io/kube-proxy:" + KubernetesVersion,
		"registry.k8s.io/coredns/coredns:" + CoreDNSVersion,
		"registry.k8s.io/pause:" + PauseImageTag,
		"registry.k8s.io/etcd:" + EtcdImageTag,
	}
}

// nodeImageRefs is everything imported into the node's containerd.
func nodeImageRefs() []string {
	return append(controlPlaneImages(), KindnetImage, LPPImage, LPPHelperImage)
}

var nodeTools = []string{"kubernetes", "etcd", "coredns", "crictl", "local-path-provisioner"}

// kindModuleDir returns the kind module (the version this repository's go.mod
// requires) in the Go module cache, downloading it if needed.
func (h *Harness) kindModuleDir(ctx context.Context) (string, error) {
	if d, ok := h.memo["kind-module"]; ok {
		return d, nil
	}
	cmd := Cmd(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kind")
	cmd.Dir, cmd.Env = h.opt.RepoRoot, goEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", withHint(fmt.Errorf("go mod download sigs.k8s.io/kind: %w", err), "run `go mod download sigs.k8s.io/kind` in %s and fix what it reports", h.opt.RepoRoot)
	}
	var info struct{ Dir, Version string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download -json sigs.k8s.io/kind: unexpected output %q", shorten(string(out), 200))
	}
	h.memo["kind-module"] = info.Dir
	return info.Dir, nil
}

func (h *Harness) nodeKey(ctx context.Context) (string, error) {
	kind, err := h.kindModuleDir(ctx)
	if err != nil {
		return "", err
	}
	k := NewKey("node-image").Str("ref", NodeImage).Str("kubernetes", KubernetesVersion).
		Strs("images", nodeImageRefs())
	for _, n := range nodeTools {
		tk, err := h.goToolKey(ctx, goTools[n])
		if err != nil {
			return "", err
		}
		k.Str("tool:"+n, tk)
	}
	for _, n := range []string{"pause", "runc-wrap"} {
		lk, err := h.localGoKey(ctx, n)
		if err != nil {
			return "", err
		}
		k.Str("local:"+n, lk)
	}
	rk, err := rootfsKey(nodeRootfs)
	if err != nil {
		return "", err
	}
	return k.Str("rootfs", rk).
		Files("kind-base-files", os.DirFS(filepath.Join(kind, "images", "base", "files")), ".").
		Files("builder-node", os.DirFS(h.builders()), "node").
		Files("builder-lib", os.DirFS(h.builders()), "lib.sh").
		Str("recipe", "1").Sum()
}

// nodeBuild builds dagster-dev.local/kind-node.
func (h *Harness) nodeBuild() imageBuild {
	return imageBuild{
		short: "node",
		ref:   NodeImage,
		conf:  "node/image.conf",
		key:   h.nodeKey,
		deps: func(ctx context.Context) (map[string]string, error) {
			env := map[string]string{}
			dirs := map[string]string{}
			for _, n := range nodeTools {
				d, err := h.GoTool(ctx, n)
				if err != nil {
					return nil, err
				}
				dirs[n] = d
			}
			if err := h.checkKubeadmImages(ctx, filepath.Join(dirs["kubernetes"], "kubeadm")); err != nil {
				return nil, err
			}
			var local = map[string]string{}
			if err := h.run.Do("go build pause, runc-wrap", func(s *Step) (Status, error) {
				status := Cached
				for _, n := range []string{"pause", "runc-wrap"} {
					built, err := h.localGoBuilt(ctx, n)
					if err != nil {
						return "", err
					}
					if !built {
						status = Built
					}
					p, err := h.localGoBinary(ctx, s, n)
					if err != nil {
						return "", err
					}
					local[n] = p
				}
				return status, nil
			}); err != nil {
				return nil, err
			}
			rootfs, err := h.Rootfs(ctx, nodeRootfs)
			if err != nil {
				return nil, err
			}
			kind, err := h.kindModuleDir(ctx)
			if err != nil {
				return nil, err
			}
			env["ROOTFS_TAR"] = rootfs
			env["KIND_FILES"] = filepath.Join(kind, "images", "base", "files")
			env["K8S_BIN"] = dirs["kubernetes"]
			env["ETCD_BIN"] = filepath.Join(dirs["etcd"], "etcd")
			env["COREDNS_BIN"] = filepath.Join(dirs["coredns"], "coredns")
			env["CRICTL_BIN"] = filepath.Join(dirs["crictl"], "crictl")
			env["LPP_BIN"] = filepath.Join(dirs["local-path-provisioner"], "local-path-provisioner")
			env["PAUSE_BIN"] = local["pause"]
			env["RUNCWRAP_BIN"] = local["runc-wrap"]
			env["K8S_VERSION"] = KubernetesVersion
			env["ETCD_TAG"] = EtcdImageTag
			env["COREDNS_VERSION"] = CoreDNSVersion
			env["PAUSE_TAG"] = PauseImageTag
			env["PAUSE_REF"] = "registry.k8s.io/pause:" + PauseImageTag
			env["KINDNET_REF"] = KindnetImage
			env["LPP_REF"] = LPPImage
			env["HELPER_REF"] = LPPHelperImage
			env["EXPECT_REFS"] = strings.Join(nodeImageRefs(), " ")
			return env, nil
		},
		assemble: func(ctx context.Context, s *Step, root string, env map[string]string) error {
			env["ROOT"] = root
			if err := h.runBuilder(ctx, s, "node/build.sh", env); err != nil {
				return err
			}
			if err := h.runBuilder(ctx, s, "node/components.sh", env); err != nil {
				return err
			}
			images, err := componentImages(filepath.Join(env["WORK"], "components"))
			if err != nil {
				return err
			}
			tar := filepath.Join(env["WORK"], "images.tar")
			if err := writeDockerArchive(ctx, s, tar, filepath.Join(env["WORK"], "archive"), images); err != nil {
				return err
			}
			env["IMAGES_TAR"] = tar
			return h.runBuilder(ctx, s, "node/import.sh", env)
		},
	}
}

// componentImages reads the image directories components.sh prepared.
func componentImages(dir string) ([]archiveImage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []archiveImage
	for _, e := range entries {
		d := filepath.Join(dir, e.Name())
		ref, err := os.ReadFile(filepath.Join(d, "ref"))
		if err != nil {
			return nil, err
		}
		conf, err := readImageConf(filepath.Join(d, "image.conf"))
		if err != nil {
			return nil, err
		}
		out = append(out, archiveImage{Ref: strings.TrimSpace(string(ref)), Root: filepath.Join(d, "rootfs"), Config: conf})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// checkKubeadmImages fails when the built kubeadm expects other control-plane
// images than the ones the harness builds (e.g. after a version bump).
func (h *Harness) checkKubeadmImages(ctx context.Context, kubeadm string) error {
	if h.memo["kubeadm-images"] == "ok" {
		return nil
	}
	out, err := Cmd(ctx, kubeadm, "config", "images", "list", "--kubernetes-version", KubernetesVersion).Output()
	if err != nil {
		return &StepError{Step: "kubeadm image list", Err: err}
	}
	got := strings.Fields(string(out))
	want := controlPlaneImages()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return &StepError{Step: "kubeadm image list",
			Err:  fmt.Errorf("kubeadm %s expects %v, the harness builds %v", KubernetesVersion, got, want),
			Hint: "update the component versions in e2e/offline/harness/harness.go to match kubeadm"}
	}
	h.memo["kubeadm-images"] = "ok"
	return nil
}
