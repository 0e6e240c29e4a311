package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/distribution/reference"
)

// Difference is one way an existing cluster differs from the spec.
type Difference struct {
	Field string // "nodes", "node image", "dagit host port"
	Want  string
	Have  string
}

// DriftError says an existing cluster does not match the spec. dagster-dev
// never recreates a cluster on its own (that would throw away the Dagster
// database and every loaded image), so the user has to decide.
type DriftError struct {
	Cluster     string
	Owned       bool // created by dagster-dev (so `dagster-dev down` may delete it)
	Differences []Difference
}

func (e *DriftError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind cluster %q exists but differs from the configuration:", e.Cluster)
	for _, d := range e.Differences {
		fmt.Fprintf(&b, "\n  - %s: want %s, have %s", d.Field, d.Want, d.Have)
	}
	return b.String()
}

// Fix tells the user how to get a matching cluster. A kind port mapping,
// node image or node count can only be set when a cluster is created.
func (e *DriftError) Fix() string {
	if e.Owned && e.onlyCodeMount() {
		// The cluster was made from another project directory's config:
		// "change it back" would mean editing the other project.
		return "the code mount is fixed when a kind cluster is created, and this cluster was created from another directory's configuration: give this project its own cluster (set cluster.name in this dagster-dev.yaml to another name), or run `dagster-dev down` then `dagster-dev up` from here to recreate it with this directory's code root (this deletes the cluster and its data)"
	}
	if e.Owned {
		return "these settings are fixed when a kind cluster is created: run `dagster-dev down` then `dagster-dev up` to recreate it (this deletes the cluster and its data), or change dagster-dev.yaml back"
	}
	return fmt.Sprintf("the cluster was not created by dagster-dev, so dagster-dev will not delete it: delete it yourself (`kind delete cluster --name %s`), set cluster.name to another name, or change dagster-dev.yaml to match it", e.Cluster)
}

func (e *DriftError) onlyCodeMount() bool {
	for _, d := range e.Differences {
		if d.Field != fieldCodeMount {
			return false
		}
	}
	return len(e.Differences) > 0
}

// compareSpec lists how the live node containers differ from the spec. The
// spec must be normalized. An empty result means the cluster matches.
func compareSpec(want Spec, nodes []nodeContainer) []Difference {
	var diffs []Difference

	// Node count and shape: exactly one control-plane, Nodes-1 workers and
	// nothing else (an HA cluster has a load balancer node and is not what
	// dagster-dev would create).
	roles := map[string]int{}
	for _, n := range nodes {
		roles[n.Role]++
	}
	wantRoles := map[string]int{RoleControlPlane: 1}
	if want.Nodes > 1 {
		wantRoles[RoleWorker] = want.Nodes - 1
	}
	if !sameCounts(roles, wantRoles) {
		diffs = append(diffs, Difference{Field: "nodes", Want: describeRoles(wantRoles), Have: describeRoles(roles)})
	}

	// Node image: every Kubernetes node must run the wanted image.
	var haveImages []string
	seen := map[string]bool{}
	mismatch := false
	for _, n := range nodes {
		if n.Role != RoleControlPlane && n.Role != RoleWorker {
			continue
		}
		if !sameImage(want.NodeImage, n.Image) {
			mismatch = true
		}
		if !seen[n.Image] {
			seen[n.Image] = true
			haveImages = append(haveImages, n.Image)
		}
	}
	if mismatch {
		diffs = append(diffs, Difference{Field: "node image", Want: quote(want.NodeImage), Have: quoteAll(haveImages)})
	}

	// Port mapping on the control-plane. Compared as a set: an extra mapping
	// holds a host port dagster-dev did not ask for, a missing one leaves
	// Dagit unreachable.
	var havePorts []string
	if cp := controlPlane(nodes); cp != nil {
		havePorts = cp.Ports
	}
	wp := wantPorts(want)
	if !equalStrings(wp, havePorts) {
		diffs = append(diffs, Difference{Field: "dagit host port", Want: describePorts(wp), Have: describePorts(havePorts)})
	}

	// The code mount, on every Kubernetes node, when a code location needs it.
	if want.CodeMount.Required {
		if d := codeMountDifference(want, nodes); d != nil {
			diffs = append(diffs, *d)
		}
	}
	return diffs
}

const fieldCodeMount = "code mount (cluster.codeRoot)"

