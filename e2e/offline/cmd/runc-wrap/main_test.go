package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args                 []string
		cmd, bundle, process string
	}{
		{[]string{"--root", "/run/x", "--log", "/l", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "/b", "--pid-file", "/p", "id"}, "create", "/b", ""},
		{[]string{"create", "-b", "/b2", "id"}, "create", "/b2", ""},
		{[]string{"run", "--bundle=/b3", "id"}, "run", "/b3", ""},
		{[]string{"--root", "exec", "exec", "--process", "/tmp/p.json", "--detach", "id"}, "exec", "", "/tmp/p.json"},
		{[]string{"exec", "-p", "/tmp/q.json", "id"}, "exec", "", "/tmp/q.json"},
		{[]string{"state", "id"}, "state", "", ""},
	} {
		c, b, p := parseArgs(tc.args)
		if c != tc.cmd || b != tc.bundle || p != tc.process {
			t.Errorf("parseArgs(%q) = %q %q %q, want %q %q %q", tc.args, c, b, p, tc.cmd, tc.bundle, tc.process)
		}
	}
}

func TestStrip(t *testing.T) {
	in := `{"ociVersion":"1.0.2","process":{"user":{"uid":4294967294,"gid":0},"capabilities":{` +
		`"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],"effective":["CAP_SYS_RESOURCE"],` +
		`"permitted":["CAP_CHOWN"]}},"linux":{"resources":{"memory":{"limit":9223372036854771712}}}}`
	out, changed, err := strip([]byte(in), "process.capabilities")
	if err != nil || !changed {
		t.Fatalf("strip: changed=%v err=%v", changed, err)
	}
	if strings.Contains(string(out), "CAP_SYS_RESOURCE") {
		t.Fatalf("CAP_SYS_RESOURCE still present: %s", out)
	}
	// big numbers survive exactly
	if !strings.Contains(string(out), "9223372036854771712") || !strings.Contains(string(out), "4294967294") {
		t.Fatalf("numbers changed: %s", out)
	}
	var doc struct {
		Process struct {
			Capabilities map[string][]string
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Process.Capabilities["bounding"]; len(got) != 2 || got[0] != "CAP_CHOWN" || got[1] != "CAP_SYS_ADMIN" {
		t.Fatalf("bounding = %v", got)
	}
	if got := doc.Process.Capabilities["effective"]; len(got) != 0 {
		t.Fatalf("effective = %v", got)
	}
}

func TestStripUnchanged(t *testing.T) {
	in := `{"capabilities":{"bounding":["CAP_CHOWN"]}}`
	out, changed, err := strip([]byte(in), "capabilities")
	if err != nil || changed || string(out) != in {
		t.Fatalf("got %s changed=%v err=%v", out, changed, err)
	}
	// mentioned elsewhere (e.g. in an env var) but not in the capability lists
	in = `{"env":["X=CAP_SYS_RESOURCE"],"capabilities":{"bounding":["CAP_CHOWN"]}}`
	if _, changed, _ := strip([]byte(in), "capabilities"); changed {
		t.Fatal("changed a document whose capability lists lack the capability")
	}
}
