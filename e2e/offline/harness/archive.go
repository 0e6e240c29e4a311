package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// archiveImage is one image of a docker-archive (`docker save` format) built
// from a directory, without a Docker engine. The node image build imports
// such an archive into the node's containerd: the control-plane and addon
// images exist only there, never as tags in the host's Docker, so a real
// registry.k8s.io image a user pulled is never shadowed or deleted.
type archiveImage struct {
	Ref    string
	Root   string   // directory with the image filesystem
	Config []string // Dockerfile instructions: ENV, ENTRYPOINT, CMD, USER, WORKDIR
}

type imageConfig struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	User       string   `json:"User,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

// parseImageConfig turns the supported Dockerfile instructions into an
// image config.
func parseImageConfig(lines []string) (imageConfig, error) {
	var c imageConfig
	for _, l := range lines {
		instr, arg, _ := strings.Cut(strings.TrimSpace(l), " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(instr) {
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				return c, fmt.Errorf("ENV %q: want ENV KEY=value", arg)
			}
			c.Env = append(c.Env, k+"="+v)
		case "ENTRYPOINT", "CMD":
			var list []string
			if err := json.Unmarshal([]byte(arg), &list); err != nil {
				return c, fmt.Errorf("%s %s: want a JSON list: %w", instr, arg, err)
			}
			if strings.EqualFold(instr, "CMD") {
				c.Cmd = list
			} else {
				c.Entrypoint = list
			}
		case "USER":
			c.User = arg
		case "WORKDIR":
			c.WorkingDir = arg
		default:
			return c, fmt.Errorf("unsupported instruction %q", l)
		}
	}
	return c, nil
}

// writeDockerArchive writes images as one docker-archive tar at out. work is
// a scratch directory.
func writeDockerArchive(ctx context.Context, s *Step, out, work string, images []archiveImage) error {
	if err := removeTree(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer removeTree(work)
	type manifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []manifestEntry
	names := []string{"manifest.json"}
	seen := map[string]bool{}
	for i, img := range images {
		layerTmp := filepath.Join(work, fmt.Sprintf("layer-%d.tar", i))
		if err := s.Run(Cmd(ctx, "tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name",
			"--mtime=@0", "-C", img.Root, "-cf", layerTmp, ".")); err != nil {
			return err
		}
		diffID, err := sha256File(layerTmp)
		if err != nil {
			return err
		}
		layerName := diffID + "/layer.tar"
		if err := os.MkdirAll(filepath.Join(work, diffID), 0o755); err != nil {
			return err
		}
		if err := os.Rename(layerTmp, filepath.Join(work, layerName)); err != nil {
			return err
		}
		cfg, err := parseImageConfig(img.Config)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Ref, err)
		}
		doc := map[string]any{
			"architecture": "amd64",
			"os":           "linux",
			"created":      "1970-01-01T00:00:00Z",
			"config":       cfg,
			"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
			"history":      []map[string]string{{"created": "1970-01-01T00:00:00Z", "created_by": "dagster-dev offline harness"}},
		}
		cfgJSON, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(cfgJSON)
		cfgName := hex.EncodeToString(sum[:]) + ".json"
		if err := os.WriteFile(filepath.Join(work, cfgName), cfgJSON, 0o644); err != nil {
			return err
		}
		manifest = append(manifest, manifestEntry{Config: cfgName, RepoTags: []string{img.Ref}, Layers: []string{layerName}})
		for _, n := range []string{cfgName, diffID} {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	mJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "manifest.json"), mJSON, 0o644); err != nil {
		return err
	}
	sort.Strings(names[1:])
	tmp := out + ".tmp"
	if err := s.Run(Cmd(ctx, "tar", append([]string{"--numeric-owner", "-C", work, "-cf", tmp}, names...)...)); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
