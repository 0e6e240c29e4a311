// Command dagster-dev gives a Dagster team a complete, production-shaped
// Dagster on Kubernetes on one machine: `up` creates (or reuses) a kind
// cluster and installs the Dagster chart, `watch` hot-reloads env and
// ConfigMap/Secret files, `test` proves the environment end to end, `down`
// removes what `up` created. This package only wires flags to the packages
// that do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/buildinfo"
)

// Exit codes, documented in the README and in `dagster-dev --help`.
const (
	exitOK          = 0
	exitFailure     = 1 // runtime failure: cluster, chart, readiness, I/O
	exitUsage       = 2 // bad flags or an invalid config file
	exitTestsFailed = 3 // `test`: at least one case failed
	exitUnhealthy   = 4 // `status`: the environment is missing or not healthy
	exitInterrupted = 130
)

// exitError carries a specific exit code through urfave/cli.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func main() {
	quietKlog()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// quietKlog stops client-go's internal logging (port-forward reconnects,
// watch restarts) from interleaving with our step list; everything a user
// needs is reported through our own errors.
func quietKlog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

func run(args []string, stdout, stderr io.Writer) int {
	if unsafeCompletion(args) {
		return exitOK
	}
	args = completionArgs(args)
	app := newApp(stdout, stderr)
	if !isCompletion(args) {
		args = flagsFirst(app, args)
	}
	ctx, stop := signalContext()
	defer stop()
	return report(stderr, afterInterrupt(ctx, app.RunContext(ctx, args)))
}

// afterInterrupt makes an error that ended a command the user interrupted
// an interrupt. Ctrl-C reaches the whole process group: a child (docker
// exec streaming an image, say) may die of it and fail before our context
// says why, and its failure is no news to the user who stopped it.
func afterInterrupt(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w (%w)", context.Canceled, err)
	}
	return err
}

// signalContext cancels on the first Ctrl-C or SIGTERM so every operation
// can finish cleanly (no Helm release left pending); a second signal exits
// at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
			fmt.Fprintln(os.Stderr, "\nstopping cleanly (press Ctrl-C again to force)…")
		case <-ctx.Done():
			return
		}
		<-ch
		os.Exit(exitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

var configFlag = &cli.StringFlag{
	Name:    "config",
	Aliases: []string{"c"},
	Usage:   "config `FILE` (default: ./" + config.DefaultFile + " if present, else built-in defaults)",
	EnvVars: []string{"DAGSTER_DEV_CONFIG"},
}

// loadConfig reads the config and applies the flags that override it.
func loadConfig(c *cli.Context) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, withCode(exitUsage, err)
	}
	if c.IsSet("context") {
		cfg.Cluster.Context = c.String("context")
	}
	if c.IsSet("timeout") {
		cfg.Timeout.Duration = c.Duration("timeout")
		if cfg.Timeout.Duration <= 0 {
			return nil, withCode(exitUsage, fmt.Errorf("--timeout must be positive"))
		}
	}
	return cfg, nil
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "dagster-dev",
		Usage:     "a complete Dagster on Kubernetes on this machine, in one command",
		Version:   buildinfo.Read().String(),
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by report (through run), with the right exit code.
		ExitErrHandler:       func(*cli.Context, error) {},
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Description: `Exit codes: 0 success, 1 runtime failure, 2 usage or config error,
3 test failures (test), 4 environment missing or unhealthy (status), 130 interrupted.`,
		Commands: []*cli.Command{
			initCommand(),
			upCommand(),
			downCommand(),
			statusCommand(),
			valuesCommand(),
			watchCommand(),
			testCommand(),
			logsCommand(),
			dagitCommand(),
			completionCommand(),
			versionCommand(),
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the dagster-dev version and the chart it installs",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "dagster-dev %s\n", buildinfo.Read())
			return printChartVersion(c.App.Writer)
		},
	}
}

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "write a commented starter " + config.DefaultFile,
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing file"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: config.DefaultFile, Usage: "`FILE` to write"},
		},
		Action: func(c *cli.Context) error {
			path := c.String("output")
			found, err := config.DetectLocations(filepath.Dir(path))
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("reading the Dagster project here: %w", err))
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if c.Bool("force") {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(path, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return withCode(exitUsage, fmt.Errorf("%s already exists (use --force to overwrite it)", path))
			}
			if err != nil {
				return err
			}
			if _, err := f.WriteString(config.StarterWith(found)); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			for _, d := range found {
				fmt.Fprintf(c.App.Writer, "code location %s: %s from %s\n", d.Location.Name, d.Location.Module+d.Location.File, d.From)
			}
			fmt.Fprintf(c.App.Writer, "wrote %s — edit it, then run `dagster-dev up`\n", path)
			return nil
		},
	}
}
