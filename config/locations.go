package config

import (
	"fmt"

	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// CodeLocation is one Dagster code location: a code server in the cluster
// that loads the user's definitions, and the image their runs use.
type CodeLocation struct {
	// Name is the location name Dagit shows; a DNS-1123 label, unique.
	Name string `yaml:"name"`
	// Path is a local project directory (relative to this file). It is
	// mounted into the code server and into every run and step pod of the
	// location, so runs execute the files on disk. Needs a kind cluster.
	Path string `yaml:"path"`
	// Module or File (exactly one) is what the code server loads: a Python
	// module, or a file relative to the project directory (or to the
	// image's working directory without Path).
	Module string `yaml:"module"`
	File   string `yaml:"file"`
	// Attribute optionally names the Definitions object in the module.
	Attribute string `yaml:"attribute"`
	// Image carries the location's Python dependencies (and, without Path,
	// its code). Empty means the Dagster image.
	Image string `yaml:"image"`
	// Env is per-location env for the code server and the location's runs,
	// applied after job_runner's env (values < ConfigMaps < Secrets holds).
	Env map[string]string `yaml:"env"`
	// Build, when set, makes dagster-dev build the location's image from a
	// Dockerfile and tag it by content (see LocationImage).
	Build *Build `yaml:"build"`
}

// Build is a code location's image build.
type Build struct {
	// Context is the build context directory, relative to this file;
	// default: the location's path.
	Context string `yaml:"context"`
	// Dockerfile is relative to the context; default: Dockerfile.
	Dockerfile string `yaml:"dockerfile"`
}

// BuildRepository is the image name of a built location without image:.
const BuildRepository = "dagster-dev.local/"

// BuildSpec is what to build for a location with build:, and false for
// one without.
func (c *Config) BuildSpec(l CodeLocation) (imagebuild.Spec, bool) {
	if l.Build == nil {
		return imagebuild.Spec{}, false
	}
	ctxDir := l.Build.Context
	if ctxDir == "" {
		ctxDir = l.Path
	}
	dockerfile := l.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	repo := BuildRepository + l.Name
	if l.Image != "" {
		repo = imageRepository(l.Image)
	}
	return imagebuild.Spec{
		Location:         l.Name,
		Context:          c.Resolve(ctxDir),
		Dockerfile:       filepath.FromSlash(dockerfile),
		Repository:       repo,
		DependenciesOnly: l.Path != "",
	}, true
}

// LocationImage is the image a location's code server and runs use:
// image:, or for a location with build: the content-tagged build of it
// (the image: repository, or dagster-dev.local/<name>, with a tag that
// hashes the build's inputs). "" means the Dagster image.
func (c *Config) LocationImage(l CodeLocation) (string, error) {
	spec, ok := c.BuildSpec(l)
	if !ok {
		return l.Image, nil
	}
	return spec.Ref()
}

// imageRepository is a reference without its tag or digest.
func imageRepository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Where path code locations appear inside the kind nodes and the pods.
const (
	// CodeNodePath is where cluster.codeRoot is mounted in every kind node.
	CodeNodePath = "/dagster-dev/code"
	// CodePodRoot is where a path location's directory is mounted in its
	// pods: <CodePodRoot>/<name>, the code server's working directory.
	CodePodRoot = "/opt/dagster/code"
)

// maxLocationName keeps <release>-code-<name> within 63 characters for the
// longest release name a Helm release may have (53) minus a margin; kept
// simple so users learn one limit.
const maxLocationName = 40

var pythonModule = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// HasPathLocations reports whether any code location is mounted from a
// local directory.
func (c *Config) HasPathLocations() bool {
	for _, l := range c.CodeLocations {
		if l.Path != "" {
			return true
		}
	}
	return false
}

// CodeRoot is the host directory mounted into the kind nodes for path code
// locations: cluster.codeRoot, else the config file's directory. Empty when
// there is neither (no config file): nothing is mounted then.
func (c *Config) CodeRoot() string {
	if c.Cluster.CodeRoot != "" {
		return c.Resolve(c.Cluster.CodeRoot)
	}
	if c.Path == "" {
		return ""
	}
	return c.Dir
}

// LocationNodePath is where a path location's directory is inside the
// kind nodes (the hostPath of its pods' volume).
func (c *Config) LocationNodePath(l CodeLocation) (string, error) {
	root, err := realDir(c.CodeRoot())
	if err != nil {
		return "", fmt.Errorf("cluster.codeRoot: %w", err)
	}
	dir, err := realDir(c.Resolve(l.Path))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside cluster.codeRoot %s", dir, root)
	}
	return filepath.ToSlash(filepath.Join(CodeNodePath, rel)), nil
}

// realDir resolves symlinks (Docker bind-mounts the target) and checks
// the path is a directory.
func realDir(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("no directory")
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%s does not exist", p)
	}
	st, err := os.Stat(real)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", p)
	}
	return real, nil
}

