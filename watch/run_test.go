package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func unreachable(c *fake.Clientset, n int) *int {
	calls := new(int)
	var mu sync.Mutex
	c.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		*calls++
		if *calls <= n {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return false, nil, nil
	})
	return calls
}

func TestSyncRetriesWhileTheAPIServerIsUnreachable(t *testing.T) {
	cfg := project(t)
	client := cluster()
	calls := unreachable(client, 2)
	rec := &recorder{}
	start := time.Now()
	if err := Sync(context.Background(), Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: (&waiter{}).wait}); err != nil {
		t.Fatal(err)
	}
	if *calls < 3 {
		t.Errorf("%d calls", *calls)
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("retried too fast (%s): backoff is 0.5 s then 1 s", took)
	}
	infos, _, _ := rec.snapshot()
	n := 0
	for _, s := range infos {
		if strings.Contains(s, "API server unreachable") && strings.Contains(s, "retrying in") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want two retry messages, got %v", infos)
	}
	if got := configMapData(t, client, "team"); got["LOG_LEVEL"] != "info" {
		t.Errorf("not applied after recovery: %v", got)
	}
}

// stopRun cancels a Run and expects it to return nil promptly.
func stopRun(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunWatchesRecoversAndStops(t *testing.T) {
	cfg := project(t)
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	rec := &recorder{}
	w := &waiter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: w.wait, Identity: "first"})
	}()
	cmData := func() map[string]string {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return cm.Data
	}
	waitUntil(t, "the initial sync", func() bool { return cmData()["LOG_LEVEL"] == "info" })

	// A second watch on the same environment is refused.
	err := Run(context.Background(), Options{Config: cfg, Client: client, Identity: "second"})
	if !errors.Is(err, ErrAlreadyWatching) || !strings.Contains(err.Error(), "held by first") {
		t.Fatalf("second watch: %v", err)
	}

	// An edit is applied.
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=debug\n")
	waitUntil(t, "the edit", func() bool { return cmData()["LOG_LEVEL"] == "debug" })

	// A bad edit is reported and applies nothing; the fix recovers.
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=broken\n1BAD=x\n")
	waitUntil(t, "the problem report", func() bool { _, p, _ := rec.snapshot(); return len(p) == 1 })
	if cmData()["LOG_LEVEL"] != "debug" {
		t.Fatal("bad input was applied")
	}
	_, problems, _ := rec.snapshot()
	if !strings.Contains(problems[0], "team.env:2: invalid variable name") {
		t.Errorf("problem %q", problems[0])
	}
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=fixed\n")
	waitUntil(t, "the fix", func() bool { return cmData()["LOG_LEVEL"] == "fixed" })
	infos, _, _ := rec.snapshot()
	if !slices.ContainsFunc(infos, func(s string) bool { return strings.HasSuffix(s, "team.env: fixed") }) {
		t.Errorf("no recovery message in %v", infos)
	}

	// Deleting the source keeps the object.
	if err := os.Remove(filepath.Join(cfg.Dir, "team.env")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deletion report", func() bool { _, p, _ := rec.snapshot(); return len(p) == 2 })
	if cmData()["LOG_LEVEL"] != "fixed" {
		t.Fatal("deleting the file changed the object")
	}

	stopRun(t, cancel, done)
	if _, err := client.CoordinationV1().Leases(ns).Get(context.Background(), LeaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease not released: %v", err)
	}
}

