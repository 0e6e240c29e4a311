package kube

import (
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// KindKubeconfigPath is the one file kind writes a cluster's context to,
// following kind's (and kubectl's) rule for writing: the explicit path;
// else, when $KUBECONFIG lists one file, that file; when it lists several,
// the first that exists, or the last if none does; else ~/.kube/config.
func KindKubeconfigPath(explicitPath string) string {
	if explicitPath != "" {
		return explicitPath
	}
	var paths []string
	seen := map[string]bool{}
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p != "" && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	switch len(paths) {
	case 0:
		return homeKubeconfig()
	case 1:
		return paths[0]
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return paths[len(paths)-1]
}

// DisplayPath names the kubeconfig a context is read from, for messages:
// the explicit file, or $KUBECONFIG as the user set it, or ~/.kube/config.
func DisplayPath(explicitPath string) string {
	if explicitPath != "" {
		return explicitPath
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return env
	}
	return homeKubeconfig()
}

func homeKubeconfig() string {
	home := os.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return clientcmd.RecommendedHomeFile
	}
	return filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}