// codeMountDifference says how the nodes' code mount differs from the one
// want asks for, or nil when every Kubernetes node has it. A mount of
// another directory is as wrong as none: code locations are found below
// the mount by their path relative to the code root.
func codeMountDifference(want Spec, nodes []nodeContainer) *Difference {
	if want.CodeMount.IsZero() {
		return nil
	}
	wantMount := want.CodeMount.String()
	var other, without []string
	for _, n := range nodes {
		if n.Role != RoleControlPlane && n.Role != RoleWorker {
			continue
		}
		if slices.Contains(n.Mounts, wantMount) {
			continue
		}
		without = append(without, n.Name)
		for _, m := range n.Mounts {
			if strings.HasSuffix(m, " -> "+want.CodeMount.NodePath) && !slices.Contains(other, m) {
				other = append(other, m)
			}
		}
	}
	if len(without) == 0 {
		return nil
	}
	have := "no code mount on " + strings.Join(without, ", ")
	if len(other) > 0 {
		have = strings.Join(other, ", ")
	}
	return &Difference{Field: fieldCodeMount, Want: wantMount + " on every node", Have: have}
}

// CheckCodeMount returns a *DriftError when the cluster's nodes do not
// mount spec's code root, which path code locations need: call it before
// adding one to a running environment (watch, the e2e suite), where the
// pod would otherwise fail on its subPath with no word of the cause.
func (p *Provider) CheckCodeMount(ctx context.Context, spec Spec) error {
	dc, err := p.dockerClient()
	if err != nil {
		return err
	}
	nodes, err := listNodeContainers(ctx, dc, spec.Name)
	if err != nil {
		return p.dockerError(err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("kind cluster %q does not exist: run `dagster-dev up`", spec.Name)
	}
	d := codeMountDifference(spec, nodes)
	if d == nil {
		return nil
	}
	owned := false
	if cp := controlPlane(nodes); cp != nil {
		rec, err := readOwner(ctx, dc, cp.ID)
		owned = err == nil && rec != nil
	}
	return &DriftError{Cluster: spec.Name, Owned: owned, Differences: []Difference{*d}}
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// describeRoles renders role counts as "2 (1 control-plane, 1 worker)".
func describeRoles(m map[string]int) string {
	total := 0
	var parts []string
	for _, role := range []string{RoleControlPlane, RoleWorker} {
		if m[role] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[role], role))
			total += m[role]
		}
	}
	var other []string
	for role, c := range m {
		if role != RoleControlPlane && role != RoleWorker && c > 0 {
			other = append(other, fmt.Sprintf("%d %s", c, roleOrUnknown(role)))
			total += c
		}
	}
	sort.Strings(other)
	parts = append(parts, other...)
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func roleOrUnknown(r string) string {
	if r == "" {
		return "unlabelled"
	}
	return r
}

func describePorts(ps []string) string {
	if len(ps) == 0 {
		return "no port mapping"
	}
	return strings.Join(ps, ", ")
}

// sameImage compares node image references leniently where that is safe:
// "kindest/node:v1" and "docker.io/kindest/node:v1" are the same reference,
// so are "x" and "x:latest", and a wanted reference without a digest matches a container created from
// the same name pinned by digest (kind's default image carries one).
func sameImage(want, have string) bool {
	if want == have {
		return true
	}
	w, errW := reference.ParseNormalizedNamed(want)
	h, errH := reference.ParseNormalizedNamed(have)
	if errW != nil || errH != nil {
		return false
	}
	if reference.TagNameOnly(w).String() == reference.TagNameOnly(h).String() {
		return true
	}
	if _, wantDigest := w.(reference.Digested); !wantDigest {
		if _, haveDigest := h.(reference.Digested); haveDigest {
			return stripDigest(h) == reference.TagNameOnly(w).String()
		}
	}
	return false
}

// stripDigest returns name[:tag] of a digested reference (":latest" if it has
// no tag, matching how an untagged wanted reference is normalized).
func stripDigest(r reference.Named) string {
	if t, ok := r.(reference.Tagged); ok {
		return r.Name() + ":" + t.Tag()
	}
	return r.Name() + ":latest"
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a2 := append([]string(nil), a...)
	b2 := append([]string(nil), b...)
	sort.Strings(a2)
	sort.Strings(b2)
	for i := range a2 {
		if a2[i] != b2[i] {
			return false
		}
	}
	return true
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func quoteAll(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}
