package watch

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dagster-dev/dagster-dev/config"
)

// rssChildEnv turns the test binary into a plain watch process (see
// TestMain): "kubeconfig|context|config file". Measuring a separate process
// keeps the parent's kind and Docker clients out of the figure.
const rssChildEnv = "DAGSTER_DEV_WATCH_RSS_CHILD"

func rssChild() int {
	parts := strings.Split(os.Getenv(rssChildEnv), "|")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "bad", rssChildEnv)
		return 2
	}
	cfg, err := config.Load(parts[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: parts[0]},
		&clientcmd.ConfigOverrides{CurrentContext: parts[1]}).ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Ctrl-C is how users stop watch: it must be a clean exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, Options{Config: cfg, Client: client, Reporter: NewTextReporter(os.Stdout)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// memory reads a process's resident set in KiB: total, anonymous (heap,
// stacks: what the process itself holds) and file-backed (pages of the
// executable, shared with the page cache and reclaimable).
type memory struct{ rss, anon, file int }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB)", float64(m.rss)/1024, float64(m.anon)/1024, float64(m.file)/1024)
}

func readMemory(t testing.TB, pid int) memory {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			m.rss = n
		case "RssAnon:":
			m.anon = n
		case "RssFile:":
			m.file = n
		}
	}
	return m
}

// TestKindIdleRSS runs watch as its own process against the kind cluster,
// twice: the plain watch package (this test binary in rssChild mode) and
// the built CLI (`dagster-dev watch`). Each idles, is measured, gets one
// edit, and is stopped with SIGINT, which must end it with exit code 0.
func TestKindIdleRSS(t *testing.T) {
	k := requireKind(t)
	p := newKindProject(t, k)
	cfgPath := filepath.Join(p.cfg.Dir, "dagster-dev.yaml")
	body := fmt.Sprintf("cluster: {context: kind-%s, kubeconfig: %s}\nnamespace: %s\nwatch:\n  sources:\n", kindName, k.kubeconfig, p.ns)
	for _, s := range p.cfg.Watch.Sources {
		body += fmt.Sprintf("    - {name: %s, kind: %s, path: %s, attach: [%s]}\n", s.Name, s.Kind, s.Path, strings.Join(s.Attach, ", "))
	}
	write(t, p.cfg.Dir, "dagster-dev.yaml", body)

	t.Run("watch package", func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), rssChildEnv+"="+k.kubeconfig+"|kind-"+kindName+"|"+cfgPath)
		measureWatch(t, cmd, p, "TEAM_VALUE=rss-1\n")
	})
	t.Run("dagster-dev CLI", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "dagster-dev")
		// Built as README "Build" says (no cgo): a cgo build links in
		// plugin support and is ~30 MB more resident.
		build := exec.Command("go", "build", "-o", bin, "github.com/dagster-dev/dagster-dev/cmd/dagster-dev")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the CLI: %v\n%s", err, out)
		}
		measureWatch(t, exec.Command(bin, "watch", "--config", cfgPath), p, "TEAM_VALUE=rss-2\n")
	})
}

func measureWatch(t *testing.T, cmd *exec.Cmd, p *kindProject, edit string) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(substr string) {
		t.Helper()
		timeout := time.After(3 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch exited before %q: %s", substr, stderr.String())
				}
				t.Logf("child: %s", l)
				if strings.Contains(l, substr) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q from the watch process", substr)
			}
		}
	}
	waitLine("watching")
	time.Sleep(20 * time.Second)
	idle := readMemory(t, cmd.Process.Pid)
	replace(t, filepath.Join(p.cfg.Dir, "team.env"), edit)
	waitLine("ConfigMap/team")
	time.Sleep(2 * time.Second)
	after := readMemory(t, cmd.Process.Pid)
	st, _ := os.Stat(cmd.Path)
	t.Logf("FIGURE %s idle: %s; after one change and rollout: %s; executable %d MiB (goal: 60 MiB idle)",
		t.Name(), idle, after, st.Size()>>20)
	// The file-backed part is the executable's pages, which grow with
	// everything linked into the binary (Helm, kind, Docker), not with
	// what watch does; the goal is checked against what watch holds.
	if idle.anon > 60*1024 {
		t.Errorf("idle anonymous memory %.1f MiB is over the 60 MiB goal", float64(idle.anon)/1024)
	}

	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain so the child never blocks on stdout
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch did not exit cleanly on SIGINT: %v: %s", err, stderr.String())
	}
	t.Logf("FIGURE %s SIGINT → exit %s", t.Name(), time.Since(start).Round(time.Millisecond))
}
