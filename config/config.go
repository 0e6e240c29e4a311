// Package config reads and validates dagster-dev.yaml, the one file that
// describes a dagster-dev environment. Every field is optional; Load fills in
// documented defaults. Validation happens up front and every problem is
// reported with the file, line and key, so a typo never reaches the cluster.
package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// DefaultFile is the config file looked up in the working directory when no
// --config flag is given.
const DefaultFile = "dagster-dev.yaml"

// Defaults. They are exported so the CLI help, `init` and the README can quote
// them instead of repeating literals.
const (
	DefaultClusterName = "dagster-dev"
	DefaultNamespace   = "dagster"
	DefaultRelease     = "dagster"
	DefaultHostPort    = 3000
	// DefaultNodePort is the Dagit Service NodePort that the kind port mapping
	// targets. It is fixed because kind's extraPortMappings are fixed at
	// cluster creation.
	DefaultNodePort = 30080
	DefaultTimeout  = 10 * time.Minute
	DefaultDebounce = 200 * time.Millisecond
)

// Config is the parsed dagster-dev.yaml.
type Config struct {
	Cluster   Cluster `yaml:"cluster"`
	Dagit     Dagit   `yaml:"dagit"`
	Namespace string  `yaml:"namespace"`
	Release   string  `yaml:"release"`
	// RunLauncher chooses how runs are launched (the chart's runLauncher.type):
	// RunLauncherCelery or RunLauncherK8s; empty means the chart's default
	// (Celery). With RunLauncherK8s no broker is deployed.
	RunLauncher string         `yaml:"runLauncher"`
	Timeout     Duration       `yaml:"timeout"`
	Images      []string       `yaml:"images"`
	ValuesFiles []string       `yaml:"valuesFiles"`
	Values      map[string]any `yaml:"values"`
	Watch       Watch          `yaml:"watch"`
	// CodeLocations are the user's Dagster code locations; none means the
	// chart's bundled example location.
	CodeLocations []CodeLocation `yaml:"codeLocations"`

	// Path is the file the config was read from; empty when no file exists
	// and only defaults apply.
	Path string `yaml:"-"`
	// Dir is the directory relative paths in the file are resolved against:
	// the file's directory, or the working directory without a file.
	Dir string `yaml:"-"`
}

// The run launchers the chart offers (runLauncher.type).
const (
	RunLauncherCelery = "CeleryK8sRunLauncher"
	RunLauncherK8s    = "K8sRunLauncher"
)

// Cluster selects the Kubernetes cluster: a kind cluster managed by
// dagster-dev, or an existing kube context.
type Cluster struct {
	Name      string `yaml:"name"`
	NodeImage string `yaml:"nodeImage"`
	Nodes     int    `yaml:"nodes"`
	// Context, when set, skips kind entirely and installs into this context
	// of the kubeconfig.
	Context string `yaml:"context"`
	// Kubeconfig overrides the kubeconfig file (default: $KUBECONFIG or
	// ~/.kube/config, like kubectl).
	Kubeconfig string `yaml:"kubeconfig"`
	// CodeRoot is the host directory mounted into every kind node for path
	// code locations (default: this file's directory). Fixed when the
	// cluster is created.
	CodeRoot string `yaml:"codeRoot"`
}

// Dagit configures how the Dagit web UI is reached from the host.
type Dagit struct {
	HostPort int `yaml:"hostPort"`
	NodePort int `yaml:"nodePort"`
}

// Watch declares the files `dagster-dev watch` keeps in sync with the cluster.
type Watch struct {
	Env      WatchEnv `yaml:"env"`
	Sources  []Source `yaml:"sources"`
	Debounce Duration `yaml:"debounce"`
}

// WatchEnv maps dotenv files to the chart values dagit.env and job_runner.env.
type WatchEnv struct {
	Dagit     string `yaml:"dagit"`
	JobRunner string `yaml:"job_runner"`
}

// Source is one ConfigMap or Secret built from a file or directory.
type Source struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	Path string `yaml:"path"`
	// Format is auto (default), dotenv, yaml, dir or manifest.
	Format string `yaml:"format"`
	// Attach lists the components whose envFrom gets this object, in the
	// order sources are declared: dagit, job_runner.
	Attach []string `yaml:"attach"`
}

// Source kinds and attach targets.
const (
	KindConfigMap   = "ConfigMap"
	KindSecret      = "Secret"
	TargetDagit     = "dagit"
	TargetJobRunner = "job_runner"
)

// Source formats.
const (
	FormatAuto     = "auto"
	FormatDotenv   = "dotenv"
	FormatYAML     = "yaml"
	FormatDir      = "dir"
	FormatManifest = "manifest"
)

// Duration is a time.Duration written as "90s" or "10m" in YAML.
type Duration struct{ time.Duration }

// ExistingCluster reports whether the config targets an existing kube context
// instead of a kind cluster managed by dagster-dev.
func (c *Config) ExistingCluster() bool { return c.Cluster.Context != "" }

// KubeContext is the kubeconfig context dagster-dev talks to.
func (c *Config) KubeContext() string {
	if c.ExistingCluster() {
		return c.Cluster.Context
	}
	return "kind-" + c.Cluster.Name
}

// KubeconfigExplicit is the kubeconfig file the config names
// (cluster.kubeconfig, resolved against the config file's directory), or ""
// when it names none: then kubeconfigs are read as kubectl reads them
// ($KUBECONFIG merged, else ~/.kube/config).
func (c *Config) KubeconfigExplicit() string {
	return c.Resolve(c.Cluster.Kubeconfig)
}

// Resolve turns a path from the config file into an absolute path, relative
// to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// DagitURL is where Dagit answers on the host.
func (c *Config) DagitURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.Dagit.HostPort)
}

func (c *Config) applyDefaults() {
	if c.Cluster.Name == "" {
		c.Cluster.Name = DefaultClusterName
	}
	if c.Cluster.Nodes == 0 {
		c.Cluster.Nodes = 1
	}
	if c.Dagit.HostPort == 0 {
		c.Dagit.HostPort = DefaultHostPort
	}
	if c.Dagit.NodePort == 0 {
		c.Dagit.NodePort = DefaultNodePort
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Release == "" {
		c.Release = DefaultRelease
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = DefaultTimeout
	}
	if c.Watch.Debounce.Duration == 0 {
		c.Watch.Debounce.Duration = DefaultDebounce
	}
	for i := range c.Watch.Sources {
		if c.Watch.Sources[i].Format == "" {
			c.Watch.Sources[i].Format = FormatAuto
		}
	}
}
