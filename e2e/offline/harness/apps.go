package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

var (
	dagsterRootfs  = rootfsSpec{name: "dagster", include: []string{"python3", "python3-venv", "ca-certificates", "procps", "tzdata"}}
	postgresRootfs = rootfsSpec{name: "postgres", include: []string{"postgresql-15", "ca-certificates", "tzdata"}}
	rabbitmqRootfs = rootfsSpec{name: "rabbitmq", include: []string{"rabbitmq-server", "ca-certificates", "procps"}}
)

// The wheels are for the image's interpreter, not the host's: Debian
// bookworm's CPython 3.11 on glibc 2.36 (manylinux up to 2_36).
const (
	wheelPython = "3.11"
	wheelABI    = "cp311"
)

func wheelPlatforms() []string {
	p := []string{"manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"}
	for minor := 5; minor <= 36; minor++ {
		p = append(p, fmt.Sprintf("manylinux_2_%d_x86_64", minor))
	}
	return p
}

// rootfsImage is the common shape of the app images: a cached Debian rootfs
// finished by builders/<short>/build.sh.
func (h *Harness) rootfsImage(short, ref string, spec rootfsSpec, extraKey func(*Key) error,
	extraDeps func(ctx context.Context, env map[string]string) error) imageBuild {
	return imageBuild{
		short: short,
		ref:   ref,
		conf:  short + "/image.conf",
		key: func(ctx context.Context) (string, error) {
			rk, err := rootfsKey(spec)
			if err != nil {
				return "", err
			}
			k := NewKey(short+"-image").Str("ref", ref).Str("rootfs", rk).
				Files("builder", os.DirFS(h.builders()), short).
				Files("builder-lib", os.DirFS(h.builders()), "lib.sh").Str("recipe", "1")
			if extraKey != nil {
				if err := extraKey(k); err != nil {
					return "", err
				}
			}
			return k.Sum()
		},
		deps: func(ctx context.Context) (map[string]string, error) {
			tar, err := h.Rootfs(ctx, spec)
			if err != nil {
				return nil, err
			}
			env := map[string]string{"ROOTFS_TAR": tar}
			if extraDeps != nil {
				if err := extraDeps(ctx, env); err != nil {
					return nil, err
				}
			}
			return env, nil
		},
		assemble: func(ctx context.Context, s *Step, root string, env map[string]string) error {
			env["ROOT"] = root
			return h.runBuilder(ctx, s, short+"/build.sh", env)
		},
	}
}

// dagsterBuild builds dagster-dev.local/dagster from Debian's python3 and
// wheels downloaded on the host.
func (h *Harness) dagsterBuild() imageBuild {
	return h.rootfsImage("dagster", DagsterImage, dagsterRootfs,
		func(k *Key) error {
			wk, err := h.wheelsKey()
			k.Str("wheels", wk)
			return err
		},
		func(ctx context.Context, env map[string]string) error {
			dir, err := h.Wheels(ctx)
			env["WHEELS"] = dir
			return err
		})
}

func (h *Harness) wheelsKey() (string, error) {
	return NewKey("wheels").Files("requirements", os.DirFS(h.builders()), "dagster/requirements.txt").
		Str("python", wheelPython).Str("abi", wheelABI).Strs("platforms", wheelPlatforms()).Str("recipe", "1").Sum()
}

// Wheels downloads the Dagster image's wheels (pinned in
// builders/dagster/requirements.txt) into the cache.
func (h *Harness) Wheels(ctx context.Context) (string, error) {
	key, err := h.wheelsKey()
	if err != nil {
		return "", err
	}
	out := h.cachePath("wheels", key)
	if complete(out) {
		return out, nil
	}
	err = h.run.Do("pip download (dagster "+DagsterVersion+" wheels)", func(s *Step) (Status, error) {
		py, err := lookPathSbin("python3")
		if err != nil {
			return "", withHint(err, "install python3 and python3-pip on this machine (wheels are downloaded on the host)")
		}
		if err := s.Run(Cmd(ctx, py, "-m", "pip", "--version")); err != nil {
			return "", withHint(err, "python3 has no pip; install Debian's python3-pip")
		}
		tmp := out + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return "", err
		}
		req := filepath.Join(h.builders(), "dagster", "requirements.txt")
		args := []string{"-m", "pip", "download", "--disable-pip-version-check", "--no-input",
			"--dest", tmp, "--only-binary=:all:", "--python-version", wheelPython,
			"--implementation", "cp", "--abi", wheelABI, "--abi", "abi3", "--abi", "none"}
		for _, p := range wheelPlatforms() {
			args = append(args, "--platform", p)
		}
		args = append(args, "--platform", "any", "-r", req)
		cmd := Cmd(ctx, py, args...)
		// only the pins decide; ignore a find-links/index configured for other work
		cmd.Env = append(os.Environ(), "PIP_FIND_LINKS=", "PIP_NO_INDEX=")
		if err := s.Run(cmd); err != nil {
			return "", withHint(err, "pip could not download the pinned wheels; check the package index is reachable and the pins in %s resolve together", req)
		}
		data, err := os.ReadFile(req)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tmp, "requirements.txt"), data, 0o644); err != nil {
			return "", err
		}
		if err := markComplete(tmp); err != nil {
			return "", err
		}
		os.RemoveAll(out)
		if err := os.Rename(tmp, out); err != nil {
			return "", err
		}
		n, _ := filepath.Glob(filepath.Join(out, "*.whl"))
		return Status(fmt.Sprintf("%d wheels", len(n))), nil
	})
	if err != nil {
		return "", err
	}
	pruneSiblings(h.cachePath("wheels"), "", key)
	return out, nil
}
