package sources

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// Syncer keeps the objects of one namespace equal to their sources and
// restarts the workloads that read a changed one. It remembers what each
// object holds in the cluster (read once, then as last applied), so content
// equal to the cluster's is never applied again and restarts nothing.
//
// Applies and restarts are two steps: Apply writes objects one by one,
// Restart then patches the readers of everything applied since the last
// complete Restart. An API failure in between leaves the applied objects
// pending, and the next Restart finishes the job. A Syncer is not safe for
// concurrent use.
type Syncer struct {
	// Problem receives what went wrong with one object or workload without
	// stopping the pass: an apply or patch the API server refused. Nil
	// drops them.
	Problem func(error)
	// Info receives notices (a paused Deployment). Nil drops them.
	Info func(string)
	// Retryable tells the API errors the caller retries (returned) from
	// those that go to Problem. Nil means kube.Transient; watch widens it while
	// a restarted API server is still starting.
	Retryable func(error) bool

	client    kubernetes.Interface
	namespace string
	// objects is the content of each object in the cluster, as last
	// applied or read: the base for "unchanged".
	objects map[string]*Object
	// known marks objects whose cluster state was read at least once;
	// absent ones are known with a nil entry in objects.
	known map[string]bool
	// unrolled are objects applied whose readers are not patched yet.
	unrolled map[string]bool
}

// NewSyncer returns a Syncer for the namespace.
func NewSyncer(client kubernetes.Interface, namespace string) *Syncer {
	return &Syncer{
		client:    client,
		namespace: namespace,
		objects:   map[string]*Object{},
		known:     map[string]bool{},
		unrolled:  map[string]bool{},
	}
}

func (s *Syncer) retryable(err error) bool {
	if s.Retryable != nil {
		return s.Retryable(err)
	}
	return kube.Transient(err)
}

func (s *Syncer) problem(err error) {
	if s.Problem != nil {
		s.Problem(err)
	}
}

func (s *Syncer) info(msg string) {
	if s.Info != nil {
		s.Info(msg)
	}
}

// Apply makes the cluster's object hold obj's content; origin (the source
// path as declared) goes into SourceAnnotation. It returns the previous
// content (nil when the object did not exist) and whether it wrote: equal
// content writes nothing. A refused apply goes to Problem and is not an
// error; the error is set only when the pass must stop: the live object
// could not be read, or the API server could not be reached (kube.Transient).
func (s *Syncer) Apply(ctx context.Context, obj *Object, origin string) (prev *Object, applied bool, err error) {
	key := obj.Key()
	if !s.known[key] {
		live, err := getLive(ctx, s.client, s.namespace, obj.Kind, obj.Name)
		if err != nil {
			return nil, false, fmt.Errorf("reading %s: %w", key, err)
		}
		s.objects[key], s.known[key] = live, true
	}
	prev = s.objects[key]
	if prev != nil && prev.Hash() == obj.Hash() {
		return prev, false, nil // unchanged content: no apply, no restart
	}
	if err := applyObject(ctx, s.client, s.namespace, obj, origin); err != nil {
		if s.retryable(err) {
			return prev, false, fmt.Errorf("applying %s: %w", key, err)
		}
		s.problem(fmt.Errorf("%s: applying %s: %w", obj.File, key, err))
		return prev, false, nil
	}
	s.objects[key] = obj
	s.unrolled[key] = true
	return prev, true, nil
}

// Restart sets HashAnnotation on the pod template of every workload that
// reads an object applied since the last complete Restart and whose
// annotation differs from the hash of what it reads now (PlanRestarts). It
// returns the planned restarts, paused Deployments included (they take the
// patch but do not roll; Info says so). A refused patch goes to Problem; the
// error is set when the workloads could not be listed or the API server
// could not be reached, and then the next Restart tries again.
func (s *Syncer) Restart(ctx context.Context) ([]Restart, error) {
	if len(s.unrolled) == 0 {
		return nil, nil
	}
	workloads, err := ListWorkloads(ctx, s.client, s.namespace)
	if err != nil {
		return nil, err
	}
	restarts := PlanRestarts(workloads, s.unrolled, s.objects)
	for _, r := range restarts {
		if r.Workload.Paused {
			s.info(fmt.Sprintf("%s is paused: its pod template was updated but it will not roll until resumed", r.Workload.ID()))
		}
		if err := patchTemplate(ctx, s.client, s.namespace, r.Workload, r.Hash); err != nil {
			if s.retryable(err) {
				return nil, fmt.Errorf("restarting %s: %w", r.Workload.ID(), err)
			}
			s.problem(fmt.Errorf("restarting %s: %w", r.Workload.ID(), err))
		}
	}
	s.unrolled = map[string]bool{}
	return restarts, nil
}

// Applied is one object ApplySources wrote.
type Applied struct {
	Source config.Source
	// Object is the content now in the cluster.
	Object *Object
	// Previous is the content before; nil when the apply created it.
	Previous *Object
	// Restarted are the workloads rolled for it (paused ones excluded).
	Restarted []Workload
}

// ApplySources applies every source of cfg whose content differs from the
// cluster and restarts the workloads that read a changed one, without
// waiting for them. `up` calls it before installing the chart, so that the
// objects the chart references exist. It loads every source first and
// applies nothing if any is bad, returning all their errors. It takes no
// lease: it is short and idempotent. Like a watch sync, an apply or patch
// the API server refuses is skipped, not returned.
func ApplySources(ctx context.Context, cfg *config.Config, client kubernetes.Interface) ([]Applied, error) {
	if cfg == nil {
		return nil, errors.New("sources: a config is required")
	}
	if client == nil {
		return nil, errors.New("sources: a Kubernetes client is required")
	}
	objs, err := loadAll(cfg)
	if err != nil {
		return nil, err
	}
	s := NewSyncer(client, cfg.Namespace)
	var out []Applied
	for i, src := range cfg.Watch.Sources {
		prev, applied, err := s.Apply(ctx, objs[i], src.Path)
		if err != nil {
			return nil, err
		}
		if applied {
			out = append(out, Applied{Source: src, Object: objs[i], Previous: prev})
		}
	}
	restarts, err := s.Restart(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		key := out[i].Object.Key()
		for _, r := range restarts {
			if !r.Workload.Paused && slices.Contains(r.Because, key) {
				out[i].Restarted = append(out[i].Restarted, r.Workload)
			}
		}
	}
	return out, nil
}

// loadAll loads every source of cfg, in order, or returns the errors of all
// that fail.
func loadAll(cfg *config.Config) ([]*Object, error) {
	objs := make([]*Object, 0, len(cfg.Watch.Sources))
	var errs []error
	for _, src := range cfg.Watch.Sources {
		obj, err := LoadSource(cfg, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, obj)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}
