package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/dagster-dev/dagster-dev/internal/text"
)

// LoadAction is what LoadImages did with one image on one node.
type LoadAction string

const (
	// ActionLoaded: the image archive was streamed into the node.
	ActionLoaded LoadAction = "loaded"
	// ActionSkipped: the node already had the image under this name.
	ActionSkipped LoadAction = "skipped"
	// ActionRetagged: the node had the image content under another name and
	// only got the new name.
	ActionRetagged LoadAction = "retagged"
)

// ImageLoad is the outcome for one image on one node.
type ImageLoad struct {
	Image    string // as requested
	Node     string // node container name
	Action   LoadAction
	ImageID  string        // Docker's image ID
	Bytes    int64         // archive bytes streamed into the node (0 unless loaded)
	Duration time.Duration // time spent on this image on this node
}

// imagesPerNode bounds concurrent image imports into one node.
const imagesPerNode = 3

// platformSaveAPI is the first Docker API version whose /images/get takes a
// platform (ImageSave refuses the option below it).
const platformSaveAPI = "1.48"

// containerdSnapshotterDriverType is the DriverStatus "driver-type" of a
// daemon using the containerd image store.
const containerdSnapshotterDriverType = "io.containerd.snapshotter.v1"

// localImage is one requested image as the local Docker daemon has it.
type localImage struct {
	Name string // as requested
	Ref  string // normalized name the node's containerd uses (docker.io/library/x:tag)
	ID   string // Docker image ID
	// Digests are content digests that identify exactly this image on a
	// node besides ID: with the containerd image store Docker's ID is a
	// manifest/index digest, while the node reports the config digest, so
	// the node's repo digests are compared with these instead.
	Digests map[string]bool
	Tagged  bool  // Ref carries a tag (a digest-only reference cannot be re-tagged)
	Size    int64 // unpacked size, as Docker reports it
}

// saveSettings are decided once per LoadImages call.
type saveSettings struct {
	platform        *ocispec.Platform // nil: save without a platform filter
	containerdStore bool
}

// LoadImages side-loads local Docker images into every node of kind cluster
// clusterName, all nodes in parallel. Per node and image it skips the load
// when the node already has that image ID under that name, re-tags when it
// has the ID under another name, and otherwise streams `docker save` output
// (Engine API, no temp file) into the node's containerd. report, if not nil,
// is called once per image and node as soon as that one is done (never
// concurrently). The returned slice is ordered by image, then node; on
// error it holds what succeeded.
//
// All images must exist locally; otherwise nothing is loaded and the error
// is one *MissingImageError per missing image.
func (p *Provider) LoadImages(ctx context.Context, clusterName string, images []string, report func(ImageLoad)) ([]ImageLoad, error) {
	plan, err := p.planLoad(ctx, images)
	if err != nil || plan == nil {
		return nil, err
	}
	kindNodes, err := p.runningNodes(ctx, plan.dc, clusterName)
	if err != nil {
		return nil, err
	}
	return p.load(ctx, clusterName, plan, kindNodes, report)
}

// loadPlan is what a load needs before any node is touched: the Docker
// client, the save settings and every requested image resolved locally.
type loadPlan struct {
	dc       DockerClient
	settings saveSettings
	images   []localImage
	rootDir  string // Docker's data root, as the engine reports it
}

// planLoad resolves images in the local Docker engine; nil, nil when there
// is nothing to load. All missing images are reported at once, as one
// *MissingImageError each, before any node is touched.
func (p *Provider) planLoad(ctx context.Context, images []string) (*loadPlan, error) {
	images = dedupe(images)
	if len(images) == 0 {
		return nil, nil
	}
	dc, err := p.dockerClient()
	if err != nil {
		return nil, err
	}
	// Info first: it is a versioned request, so afterwards ClientVersion()
	// is the negotiated API version the feature checks below depend on.
	info, err := dc.Info(ctx)
	if err != nil {
		return nil, p.dockerError(err)
	}
	settings := p.saveSettings(ctx, dc, info)
	locals, err := p.inspectLocalImages(ctx, dc, images)
	if err != nil {
		return nil, err
	}
	return &loadPlan{dc: dc, settings: settings, images: locals, rootDir: info.DockerRootDir}, nil
}

