// Command pause is the pod sandbox process: it sleeps until SIGINT or
// SIGTERM and reaps zombie children (it is PID 1 of the pod when the pod
// shares its PID namespace). A stand-in for registry.k8s.io/pause, which
// cannot be pulled without a container registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