func validateCodeLocations(c *Config, bad func(key, format string, args ...any)) {
	if c.Cluster.CodeRoot != "" {
		if c.ExistingCluster() {
			bad("cluster.codeRoot", "has no effect with cluster.context (an existing cluster); remove one of them")
		} else if _, err := realDir(c.Resolve(c.Cluster.CodeRoot)); err != nil {
			bad("cluster.codeRoot", "%v", err)
		}
	}
	seen := map[string]string{}
	for i, l := range c.CodeLocations {
		key := fmt.Sprintf("codeLocations[%d]", i)
		switch {
		case !dnsLabel(l.Name, maxLocationName):
			bad(key+".name", "%q is not a valid location name: use lowercase letters, digits and '-', at most %d characters", l.Name, maxLocationName)
		case seen[l.Name] != "":
			bad(key+".name", "location %q is declared twice (also at %s)", l.Name, seen[l.Name])
		default:
			seen[l.Name] = key
		}
		switch {
		case l.Module == "" && l.File == "":
			bad(key, "needs module: (a Python module, e.g. %s.definitions) or file: (a Python file in the project)", strings.ReplaceAll(l.Name, "-", "_"))
		case l.Module != "" && l.File != "":
			bad(key+".file", "give module: or file:, not both")
		case l.Module != "" && !pythonModule.MatchString(l.Module):
			bad(key+".module", "%q is not a Python module name (dotted identifiers, e.g. analytics.definitions)", l.Module)
		case l.File != "" && (filepath.IsAbs(l.File) && l.Path != "" || !strings.HasSuffix(l.File, ".py")):
			bad(key+".file", "%q must be a .py file, relative to the location's path", l.File)
		}
		if l.Attribute != "" && !envName.MatchString(l.Attribute) {
			bad(key+".attribute", "%q is not a Python identifier", l.Attribute)
		}
		if l.Path == "" && l.Image == "" && l.Module == "" && l.File == "" {
			continue
		}
		if l.Path != "" {
			switch {
			case c.ExistingCluster():
				bad(key+".path", "a path location needs a kind cluster: dagster-dev mounts the directory into the kind nodes, which an existing cluster (cluster.context) does not have; build an image with the code and use image: instead, or remove cluster.context")
			case c.CodeRoot() == "":
				bad(key+".path", "needs a config file or cluster.codeRoot: the directory mounted into the kind nodes")
			default:
				if _, err := realDir(c.Resolve(l.Path)); err != nil {
					bad(key+".path", "%v", err)
				} else if _, err := c.LocationNodePath(l); err != nil {
					bad(key+".path", "%v; set cluster.codeRoot to a directory that contains every location (changing it re-creates the cluster)", err)
				} else if l.File != "" {
					if st, err := os.Stat(filepath.Join(c.Resolve(l.Path), l.File)); err != nil || st.IsDir() {
						bad(key+".file", "%s is not a file in %s", l.File, l.Path)
					}
				}
			}
		}
		if l.Image != "" && l.Build == nil {
			if msg := checkImageRef(l.Image); msg != "" {
				bad(key+".image", "%s", msg)
			}
		}
		if l.Build != nil {
			validateBuild(c, l, key, bad)
		}
		for k := range l.Env {
			if !envName.MatchString(k) {
				bad(key+".env."+k, "%q is not an environment variable name", k)
			}
		}
	}
}

func validateBuild(c *Config, l CodeLocation, key string, bad func(key, format string, args ...any)) {
	switch {
	case c.ExistingCluster():
		bad(key+".build", "builds are side-loaded into kind nodes, which an existing cluster (cluster.context) does not have; build and push the image yourself and use image: instead")
		return
	case l.Build.Context == "" && l.Path == "":
		bad(key+".build.context", "is required for a location without path: (the directory docker build reads)")
		return
	}
	spec, _ := c.BuildSpec(l)
	if _, err := realDir(spec.Context); err != nil {
		bad(key+".build.context", "%v", err)
		return
	}
	if filepath.IsAbs(spec.Dockerfile) || strings.HasPrefix(filepath.Clean(spec.Dockerfile), "..") {
		bad(key+".build.dockerfile", "%q must be a path inside the build context", l.Build.Dockerfile)
	} else if st, err := os.Stat(filepath.Join(spec.Context, spec.Dockerfile)); err != nil || st.IsDir() {
		bad(key+".build.dockerfile", "%s is not a file in the build context %s", spec.Dockerfile, spec.Context)
	}
	// With build: the tag of image: is replaced by the content tag, so
	// image: may name just the repository.
	if l.Image != "" && imageRepository(l.Image) != l.Image {
		if msg := checkImageRef(l.Image); msg != "" {
			bad(key+".image", "%s", msg)
		}
	}
}

// checkImageRef is the rule for every image dagster-dev side-loads.
func checkImageRef(img string) string {
	if strings.TrimSpace(img) == "" {
		return "is empty"
	}
	if err := pinnedImage(img); err != nil {
		return fmt.Sprintf("%q %v", img, err)
	}
	return ""
}

// HostFile maps a file in a path location's pods back to the user's
// directory (relative to the config file's directory when it is below it);
// other files are returned as they are.
func (c *Config) HostFile(location, podFile string) string {
	for _, l := range c.CodeLocations {
		if l.Name != location || l.Path == "" {
			continue
		}
		root := path.Join(CodePodRoot, l.Name)
		rel, ok := strings.CutPrefix(podFile, root+"/")
		if !ok {
			return podFile
		}
		host := filepath.Join(c.Resolve(l.Path), filepath.FromSlash(rel))
		if r, err := filepath.Rel(c.Dir, host); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return host
	}
	return podFile
}