// A burst of saves is one apply, of the last content: the sync reads the
// files once the burst is over, not once per event.
func TestRunCoalescesABurst(t *testing.T) {
	cfg := project(t)
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	// The barriers go next to team.env, whose directory is watched.
	s := newStepper(t, cfg.Dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Client: client, WaitRollout: (&waiter{}).wait, hooks: s.hooks})
	}()
	waitUntil(t, "the initial sync", func() bool {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		return err == nil && cm.Data["LOG_LEVEL"] == "info"
	})
	countApplies := func() int {
		n := 0
		for _, a := range client.Actions() {
			if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "configmaps" && string(p.GetPatchType()) == "application/apply-patch+yaml" {
				n++
			}
		}
		return n
	}
	before := countApplies()
	for i := 0; i < 200; i++ {
		write(t, cfg.Dir, "team.env", fmt.Sprintf("LOG_LEVEL=v%d\n", i))
	}
	if b := s.settle(); len(b.paths) != 1 || !b.paths[filepath.Join(cfg.Dir, "team.env")] {
		t.Fatalf("batch %v, want team.env alone", b.paths)
	}
	waitUntil(t, "the final content", func() bool {
		cm, _ := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "team", metav1.GetOptions{})
		return cm.Data["LOG_LEVEL"] == "v199"
	})
	// That batch was the only one: nothing else is pending, and without a
	// flush nothing is delivered, so the count is final.
	if b := s.flush(); !b.empty() {
		t.Fatalf("a second batch %v", b.paths)
	}
	if n := countApplies() - before; n != 1 {
		t.Errorf("a 200-write burst gave %d applies, want 1", n)
	}
	stopRun(t, cancel, done)
}

func TestLease(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &lease{client: client, namespace: ns, identity: "a", now: clock}
	b := &lease{client: client, namespace: ns, identity: "b", now: clock}
	if err := a.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.acquire(ctx); err != nil {
		t.Fatalf("re-acquiring an own lease: %v", err)
	}
	if err := b.acquire(ctx); !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("b acquired a held lease: %v", err)
	}
	now = now.Add(10 * time.Second)
	if err := a.renew(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(14 * time.Second) // 14 s after the renewal: still held
	if err := b.acquire(ctx); !errors.Is(err, ErrAlreadyWatching) {
		t.Fatalf("b took a lease renewed 14 s ago: %v", err)
	}
	now = now.Add(2 * time.Second) // 16 s: a crashed watch's lease expired
	if err := b.acquire(ctx); err != nil {
		t.Fatalf("b could not take an expired lease: %v", err)
	}
	if err := a.renew(ctx); !errors.Is(err, errLeaseLost) {
		t.Fatalf("a did not notice it lost the lease: %v", err)
	}
	a.release() // not the holder: must not delete b's lease
	if _, err := client.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{}); err != nil {
		t.Fatalf("a released b's lease: %v", err)
	}
	b.release()
	if _, err := client.CoordinationV1().Leases(ns).Get(ctx, LeaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("release left the lease: %v", err)
	}
}

func TestLeaseNeedsTheNamespace(t *testing.T) {
	client := fake.NewClientset()
	l := &lease{client: client, namespace: "missing", identity: "a", now: time.Now}
	// The fake does not enforce namespaces; emulate the API server.
	client.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "missing")
	})
	if err := l.acquire(context.Background()); err == nil || !strings.Contains(err.Error(), "run `dagster-dev up` first") {
		t.Fatalf("got %v", err)
	}
}

// recoverer is a RecoveryWaiter whose followers the test ends by hand.
type recoverer struct {
	mu        sync.Mutex
	followers []*fakeFollower
}

type fakeFollower struct {
	id      string
	ctx     context.Context
	recover chan struct{}
}

func (r *recoverer) wait(ctx context.Context, _ kubernetes.Interface, _, kind, name string) error {
	f := &fakeFollower{id: kind + "/" + name, ctx: ctx, recover: make(chan struct{})}
	r.mu.Lock()
	r.followers = append(r.followers, f)
	r.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.recover:
		return nil
	}
}

// live returns the followers of id that have not been stopped.
func (r *recoverer) live(id string) []*fakeFollower {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*fakeFollower
	for _, f := range r.followers {
		if f.id == id && f.ctx.Err() == nil {
			out = append(out, f)
		}
	}
	return out
}

