package stack

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// sideLoadImages is what up loads into the nodes: the config's images,
// then each code location's image that the Docker engine has (one it does
// not have is pulled by the cluster from its registry).
func sideLoadImages(ctx context.Context, p Builder, cfg *config.Config) (images, pulled []string, local map[string]cluster.LocalImage, err error) {
	images = append(images, cfg.Images...)
	var candidates []string
	for _, l := range cfg.CodeLocations {
		img, err := cfg.LocationImage(l)
		if err != nil {
			return nil, nil, nil, err
		}
		if img != "" {
			candidates = append(candidates, img)
		}
	}
	if len(candidates) == 0 {
		return images, nil, nil, nil
	}
	local, err = p.LocalImages(ctx, candidates)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, img := range candidates {
		if _, ok := local[img]; ok {
			images = append(images, img)
		} else {
			pulled = append(pulled, img)
		}
	}
	return images, pulled, local, nil
}

// buildImages builds the images of the locations with build: that the
// Docker engine does not have. The tag hashes the build's inputs, so an
// image with that tag is that build: nothing to do.
func buildImages(ctx context.Context, b Builder, cfg *config.Config, out Printer) error {
	for _, l := range cfg.CodeLocations {
		spec, ok := cfg.BuildSpec(l)
		if !ok {
			continue
		}
		if _, err := buildImage(ctx, b, spec, out); err != nil {
			return err
		}
	}
	return nil
}

// buildImage builds one location's image unless the engine has its content
// tag, and returns the tag.
func buildImage(ctx context.Context, b Builder, spec imagebuild.Spec, out Printer) (string, error) {
	ref, err := spec.Ref()
	if err != nil {
		return "", err
	}
	step := out.Start("build " + spec.Location)
	have, err := b.LocalImages(ctx, []string{ref})
	if err != nil {
		step.Fail("")
		return "", err
	}
	if _, ok := have[ref]; ok {
		step.Done(ref + " up to date")
		return ref, nil
	}
	id, err := b.BuildImage(ctx, spec, ref, func(line string) { step.Update("%s", line) })
	if err != nil {
		step.Fail("")
		return "", err
	}
	step.Done(fmt.Sprintf("%s built (%s)", ref, text.ShortID(id)))
	return ref, nil
}

// keepImagePythonPath passes a location image's own PYTHONPATH into the
// location's env: the chart sets PYTHONPATH in the location's pods (for
// dagster-dev's run launcher module) and appends to a PYTHONPATH the env
// sets, while one that only the image sets would be replaced.
func keepImagePythonPath(vals map[string]any, cfg *config.Config, local map[string]cluster.LocalImage) {
	for _, l := range cfg.CodeLocations {
		ref, err := cfg.LocationImage(l)
		if err != nil || ref == "" {
			continue
		}
		img, ok := local[ref]
		if !ok {
			continue
		}
		for _, kv := range img.Env {
			if v, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok && v != "" {
				values.SetImageEnvDefault(vals, l.Name, "PYTHONPATH", v)
			}
		}
	}
}

// imageIDs maps each loaded image to its Docker image ID.
func imageIDs(loads []cluster.ImageLoad) map[string]string {
	ids := map[string]string{}
	for _, l := range loads {
		if l.ImageID != "" {
			ids[l.Image] = l.ImageID
		}
	}
	return ids
}

// podImageIDs reads the image-ID annotation of every workload of the
// release ("Deployment/name" -> ID; workloads without one are left out),
// and which code location each code server serves.
func podImageIDs(ctx context.Context, client kubernetes.Interface, cfg *config.Config) (ids, locations map[string]string, err error) {
	ws, err := kube.ReleaseWorkloads(ctx, client, cfg.Namespace, cfg.Release)
	if err != nil {
		return nil, nil, err
	}
	ids, locations = map[string]string{}, map[string]string{}
	for _, w := range ws.All() {
		id := w.Kind + "/" + w.Meta.Name
		if img := w.Template.Annotations[values.ImageIDAnnotation]; img != "" {
			ids[id] = img
		}
		if loc := w.Template.Labels[kube.LabelCodeLocation]; loc != "" {
			locations[id] = loc
		}
	}
	return ids, locations, nil
}

// Roll is a workload up rolled because an image it runs was rebuilt.
type Roll struct {
	Workload string // "Deployment/dagster-code-analytics"
	Location string // the code location the workload serves, if a code server
	From, To string // image IDs
}

func (r Roll) String() string {
	return fmt.Sprintf("%s (image rebuilt: %s -> %s)", r.Workload, text.ShortID(r.From), text.ShortID(r.To))
}

// imageRolls lists the workloads whose image ID changed between two reads.
func imageRolls(before, after, locations map[string]string) []Roll {
	var out []Roll
	for w, to := range after {
		if from, ok := before[w]; ok && from != to {
			out = append(out, Roll{Workload: w, Location: locations[w], From: from, To: to})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out
}
