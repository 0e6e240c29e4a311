//go:build !unix

package cluster

// removeVolumesDetached is not available here: the caller removes the
// volumes itself.
func removeVolumesDetached([]string) bool { return false }
