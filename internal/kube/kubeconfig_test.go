package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kubeconfigTmpl = `apiVersion: v1
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
`

func writeKubeconfig(t *testing.T, dir, name, port string) string {
	t.Helper()
	p := filepath.Join(dir, name+".yaml")
	body := strings.NewReplacer("NAME", name, "PORT", port).Replace(kubeconfigTmpl)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A context defined only in the second file of $KUBECONFIG is found, as
// kubectl finds it.
func TestConnectMergedKubeconfig(t *testing.T) {
	dir := t.TempDir()
	a := writeKubeconfig(t, dir, "first", "1111")
	b := writeKubeconfig(t, dir, "second", "2222")
	t.Setenv("KUBECONFIG", a+string(os.PathListSeparator)+b)

	c, err := Connect("", "second", "dagster")
	if err != nil {
		t.Fatalf("Connect(second) from merged KUBECONFIG: %v", err)
	}
	if c.REST.Host != "https://127.0.0.1:2222" {
		t.Fatalf("host = %s, want the second file's server", c.REST.Host)
	}
	if c.REST.QPS != clientQPS || c.REST.Burst != clientBurst {
		t.Errorf("QPS/burst = %v/%d, want %v/%d", c.REST.QPS, c.REST.Burst, clientQPS, clientBurst)
	}
	// Helm's clients are built on c.Getter: the same server, rate limits
	// and namespace as the clientset's.
	hr, err := c.Getter.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if hr.Host != c.REST.Host || hr.QPS != c.REST.QPS {
		t.Errorf("Getter: host %s QPS %v, want the clientset's %s %v", hr.Host, hr.QPS, c.REST.Host, c.REST.QPS)
	}
	if ns, _, err := c.Getter.ToRawKubeConfigLoader().Namespace(); err != nil || ns != "dagster" {
		t.Errorf("Getter namespace = %q, %v; want dagster", ns, err)
	}
	if c.File != b {
		t.Errorf("File = %q, want the file that defines the context, %q", c.File, b)
	}
	if _, err := Connect("", "first", ""); err != nil {
		t.Fatalf("Connect(first): %v", err)
	}
	// An explicit file is the only one read, as kubectl --kubeconfig.
	if _, err := Connect(a, "second", ""); err == nil {
		t.Fatal("Connect with an explicit file found a context only $KUBECONFIG's second file has")
	}
	_, err = Connect("", "missing", "")
	if err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("missing context: err = %v", err)
	}
}

func TestKindKubeconfigPath(t *testing.T) {
	dir := t.TempDir()
	existing := writeKubeconfig(t, dir, "x", "1")
	missing := filepath.Join(dir, "missing.yaml")
	sep := string(os.PathListSeparator)
	t.Setenv("HOME", dir)
	for _, tc := range []struct{ explicit, env, want string }{
		{"/explicit", missing + sep + existing, "/explicit"},
		{"", "", filepath.Join(dir, ".kube", "config")},
		{"", missing, missing},
		{"", missing + sep + existing, existing},
		{"", missing + sep + missing + ".2", missing + ".2"},
		{"", existing + sep + existing, existing},
	} {
		t.Setenv("KUBECONFIG", tc.env)
		if got := KindKubeconfigPath(tc.explicit); got != tc.want {
			t.Errorf("KindKubeconfigPath(%q) with KUBECONFIG=%q = %q, want %q", tc.explicit, tc.env, got, tc.want)
		}
	}
}