// A rollout reported as failed is followed; when it recovers on its own
// (no new save), watch says so. A later change to the same workload stops
// the older follower, whose recovery is then not news.
func TestRunReportsAFailedRolloutThatRecovers(t *testing.T) {
	cfg := project(t)
	client := cluster(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	rec := &recorder{}
	w := &waiter{err: errors.New("pod dagit-1: CrashLoopBackOff")}
	r := &recoverer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Client: client, Reporter: rec, WaitRollout: w.wait, WaitRecovered: r.wait, Identity: "t"})
	}()
	recovered := func(id string) int {
		infos, _, _ := rec.snapshot()
		n := 0
		for _, s := range infos {
			if strings.HasPrefix(s, id+" ") && strings.Contains(s, "recovered") {
				n++
			}
		}
		return n
	}
	// edits counts the changes of LOG_LEVEL in ConfigMap/team: the first
	// sync's changes (team and creds, created) are reported by goroutines
	// of their own, in any order and maybe after an edit's.
	edits := func() int {
		_, _, cs := rec.snapshot()
		n := 0
		for _, c := range cs {
			if c.Object == "ConfigMap/team" && slices.Contains(c.Changed, "LOG_LEVEL") {
				n++
			}
		}
		return n
	}

	// The first sync creates the ConfigMap: its readers roll and fail too.
	waitUntil(t, "the initial sync's followers", func() bool {
		return len(r.live("Deployment/dagit")) == 1 && len(r.live("StatefulSet/db")) == 1
	})
	initial := r.live("Deployment/dagit")
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=debug\n")
	waitUntil(t, "the edit", func() bool { return edits() == 1 })
	for _, f := range initial {
		if f.ctx.Err() == nil {
			t.Error("the initial sync's follower runs on after the edit restarted its workload")
		}
	}
	waitUntil(t, "followers of the failed rollout", func() bool {
		return len(r.live("Deployment/dagit")) == 1 && len(r.live("StatefulSet/db")) == 1
	})
	_, _, cs := rec.snapshot()
	if i := slices.IndexFunc(cs, func(c Change) bool { return slices.Contains(c.Changed, "LOG_LEVEL") }); cs[i].RolloutErr == nil {
		t.Fatalf("change %+v: want a rollout failure", cs[i])
	}
	close(r.live("Deployment/dagit")[0].recover)
	waitUntil(t, "the recovery report", func() bool { return recovered("Deployment/dagit") == 1 })
	infos, _, _ := rec.snapshot()
	i := slices.IndexFunc(infos, func(s string) bool { return strings.HasPrefix(s, "Deployment/dagit ") })
	if s := infos[i]; !strings.Contains(s, "ConfigMap/team") || !strings.Contains(s, "team.env") || !strings.Contains(s, "after save") {
		t.Errorf("recovery report %q: want the object, the file and the time since the save", s)
	}

	// The StatefulSet is still followed; a new change restarts it and
	// takes over: the old follower stops and a new one starts.
	old := r.live("StatefulSet/db")[0]
	write(t, cfg.Dir, "team.env", "LOG_LEVEL=info\n")
	waitUntil(t, "the second change", func() bool { return edits() == 2 })
	waitUntil(t, "the old follower to stop", func() bool { return old.ctx.Err() != nil })
	waitUntil(t, "the new follower", func() bool { return len(r.live("StatefulSet/db")) == 1 })
	close(old.recover) // stopped already: no report from it
	close(r.live("StatefulSet/db")[0].recover)
	waitUntil(t, "the new follower's report", func() bool { return recovered("StatefulSet/db") >= 1 })

	// Run returns once every follower has ended, so the reports are all in.
	stopRun(t, cancel, done)
	if n := recovered("StatefulSet/db"); n != 1 {
		t.Errorf("%d recovery reports for StatefulSet/db, want 1 (the superseded follower must stay quiet)", n)
	}
	if n := len(r.live("Deployment/dagit")) + len(r.live("StatefulSet/db")); n != 0 {
		t.Errorf("%d followers still running after Run returned", n)
	}
}
