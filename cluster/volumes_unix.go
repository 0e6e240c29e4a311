//go:build unix

package cluster

import (
	"os/exec"
	"syscall"
)

// removeVolumesDetached deletes volumes in a process of its own session, so
// it finishes after dagster-dev has exited and survives the terminal's
// Ctrl-C. It reports whether that process started.
func removeVolumesDetached(volumes []string) bool {
	cmd := exec.Command("docker", append([]string{"volume", "rm", "--force"}, volumes...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false
	}
	_ = cmd.Process.Release()
	return true
}
