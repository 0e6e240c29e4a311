package stack

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/dagster-dev/dagster-dev/cluster"
	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/values"
)

// sideLoadImages is what up loads into the nodes: the config's images,
// then each code location's image that the Docker engine has (one it does
// not have is pulled by the cluster from its registry).
func sideLoadImages(ctx context.Context, p *cluster.Provider, cfg *config.Config) (images, pulled []string, err error) {
	images = append(images, cfg.Images...)
	var candidates []string
	for _, l := range cfg.CodeLocations {
		if l.Image != "" {
			candidates = append(candidates, l.Image)
		}
	}
	if len(candidates) == 0 {
		return images, nil, nil
	}
	local, err := p.LocalImages(ctx, candidates)
	if err != nil {
		return nil, nil, err
	}
	for _, img := range candidates {
		if _, ok := local[img]; ok {
			images = append(images, img)
		} else {
			pulled = append(pulled, img)
		}
	}
	return images, pulled, nil
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
// release ("Deployment/name" -> ID; workloads without one are left out).
func podImageIDs(ctx context.Context, client kubernetes.Interface, cfg *config.Config) (map[string]string, error) {
	ws, err := kube.ReleaseWorkloads(ctx, client, cfg.Namespace, cfg.Release)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, w := range ws.All() {
		if id := w.Template.Annotations[values.ImageIDAnnotation]; id != "" {
			out[w.Kind+"/"+w.Meta.Name] = id
		}
	}
	return out, nil
}

// Roll is a workload up rolled because an image it runs was rebuilt.
type Roll struct {
	Workload string // "Deployment/dagster-code-analytics"
	From, To string // image IDs
}

func (r Roll) String() string {
	return fmt.Sprintf("%s (image rebuilt: %s -> %s)", r.Workload, shortID(r.From), shortID(r.To))
}

// imageRolls lists the workloads whose image ID changed between two reads.
func imageRolls(before, after map[string]string) []Roll {
	var out []Roll
	for w, to := range after {
		if from, ok := before[w]; ok && from != to {
			out = append(out, Roll{Workload: w, From: from, To: to})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
