package stack

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/dagitconn"
)

// Dagit serves Dagit on 127.0.0.1: `dagster-dev dagit`. On a kind cluster
// dagster-dev created, the cluster's port mapping already does, so it
// checks Dagit answers there and returns; on an existing cluster (or with
// another Port) it port-forwards in the foreground until ctx ends,
// following Dagit to its new pod when it rolls.
type Dagit struct {
	Env *Env
	// Port is the local port (0 = dagit.hostPort).
	Port int
	// Open opens the URL in the browser once Dagit is served.
	Open bool
	// Printf reports progress.
	Printf func(format string, args ...any)
}

func (d *Dagit) Run(ctx context.Context) error {
	cfg := d.Env.Config
	port := d.Port
	if port == 0 {
		port = cfg.Dagit.HostPort
	}
	if !cfg.ExistingCluster() && port == cfg.Dagit.HostPort {
		conn := dagitconn.Direct(cfg.DagitURL())
		if err := waitDagit(ctx, d.Env.dagit(cfg.DagitURL(), 5*time.Second), conn, 10*time.Second); err != nil {
			return err
		}
		d.Printf("Dagit: %s (served by the kind cluster's port mapping; nothing to forward)\n", cfg.DagitURL())
		d.browse(cfg.DagitURL())
		return nil
	}
	kc, err := d.Env.Kube.Connect()
	if err != nil {
		return err
	}
	return dagitconn.ReleaseOf(cfg, kc.Client).Serve(ctx, port, func(url string) {
		d.Printf("Dagit: %s (Ctrl-C stops)\n", url)
		d.browse(url)
	}, func(format string, args ...any) { d.Printf("  "+format+"\n", args...) })
}

func (d *Dagit) browse(url string) {
	if !d.Open {
		return
	}
	if err := openBrowser(url); err != nil {
		d.Printf("  could not open a browser (%v): open %s yourself\n", err, url)
	}
}

// openBrowser asks the desktop to open url.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", cmd.Path, err)
	}
	go cmd.Wait()
	return nil
}
