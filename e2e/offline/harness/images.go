package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// imageBuild describes one image prepare leaves in Docker.
type imageBuild struct {
	short string // cache name and -only name
	ref   string
	// key computes the input hash without building anything.
	key func(ctx context.Context) (string, error)
	// deps builds (or finds in the cache) the inputs; each is its own step.
	deps func(ctx context.Context) (map[string]string, error)
	// assemble fills root with the image's filesystem; env holds the deps.
	assemble func(ctx context.Context, s *Step, root string, env map[string]string) error
	// conf is the builder file (relative to the builders directory) with the
	// Dockerfile instructions applied at import (ENV, ENTRYPOINT, CMD, ...).
	conf string
}

// ImageKey reads the input-hash label of a local image ("" if the image or
// label is missing).
func ImageKey(ctx context.Context, ref string) string {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format",
		fmt.Sprintf(`{{ index .Config.Labels %q }}`, KeyLabel), ref).Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(out))
	if v == "<no value>" {
		return ""
	}
	return v
}

func imageID(ctx context.Context, ref string) string {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ensureImage leaves b.ref in Docker, labelled with its current input key:
// kept if already there, reloaded from the cached `docker save` archive if
// Docker lost it, built otherwise.
func (h *Harness) ensureImage(ctx context.Context, b imageBuild) error {
	title := fmt.Sprintf("image %s", b.ref)
	key, err := b.key(ctx)
	if err != nil {
		return &StepError{Step: title, Err: fmt.Errorf("computing the input hash: %w", err)}
	}
	if !h.opt.Force && ImageKey(ctx, b.ref) == key {
		return h.run.Do(title, func(*Step) (Status, error) { return Cached, nil })
	}
	archive := h.cachePath("images", b.short+"-"+key+".tar")
	if _, err := os.Stat(archive); err == nil && !h.opt.Force {
		err := h.run.Do(title, func(s *Step) (Status, error) {
			old := imageID(ctx, b.ref)
			if err := s.Run(Cmd(ctx, "docker", "load", "-i", archive)); err != nil {
				return "", err
			}
			if got := ImageKey(ctx, b.ref); got != key {
				return "", fmt.Errorf("%s holds %s with key %q, want %q", archive, b.ref, got, key)
			}
			removeOldImage(ctx, s, old, imageID(ctx, b.ref))
			return Reloaded, nil
		})
		if err == nil {
			return nil
		}
		// a broken archive is not fatal: rebuild
		fmt.Fprintf(h.opt.Out, "     (reload failed, rebuilding: %v)\n", firstLine(err.Error()))
		os.Remove(archive)
	}
	env, err := b.deps(ctx)
	if err != nil {
		return err
	}
	err = h.run.Do(title, func(s *Step) (Status, error) {
		work := h.cachePath("work", b.short)
		if err := removeTree(work); err != nil {
			return "", err
		}
		defer removeTree(work)
		root := filepath.Join(work, "rootfs")
		if err := os.MkdirAll(root, 0o755); err != nil {
			return "", err
		}
		if env == nil {
			env = map[string]string{}
		}
		env["WORK"] = work
		if err := b.assemble(ctx, s, root, env); err != nil {
			return "", err
		}
		changes, err := readImageConf(filepath.Join(h.builders(), b.conf))
		if err != nil {
			return "", err
		}
		changes = append(changes, fmt.Sprintf("LABEL %s=%s", KeyLabel, key))
		old := imageID(ctx, b.ref)
		if err := dockerImport(ctx, s, root, b.ref, changes); err != nil {
			return "", err
		}
		removeOldImage(ctx, s, old, imageID(ctx, b.ref))
		if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
			return "", err
		}
		tmp := archive + ".tmp"
		if err := s.Run(Cmd(ctx, "docker", "save", "-o", tmp, b.ref)); err != nil {
			os.Remove(tmp)
			return "", withHint(err, "docker save failed; check free space in %s", filepath.Dir(archive))
		}
		if err := os.Rename(tmp, archive); err != nil {
			return "", err
		}
		pruneSiblings(filepath.Dir(archive), b.short+"-", filepath.Base(archive))
		return Built, nil
	})
	return err
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// removeOldImage deletes the image a tag pointed at before it was replaced,
// so rebuilt images do not pile up as dangling images.
func removeOldImage(ctx context.Context, s *Step, old, cur string) {
	if old == "" || old == cur {
		return
	}
	if err := s.Run(Cmd(ctx, "docker", "rmi", old)); err != nil {
		s.Logf("kept old image %s (still in use?)", old)
	}
}

// readImageConf reads Dockerfile instructions (one per line, # comments).
func readImageConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// importChanges are the instructions `docker import --change` accepts
// (Docker 20.10); others (STOPSIGNAL, HEALTHCHECK) are applied by a
// metadata-only legacy build on top (no container runs, no layer added).
var importChanges = map[string]bool{"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true,
	"LABEL": true, "ONBUILD": true, "USER": true, "VOLUME": true, "WORKDIR": true}

// splitChanges separates instructions docker import accepts from the rest.
func splitChanges(changes []string) (imp, rest []string) {
	for _, c := range changes {
		instr, _, _ := strings.Cut(strings.TrimSpace(c), " ")
		if importChanges[strings.ToUpper(instr)] {
			imp = append(imp, c)
		} else {
			rest = append(rest, c)
		}
	}
	return imp, rest
}

// dockerImport turns a directory into a single-layer image.
func dockerImport(ctx context.Context, s *Step, root, ref string, changes []string) error {
	imp, rest := splitChanges(changes)
	args := []string{"-c", `set -euo pipefail; root=$1; ref=$2; shift 2
tar --numeric-owner -C "$root" -c . | docker import "$@" - "$ref"`, "docker-import", root, ref}
	for _, c := range imp {
		args = append(args, "--change", c)
	}
	if err := s.Run(Cmd(ctx, "bash", args...)); err != nil {
		return withHint(err, "docker import of %s failed", ref)
	}
	if len(rest) == 0 {
		return nil
	}
	id := imageID(ctx, ref)
	if id == "" {
		return fmt.Errorf("docker import did not leave %s", ref)
	}
	df := "FROM " + id + "\n" + strings.Join(rest, "\n") + "\n"
	b := Cmd(ctx, "docker", "build", "-q", "-t", ref, "-")
	b.Stdin = strings.NewReader(df)
	b.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	s.Logf("Dockerfile:\n%s", df)
	if err := s.Run(b); err != nil {
		return withHint(err, "applying %v to %s failed", rest, ref)
	}
	return nil
}

// runBuilder runs a build script from the builders directory with env.
func (h *Harness) runBuilder(ctx context.Context, s *Step, script string, env map[string]string) error {
	cmd := Cmd(ctx, "bash", filepath.Join(h.builders(), script))
	cmd.Dir = h.builders()
	cmd.Env = append(os.Environ(), "BUILDERS="+h.builders(), "LC_ALL=C")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := s.Run(cmd); err != nil {
		return withHint(err, "%s failed; its output is in the step log", script)
	}
	return nil
}