// load makes every planned image present on every node.
func (p *Provider) load(ctx context.Context, clusterName string, plan *loadPlan, kindNodes []nodes.Node, report func(ImageLoad)) ([]ImageLoad, error) {
	var (
		mu      sync.Mutex // serialises report and results
		results = make(map[[2]string]ImageLoad)
		errs    []error
		wg      sync.WaitGroup
	)
	// Every (node, image) pair loads concurrently, bounded per node: one
	// import stream leaves a core idle while the other side (docker save or
	// the node's containerd hashing and unpacking) works, so overlapping
	// images is faster than loading them one after another.
	for _, n := range kindNodes {
		slots := make(chan struct{}, imagesPerNode)
		space := &nodeSpace{}
		for _, img := range plan.images {
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				if ctx.Err() != nil {
					mu.Lock()
					errs = append(errs, ctx.Err())
					mu.Unlock()
					return
				}
				r, err := p.loadOne(ctx, plan.dc, n, img, plan.settings, func() error {
					return space.reserve(ctx, n, img)
				})
				mu.Lock()
				switch {
				case isDiskFull(err):
					errs = append(errs, err) // it names the image and the node
				case err != nil:
					errs = append(errs, fmt.Errorf("image %s on node %s: %w", img.Name, n.String(), err))
				default:
					results[[2]string{img.Name, n.String()}] = r
					if report != nil {
						report(r)
					}
				}
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	out := make([]ImageLoad, 0, len(results))
	for _, img := range plan.images {
		for _, n := range kindNodes {
			if r, ok := results[[2]string{img.Name, n.String()}]; ok {
				out = append(out, r)
			}
		}
	}
	switch {
	case len(errs) == 0:
		return out, nil
	case allDiskFull(errs):
		// One clear message, its fix printed once: when several images ran
		// out of room on the same disk, one of them says it.
		return out, errs[0]
	}
	return out, fmt.Errorf("load images into kind cluster %q: %w", clusterName, errors.Join(errs...))
}

func isDiskFull(err error) bool {
	var full *DiskFullError
	return errors.As(err, &full)
}

func allDiskFull(errs []error) bool {
	for _, err := range errs {
		if !isDiskFull(err) {
			return false
		}
	}
	return true
}

// loadOne makes one image present on one node under its name. reserve is
// called before the image is streamed and stops the load when the node's
// disk cannot hold it.
func (p *Provider) loadOne(ctx context.Context, dc DockerClient, n nodes.Node, img localImage, s saveSettings, reserve func() error) (ImageLoad, error) {
	start := time.Now()
	r := ImageLoad{Image: img.Name, Node: n.String(), ImageID: img.ID}

	// Already there under this name? (crictl inspecti by name; an error just
	// means "not there".)
	if id, err := nodeutils.ImageID(n, img.Ref); err == nil && (id == img.ID || (s.containerdStore && p.nodeHasDigest(n, img))) {
		r.Action, r.Duration = ActionSkipped, time.Since(start)
		return r, nil
	}

	// There under another name? Then a tag is enough (kind#380). Only
	// possible when Docker's ID is the ID the node uses (classic store).
	if img.Tagged {
		if tags, err := nodeutils.ImageTags(n, img.ID); err == nil && len(tags) > 0 {
			if err := nodeutils.ReTagImage(n, img.ID, img.Ref); err == nil {
				r.Action, r.Duration = ActionRetagged, time.Since(start)
				p.logger.Infof("image %s: node %s had ID %s under another name; re-tagged", img.Name, n.String(), text.ShortID(img.ID))
				return r, nil
			} else {
				p.logger.Warnf("image %s: re-tagging on node %s failed (%v); loading it instead", img.Name, n.String(), err)
			}
		}
	}

	if err := reserve(); err != nil {
		return r, err
	}
	bytes, err := p.streamImage(ctx, dc, n, img, s)
	if err != nil {
		return r, diskFullLoad(ctx, n, img, err)
	}
	// Verify the runtime the kubelet uses can see it: with the containerd
	// image store a load can "succeed" and leave nothing usable (kind#3795).
	id, err := nodeutils.ImageID(n, img.Ref)
	if err != nil {
		return r, fmt.Errorf("imported %d bytes but the node's container runtime does not list %s afterwards (Docker's containerd image store? see kind#3795): %w", bytes, img.Ref, err)
	}
	if !s.containerdStore && id != img.ID {
		p.logger.Warnf("image %s: node %s has ID %s, expected %s (was the tag moved while loading?)", img.Name, n.String(), text.ShortID(id), text.ShortID(img.ID))
	}
	r.Action, r.Bytes, r.Duration = ActionLoaded, bytes, time.Since(start)
	return r, nil
}

// streamImage pipes the Docker image archive straight into the node's
// containerd. The platform filter keeps a containerd-store daemon from
// exporting an index whose other-platform blobs it does not have, which makes
// `ctr import` fail with "content digest … not found" (kind#3795).
func (p *Provider) streamImage(ctx context.Context, dc DockerClient, n nodes.Node, img localImage, s saveSettings) (int64, error) {
	var opts []client.ImageSaveOption
	if s.platform != nil {
		opts = append(opts, client.ImageSaveWithPlatforms(*s.platform))
	}
	rc, err := dc.ImageSave(ctx, []string{img.Name}, opts...)
	if err != nil && s.platform != nil {
		// Some daemons reject the platform filter for images that do not
		// carry a matching platform; the unfiltered archive is what kind
		// itself would load, so try that before failing.
		p.logger.Warnf("image %s: saving for platform %s failed (%v); saving without a platform filter", img.Name, formatPlatform(*s.platform), err)
		rc, err = dc.ImageSave(ctx, []string{img.Name})
	}
	if err != nil {
		return 0, fmt.Errorf("docker save: %w", p.dockerError(err))
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	if err := nodeutils.LoadImageArchive(n, cr); err != nil {
		return cr.n.Load(), fmt.Errorf("import into node after %d bytes: %w", cr.n.Load(), err)
	}
	return cr.n.Load(), nil
}

// nodeHasDigest reports whether the node's copy of img.Ref was imported from
// one of img.Digests (containerd image store case, see localImage.Digests).
func (p *Provider) nodeHasDigest(n nodes.Node, img localImage) bool {
	var out bytes.Buffer
	if err := n.Command("crictl", "inspecti", img.Ref).SetStdout(&out).Run(); err != nil {
		return false
	}
	var v struct {
		Status struct {
			RepoDigests []string `json:"repoDigests"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return false
	}
	for _, rd := range v.Status.RepoDigests {
		if i := strings.LastIndex(rd, "@"); i >= 0 && img.Digests[rd[i+1:]] {
			return true
		}
	}
	return false
}

// inspectLocalImages resolves every image in the local Docker store and
// reports all missing ones at once.
func (p *Provider) inspectLocalImages(ctx context.Context, dc DockerClient, images []string) ([]localImage, error) {
	var out []localImage
	var errs []error
	for _, name := range images {
		ref, tagged, err := normalizeRef(name)
		if err != nil {
			errs = append(errs, &MissingImageError{Image: name, Err: err})
			continue
		}
		// Manifests (API >= 1.48) list the per-platform manifest digests
		// the containerd-store skip check needs; the client refuses the
		// option on older APIs, so only ask when supported.
		var opts []client.ImageInspectOption
		if !versions.LessThan(dc.ClientVersion(), platformSaveAPI) {
			opts = append(opts, client.ImageInspectWithManifests(true))
		}
		ins, err := dc.ImageInspect(ctx, name, opts...)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				errs = append(errs, &MissingImageError{Image: name, Err: err})
				continue
			}
			return nil, fmt.Errorf("inspect image %s: %w", name, p.dockerError(err))
		}
		if isLatest(ref) {
			p.logger.Warnf("image %s has no tag or is :latest; Kubernetes then defaults imagePullPolicy to Always and ignores the side-loaded copy: give it a fixed tag", name)
		}
		out = append(out, localImage{Name: name, Ref: ref, ID: ins.ID, Digests: imageDigests(ins), Tagged: tagged, Size: ins.Size})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// imageDigests collects the content digests that identify an image: its ID,
// its descriptor and its image manifests.
func imageDigests(ins image.InspectResponse) map[string]bool {
	d := map[string]bool{ins.ID: true}
	if ins.Descriptor != nil {
		d[ins.Descriptor.Digest.String()] = true
	}
	for _, m := range ins.Manifests {
		if m.Kind == image.ManifestKindImage {
			d[m.Descriptor.Digest.String()] = true
		}
	}
	return d
}

// runningNodes lists the cluster's Kubernetes nodes and fails with a clear
// message if there are none or one is not running (docker exec into a
// stopped container fails with an obscure error).
func (p *Provider) runningNodes(ctx context.Context, dc DockerClient, clusterName string) ([]nodes.Node, error) {
	containers, err := listNodeContainers(ctx, dc, clusterName)
	if err != nil {
		return nil, p.dockerError(err)
	}
	var stopped []string
	for _, c := range containers {
		if (c.Role == RoleControlPlane || c.Role == RoleWorker) && c.State != "running" {
			stopped = append(stopped, fmt.Sprintf("%s (%s)", c.Name, c.State))
		}
	}
	if len(containers) == 0 {
		return nil, fmt.Errorf("load images: kind cluster %q does not exist\n  fix: run `dagster-dev up` first", clusterName)
	}
	if len(stopped) > 0 {
		return nil, fmt.Errorf("load images: node container(s) of kind cluster %q not running: %s\n  fix: run `dagster-dev up` to start them", clusterName, strings.Join(stopped, ", "))
	}
	kn, err := p.kind.ListInternalNodes(clusterName)
	if err != nil {
		return nil, fmt.Errorf("list nodes of kind cluster %q: %w", clusterName, err)
	}
	return orderNodes(kn, containers), nil
}

// orderNodes keeps the kind nodes that have a container in containers, in
// the containers' (control-plane first) order: kind lists newest first, and
// results and logs should be stable.
func orderNodes(kn []nodes.Node, containers []nodeContainer) []nodes.Node {
	rank := make(map[string]int, len(containers))
	for i, c := range containers {
		rank[c.Name] = i
	}
	out := make([]nodes.Node, 0, len(kn))
	for _, n := range kn {
		if _, ok := rank[n.String()]; ok {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].String()] < rank[out[j].String()] })
	return out
}

// saveSettings decides the ImageSave platform and whether the daemon uses
// the containerd image store. Failures only cost the optimisation, so they
// are logged, not returned.
func (p *Provider) saveSettings(ctx context.Context, dc DockerClient, info system.Info) saveSettings {
	var s saveSettings
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == containerdSnapshotterDriverType {
			s.containerdStore = true
		}
	}
	if versions.LessThan(dc.ClientVersion(), platformSaveAPI) {
		if s.containerdStore {
			p.logger.Warnf("Docker API %s cannot save a single platform (needs %s); loading may fail with the containerd image store (kind#3795): upgrade Docker or disable the containerd image store", dc.ClientVersion(), platformSaveAPI)
		}
		return s
	}
	v, err := dc.ServerVersion(ctx)
	if err != nil || v.Os == "" || v.Arch == "" {
		return s
	}
	// kind nodes run on the daemon's own platform.
	s.platform = &ocispec.Platform{OS: v.Os, Architecture: v.Arch}
	return s
}

// normalizeRef returns the fully qualified name containerd on the node uses
// for name ("postgres:15" -> "docker.io/library/postgres:15"), defaulting a
// missing tag to latest like Docker does, and whether it is tagged.
func normalizeRef(name string) (string, bool, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", false, fmt.Errorf("invalid image reference: %w", err)
	}
	if _, digested := named.(reference.Digested); digested {
		if _, tagged := named.(reference.Tagged); !tagged {
			return named.String(), false, nil
		}
	}
	return reference.TagNameOnly(named).String(), true, nil
}

func isLatest(ref string) bool {
	return strings.HasSuffix(ref, ":latest")
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func formatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// countingReader counts bytes read, for ImageLoad.Bytes.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// LocalImage is an image the Docker engine has.
type LocalImage struct {
	ID  string
	Env []string // the image's ENV, "KEY=value"
}

// LocalImages returns those of images the Docker engine has. Images it
// does not have are left out, not an error: a code location's image may
// come from a registry the cluster pulls from.
func (p *Provider) LocalImages(ctx context.Context, images []string) (map[string]LocalImage, error) {
	dc, err := p.dockerClient()
	if err != nil {
		return nil, err
	}
	out := map[string]LocalImage{}
	for _, name := range dedupe(images) {
		ins, err := dc.ImageInspect(ctx, name)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inspect image %s: %w", name, p.dockerError(err))
		}
		li := LocalImage{ID: ins.ID}
		if ins.Config != nil {
			li.Env = ins.Config.Env
		}
		out[name] = li
	}
	return out, nil
}
