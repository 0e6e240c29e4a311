package cluster

import (
	"context"

	"github.com/dagster-dev/dagster-dev/internal/imagebuild"
)

// BuildImage builds a code location's image as ref in the local Docker
// engine (imagebuild.Build) and returns its image ID; LoadImages then
// side-loads it like any other local image.
func (p *Provider) BuildImage(ctx context.Context, spec imagebuild.Spec, ref string, progress func(string)) (string, error) {
	dc, err := p.dockerClient()
	if err != nil {
		return "", err
	}
	return imagebuild.Build(ctx, dc, spec, ref, progress)
}
