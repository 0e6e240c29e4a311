package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// A missing image must fail StartLoadImages itself, before the caller
// creates a cluster for it.
func TestStartLoadImagesMissingImageFailsBeforeAnyCluster(t *testing.T) {
	f := newFakeDocker()
	p := NewProvider(withDocker(f))
	job, err := p.StartLoadImages(context.Background(), Spec{Name: "dd"}, []string{"my/app:dev"}, nil)
	var me *MissingImageError
	if job != nil || !errors.As(err, &me) || me.Image != "my/app:dev" {
		t.Fatalf("StartLoadImages = %v, %v; want a *MissingImageError for my/app:dev", job, err)
	}
}

func TestStartLoadImagesNothingToLoad(t *testing.T) {
	p := NewProvider(withDocker(newFakeDocker()))
	job, err := p.StartLoadImages(context.Background(), Spec{Name: "dd"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loads, err := job.Wait(); loads != nil || err != nil {
		t.Errorf("Wait = %v, %v", loads, err)
	}
}

// listCounter is a DockerClient that reports each container list: the job
// lists the node containers once per look for its nodes.
type listCounter struct {
	*fakeDocker
	lists chan struct{}
}

func (c *listCounter) ContainerList(ctx context.Context, o container.ListOptions) ([]container.Summary, error) {
	out, err := c.fakeDocker.ContainerList(ctx, o)
	select {
	case c.lists <- struct{}{}:
	default:
	}
	return out, err
}

// While the cluster does not exist yet the job waits for its nodes; when
// the caller gives up (the create failed) it ends with the cancellation and
// has loaded nothing.
func TestStartLoadImagesWaitsForNodesUntilCancelled(t *testing.T) {
	f := newFakeDocker()
	f.images["app:1"] = imageWithID("sha256:aaa")
	c := &listCounter{fakeDocker: f, lists: make(chan struct{}, 100)}
	p := NewProvider(withDocker(c))
	ctx, cancel := context.WithCancel(context.Background())
	job, err := p.StartLoadImages(ctx, Spec{Name: "dd"}, []string{"app:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// StartLoadImages listed the nodes once itself; two more lists are two
	// looks of the job's wait, the second after it found no node and went
	// on waiting.
	for i := 0; i < 3; i++ {
		select {
		case <-c.lists:
		case <-time.After(10 * time.Second):
			t.Fatalf("the job looked for nodes %d times, want it to keep looking", i)
		}
	}
	select {
	case <-job.done:
		_, err := job.Wait()
		t.Fatalf("the job ended without nodes and without a cancellation: %v", err)
	default:
	}
	cancel()
	done := make(chan error, 1)
	go func() { _, err := job.Wait(); done <- err }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not end after cancellation")
	}
	if !errors.Is(err, context.Canceled) || f.saves != 0 {
		t.Errorf("err = %v, saves = %d; want context.Canceled and nothing saved", err, f.saves)
	}
}

// With a short ready timeout the wait ends with what it was waiting for.
func TestStartLoadImagesNodesNeverComeUp(t *testing.T) {
	f := newFakeDocker()
	f.images["app:1"] = imageWithID("sha256:aaa")
	f.addNode("dd", "dd-control-plane", RoleControlPlane, "exited", img134, nil)
	p := NewProvider(withDocker(f), WithReadyTimeout(time.Second))
	job, err := p.StartLoadImages(context.Background(), Spec{Name: "dd"}, []string{"app:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = job.Wait()
	if err == nil || !strings.Contains(err.Error(), "0 of 1 node containers running") {
		t.Errorf("err = %v", err)
	}
}
