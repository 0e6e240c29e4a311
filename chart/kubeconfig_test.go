package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An empty kubeconfig path means kubectl's loading rules: a context defined
// only in the second file of $KUBECONFIG is found, as kube.Connect finds it,
// so Helm and the Kubernetes clients always talk to the same cluster.
func TestNewActionConfigMergesKUBECONFIG(t *testing.T) {
	dir := t.TempDir()
	write := func(name, port string) string {
		p := filepath.Join(dir, name)
		body := strings.NewReplacer("NAME", name, "PORT", port).Replace(`apiVersion: v1
kind: Config
clusters:
- name: NAME
  cluster: {server: "https://127.0.0.1:PORT"}
users:
- name: NAME
  user: {token: t}
contexts:
- name: NAME
  context: {cluster: NAME, user: NAME}
`)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("first", "1111"), write("second", "2222")
	t.Setenv("KUBECONFIG", a+string(os.PathListSeparator)+b)

	ac, err := NewActionConfig("", "second", "dagster", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ac.RESTClientGetter.ToRESTConfig()
	if err != nil {
		t.Fatalf("context of the second $KUBECONFIG file: %v", err)
	}
	if rc.Host != "https://127.0.0.1:2222" {
		t.Errorf("host %s, want the second file's server", rc.Host)
	}

	// An explicit path is the only file read.
	ac, err = NewActionConfig(a, "second", "dagster", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.RESTClientGetter.ToRESTConfig(); err == nil {
		t.Error("an explicit kubeconfig found a context only $KUBECONFIG's second file has")
	}
}
