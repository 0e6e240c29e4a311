package podlogs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	informerscorev1 "k8s.io/client-go/informers/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Follower follows the logs of a source's pods until its context ends:
// containers running when it starts (from Options.Tail/Since on), and
// every container that starts later, from its first line: a rolled pod, a
// restarted container, a new run's job pods. The pods are watched through
// a client-go informer, which relists and rewatches by itself after the
// API server comes back.
type Follower struct {
	Reader *Reader
	Source Source
	Opts   Options
	Sink   Sink

	begin  time.Time
	lister listerscorev1.PodLister
	mu     sync.Mutex
	seen   map[string]bool // pod UID/container/container ID
	active atomic.Int32
	wg     sync.WaitGroup
}

// Active counts the containers being followed right now.
func (f *Follower) Active() int { return int(f.active.Load()) }

// Run follows until ctx ends. synced, when not nil, is closed once the
// pods that exist at the start are known and their tails started.
func (f *Follower) Run(ctx context.Context, synced chan<- struct{}) error {
	f.begin = time.Now()
	f.seen = map[string]bool{}
	// The pod informer alone, not informers.NewSharedInformerFactory: the
	// factory's package links an informer and a lister for every API group
	// into the binary, and only pods are watched here.
	inf := informerscorev1.NewFilteredPodInformer(f.Reader.Client, f.Source.Namespace, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = f.Source.Selector })
	f.lister = listerscorev1.NewPodLister(inf.GetIndexer())
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { f.consider(ctx, obj) },
		UpdateFunc: func(_, obj any) { f.consider(ctx, obj) },
	})
	if err != nil {
		return err
	}
	var informer sync.WaitGroup
	informer.Go(func() { inf.RunWithContext(ctx) })
	// The registration has synced once the handler has seen every pod of
	// the first listing, so the tails of the pods that exist have started.
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, reg.HasSynced) {
		informer.Wait()
		f.wg.Wait()
		return ctx.Err()
	}
	if synced != nil {
		close(synced)
	}
	<-ctx.Done()
	informer.Wait()
	f.wg.Wait()
	return nil
}

// consider starts a tail for each container of the pod that has a log and
// is not followed yet.
func (f *Follower) consider(ctx context.Context, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	name, ok := f.Source.match(p)
	if !ok {
		return
	}
	for _, t := range containers(p, name) {
		id, running, ok := started(p, t.container)
		if !ok {
			continue
		}
		key := string(p.UID) + "/" + t.container + "/" + id
		f.mu.Lock()
		dup := f.seen[key]
		f.seen[key] = true
		f.mu.Unlock()
		if dup {
			continue
		}
		opts := f.Opts
		isNew := !startedAt(p, t.container).Before(f.begin.Truncate(time.Second))
		switch {
		case isNew:
			// Started after us: its whole log is new to the reader.
			opts = Options{Tail: -1}
			f.Sink.Notice(t.label, "started")
		case !running && !f.Opts.Finished:
			continue
		}
		f.wg.Add(1)
		f.active.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.active.Add(-1)
			if !running {
				if err := f.Reader.readOnce(ctx, f.Source.Namespace, t, opts, &cursor{}, true, f.Sink.Line); err != nil && ctx.Err() == nil {
					f.Sink.Notice(t.label, fmt.Sprintf("log not readable: %v", err))
				}
				return
			}
			f.tail(ctx, t, id, opts)
		}()
	}
}

func startedAt(p *corev1.Pod, container string) time.Time {
	st := containerStatus(p, container)
	switch {
	case st == nil:
		return time.Time{}
	case st.State.Running != nil:
		return st.State.Running.StartedAt.Time
	case st.State.Terminated != nil:
		return st.State.Terminated.StartedAt.Time
	}
	return time.Time{}
}

// instance is what the informer last saw of a followed container.
type instance int

const (
	instanceRunning instance = iota
	instanceEnded            // terminated, or replaced by a newer instance
	instanceGone             // the pod was deleted
)

func (f *Follower) lookup(t target, containerID string) instance {
	p, err := f.lister.Pods(f.Source.Namespace).Get(t.pod.Name)
	if err != nil || p.UID != t.pod.UID {
		return instanceGone
	}
	st := containerStatus(p, t.container)
	if st == nil || st.ContainerID != containerID || st.State.Running == nil {
		return instanceEnded
	}
	return instanceRunning
}

// tail follows one container instance until it ends, reopening a broken
// stream from where it stopped (see the package comment).
func (f *Follower) tail(ctx context.Context, t target, containerID string, o Options) {
	cur := &cursor{}
	first, broken := true, false
	for try := 0; ctx.Err() == nil; {
		rc, err := f.Reader.opener().Open(ctx, f.Source.Namespace, t.pod.Name, logOptions(t.container, true, o, first, cur))
		if err == nil {
			if broken {
				f.Sink.Notice(t.label, "reconnected")
				broken = false
			}
			first = false
			before := cur.last
			err = readStream(rc, cur, t.label, f.Sink.Line)
			rc.Close()
			if cur.last.After(before) {
				try = 0
			}
		}
		if ctx.Err() != nil {
			return
		}
		switch f.lookup(t, containerID) {
		case instanceGone:
			f.Sink.Notice(t.label, "pod gone")
			return
		case instanceEnded:
			// The stream may have broken just before the end: read what
			// is left once, from where it stopped.
			_ = f.Reader.readOnce(ctx, f.Source.Namespace, t, o, cur, first, f.Sink.Line)
			f.Sink.Notice(t.label, "ended")
			return
		}
		if err != nil {
			if apierrors.IsBadRequest(err) {
				// The API refuses this container's log outright.
				f.Sink.Notice(t.label, fmt.Sprintf("log not readable: %v", err))
				return
			}
			// Anything else may pass while the container runs: an API
			// server that restarts refuses connections, then answers
			// Forbidden until its authorizer has synced.
			if !broken {
				f.Sink.Notice(t.label, fmt.Sprintf("log stream broken, reconnecting: %v", err))
			}
			broken = true
		}
		if err := sleep(ctx, f.Reader.retry(try)); err != nil {
			return
		}
		try++
	}
}
