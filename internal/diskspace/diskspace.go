// Package diskspace recognises "the disk is full" in what Docker, kind's
// nodes, containerd and the kubelet report, and says what to do about it.
// The cluster package (image loads, node creation) and readiness (pods that
// cannot start) both report it, so the recognition and the fix live here.
package diskspace

import (
	"fmt"
	"regexp"
)

// noSpaceRE matches the ways a full disk reaches us: the kernel's ENOSPC
// text (Go, runc, containerd, Docker), its symbolic name, and a quota that
// ran out, which the user fixes the same way.
var noSpaceRE = regexp.MustCompile(`(?i)no space left on device|\bENOSPC\b|disk quota exceeded`)

// NoSpace reports whether text (an error or a Kubernetes event or status
// message) says a write failed because the disk is full.
func NoSpace(text string) bool { return noSpaceRE.MatchString(text) }

// Fix is what frees space for a kind cluster: everything a node stores
// (its images, containers and etcd) lives in Docker's data root on the
// Docker host, so that is the disk to free, whichever node reported it.
const Fix = "free disk space where Docker keeps its data (`docker system df` shows what uses it; " +
	"`docker system prune` removes stopped containers, unused images and build cache; " +
	"`docker volume prune` removes the volumes of deleted clusters), or give Docker Desktop's VM a larger disk"

// Bytes renders a byte count the way df -h does, in powers of 1024.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
