package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v4"

	"github.com/dagster-dev/dagster-dev/chart"
	"github.com/dagster-dev/dagster-dev/e2e"
	"github.com/dagster-dev/dagster-dev/internal/progress"
	"github.com/dagster-dev/dagster-dev/internal/values"
	"github.com/dagster-dev/dagster-dev/stack"
)

var (
	contextFlag = &cli.StringFlag{Name: "context", Usage: "install into this existing kube `CONTEXT` instead of a kind cluster (overrides cluster.context)"}
	timeoutFlag = &cli.DurationFlag{Name: "timeout", Usage: "readiness timeout (overrides timeout:, default 10m)"}
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "create or converge the environment: kind cluster, images, chart, readiness",
		Description: `Creates (or reuses) the kind cluster, side-loads the listed images, applies the
ConfigMap/Secret sources, installs or upgrades the Dagster chart and waits until every
workload is Ready. Re-running up with nothing changed changes nothing.`,
		Flags: []cli.Flag{configFlag, contextFlag, timeoutFlag,
			&cli.BoolFlag{Name: "timings", Usage: "end with a waterfall of the steps on one time axis"}},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			steps := progress.New(c.App.Writer)
			res, err := stack.NewUp(stack.NewEnv(cfg, steps)).Run(c.Context)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, res.Summary())
			if c.Bool("timings") {
				fmt.Fprint(c.App.Writer, "\n"+progress.Waterfall(steps.Timings(), 40))
			}
			return nil
		},
	}
}

func valuesCommand() *cli.Command {
	return &cli.Command{
		Name:  "values",
		Usage: "print the chart values up installs (values files, inline values, watch env and sources, merged)",
		Flags: []cli.Flag{configFlag, contextFlag},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			vals, err := values.For(cfg)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if _, err := chart.Render(cfg.Release, cfg.Namespace, vals); err != nil {
				return withCode(exitUsage, err)
			}
			// yaml.v3's layout (what Marshal writes): indent 2, no wrapping.
			enc, err := yaml.NewDumper(c.App.Writer, yaml.WithV3Defaults(), yaml.WithIndent(2), yaml.WithLineWidth(-1))
			if err != nil {
				return err
			}
			if err := enc.Dump(vals); err != nil {
				return err
			}
			return enc.Close()
		},
	}
}

func downCommand() *cli.Command {
	return &cli.Command{
		Name:  "down",
		Usage: "remove everything up created (never a cluster dagster-dev did not create)",
		Flags: []cli.Flag{configFlag, contextFlag, timeoutFlag},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			steps := progress.New(c.App.Writer)
			res, err := stack.NewDown(stack.NewEnv(cfg, steps)).Run(c.Context)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Done in %s\n", progress.Round(res.Duration))
			return nil
		},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "is my Dagster working? cluster, release, workloads, code locations, recent runs, watch (exit 4 when unhealthy)",
		Description: `Unhealthy (exit 4): the cluster or release is missing or not deployed, a workload is not
Ready, Dagit does not answer, a code location failed to load or is still loading, or the
newest finished run of a job failed (runs launched by dagster-dev test are listed but not
judged). With --watch it redraws every 2 seconds until Ctrl-C.`,
		Flags: []cli.Flag{configFlag, contextFlag,
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.IntFlag{Name: "runs", Value: stack.DefaultStatusRuns, Usage: "list the newest `N` runs"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "redraw every 2 seconds until Ctrl-C (in place on a terminal)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if c.Int("runs") < 0 {
				return withCode(exitUsage, fmt.Errorf("--runs must be 0 or more"))
			}
			st := &stack.Status{Env: stack.NewEnv(cfg, nil), Runs: c.Int("runs")}
			if c.Bool("watch") {
				return watchStatus(c, st)
			}
			rep, err := st.Run(c.Context)
			if err != nil {
				return err
			}
			if err := renderStatus(c.App.Writer, rep, c.Bool("json"), "  "); err != nil {
				return err
			}
			if !rep.Healthy {
				return withCode(exitUnhealthy, errors.New("environment is not healthy"))
			}
			return nil
		},
	}
}

// watchStatus redraws the report until Ctrl-C: in place on a terminal,
// else each time it changes. It ends with the last report's exit code.
func watchStatus(c *cli.Context, st *stack.Status) error {
	asJSON := c.Bool("json")
	tty := progress.IsTerminal(c.App.Writer) && !asJSON
	last, healthy := "", true
	for c.Context.Err() == nil {
		rep, err := st.Run(c.Context)
		if c.Context.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		healthy = rep.Healthy
		// JSON: one document per line, so the stream can be read line by line.
		var b strings.Builder
		if err := renderStatus(&b, rep, asJSON, ""); err != nil {
			return err
		}
		switch {
		case tty:
			// Home, clear the screen, draw.
			fmt.Fprintf(c.App.Writer, "\x1b[H\x1b[2J%s\n%s, every 2s; Ctrl-C stops\n", b.String(), time.Now().Format("15:04:05"))
		case b.String() != last:
			if !asJSON {
				fmt.Fprintf(c.App.Writer, "--- %s\n", time.Now().Format(time.RFC3339))
			}
			fmt.Fprint(c.App.Writer, b.String())
		}
		last = b.String()
		select {
		case <-c.Context.Done():
		case <-time.After(2 * time.Second):
		}
	}
	if !healthy {
		return withCode(exitUnhealthy, errors.New("environment is not healthy"))
	}
	return nil
}

// renderStatus writes the report as text, or as JSON indented by indent.
func renderStatus(w io.Writer, rep *stack.Report, asJSON bool, indent string) error {
	if !asJSON {
		_, err := fmt.Fprint(w, rep.Text())
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	return enc.Encode(rep)
}

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "hot-reload your code, env values and ConfigMap/Secret files into the running environment",
		Description: `Syncs once, then applies every saved change of the files declared under watch: in
dagster-dev.yaml (and of the values files), restarting exactly the workloads that use
what changed, and reloads a path code location in Dagit when its files change (no
restart; the next run executes the new code). A bad edit is reported and skipped; the
running environment keeps its last good state. Ctrl-C stops.`,
		Flags: []cli.Flag{configFlag, contextFlag, timeoutFlag,
			&cli.BoolFlag{Name: "once", Usage: "sync once, reload every code location, wait for the restarts, and exit"}},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			return (&stack.Watch{Env: stack.NewEnv(cfg, nil), Out: c.App.Writer, Once: c.Bool("once")}).Run(c.Context)
		},
	}
}

func testCommand() *cli.Command {
	return &cli.Command{
		Name:  "test",
		Usage: "run the end-to-end suite against the running environment (exit 3 on failures)",
		Flags: []cli.Flag{configFlag, contextFlag, timeoutFlag,
			&cli.StringFlag{Name: "run", Usage: "run only cases whose name matches `PATTERN` (a regexp)"},
			&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report to `FILE`"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print each case's steps as they happen"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			rep, err := e2e.Suite{
				Env:       stack.NewEnv(cfg, nil),
				Out:       c.App.Writer,
				Pattern:   c.String("run"),
				JUnitPath: c.String("junit"),
				Verbose:   c.Bool("verbose"),
			}.Run(c.Context)
			if err != nil {
				return err
			}
			if rep.Failed() {
				return withCode(exitTestsFailed, errors.New("end-to-end tests failed"))
			}
			return nil
		},
	}
}

func printChartVersion(w io.Writer) error {
	ch, err := chart.Load()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "chart %s %s (Dagster %s)\n", ch.Metadata.Name, ch.Metadata.Version, ch.Metadata.AppVersion)
	return err
}
