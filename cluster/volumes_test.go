package cluster

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

func TestAnonymousVolumes(t *testing.T) {
	anon := strings.Repeat("ab", 32)
	ins := container.InspectResponse{Mounts: []container.MountPoint{
		{Type: mount.TypeVolume, Name: anon, Destination: "/var"},
		{Type: mount.TypeVolume, Name: "my-named-volume", Destination: "/data"}, // the user's: kept
		{Type: mount.TypeBind, Source: "/lib/modules", Destination: "/lib/modules"},
	}}
	got := anonymousVolumes(ins)
	if len(got) != 1 || got[0] != anon {
		t.Errorf("anonymousVolumes = %v, want [%s]", got, anon)
	}
}
