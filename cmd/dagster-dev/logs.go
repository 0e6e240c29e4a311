package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dagster-dev/dagster-dev/internal/podlogs"
	"github.com/dagster-dev/dagster-dev/stack"
)

func logsCommand() *cli.Command {
	var names []string
	for _, c := range stack.LogComponents {
		names = append(names, fmt.Sprintf("  %-11s %s", c.Name, c.Help))
	}
	return &cli.Command{
		Name:      "logs",
		Usage:     "show the logs of Dagit, the daemon, workers, code servers, databases and runs, together",
		ArgsUsage: "[COMPONENT...]",
		Description: `Shows the logs of the release's pods, each line prefixed with its pod's label
(dagit/x7k2p, analytics/9fz3d for a code location, run-1a2b3c4d and 1a2b3c4d/my_op for
a run's pods). With no COMPONENT, every component and every run's pods. COMPONENT is
one of these, or a code location's name:
` + strings.Join(names, "\n") + `

-f follows: new pods (a roll, a new run's job pods) join as they start, from their first
line; a broken stream is reopened from its last line without repeating or losing lines.
--run RUN_ID shows one run: its run and step pods and its Dagster event log, in time
order (with -f, until the run ends). Colours only on a terminal and without NO_COLOR.`,
		Flags: []cli.Flag{configFlag, contextFlag,
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming, including pods that start later, until Ctrl-C"},
			&cli.DurationFlag{Name: "since", Usage: "only lines newer than `DURATION` (e.g. 10m)"},
			&cli.Int64Flag{Name: "tail", Value: -1, Usage: "the last `N` lines of each container (-1: all; with -f the default is 10)"},
			&cli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the previous instance of each restarted container: what it said before it crashed"},
			&cli.StringFlag{Name: "run", Usage: "one run's pods and Dagster events, by `RUN_ID`"},
			&cli.BoolFlag{Name: "timestamps", Usage: "print each line's timestamp"},
		},
		BashComplete: completeComponents,
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("follow") && c.Bool("previous") {
				return withCode(exitUsage, fmt.Errorf("--previous reads a container that has ended: it cannot be combined with --follow"))
			}
			if c.Duration("since") < 0 {
				return withCode(exitUsage, fmt.Errorf("--since must be positive"))
			}
			tail := c.Int64("tail")
			if c.Bool("follow") && !c.IsSet("tail") {
				tail = 10
			}
			out := &podlogs.Printer{Out: c.App.Writer, Notices: c.App.ErrWriter, Colour: podlogs.ColourFor(c.App.Writer), Timestamps: c.Bool("timestamps")}
			err = (&stack.Logs{
				Env:        stack.NewEnv(cfg, nil),
				Components: c.Args().Slice(),
				RunID:      c.String("run"),
				Follow:     c.Bool("follow"),
				Options:    podlogs.Options{Since: c.Duration("since"), Tail: tail, Previous: c.Bool("previous")},
				Out:        out,
			}).Run(c.Context)
			var unknown *stack.UnknownComponentError
			if errors.As(err, &unknown) {
				return withCode(exitUsage, err)
			}
			return err
		},
	}
}

// completeComponents offers the component names and the code locations of
// the config and, when the cluster answers within a second, of the release.
func completeComponents(c *cli.Context) {
	if partialFlag() {
		cli.DefaultCompleteWithFlags(c.Command)(c)
		return
	}
	var env *stack.Env // nil: still offer the components
	if cfg, err := loadConfig(c); err == nil {
		env = stack.NewEnv(cfg, nil)
	}
	ctx, cancel := context.WithTimeout(c.Context, time.Second)
	defer cancel()
	for _, name := range stack.LogNames(ctx, env) {
		fmt.Fprintln(c.App.Writer, name)
	}
}

func dagitCommand() *cli.Command {
	return &cli.Command{
		Name:  "dagit",
		Usage: "serve Dagit on 127.0.0.1 (a port-forward on an existing cluster) and optionally open it",
		Description: `On a kind cluster dagster-dev created, Dagit is already served on 127.0.0.1:<dagit.hostPort>
by the cluster's port mapping: this checks it answers (and opens it with --open). On an
existing cluster (--context), it port-forwards 127.0.0.1:<port> to a Ready Dagit pod and
stays in the foreground until Ctrl-C, moving to the new pod when Dagit rolls.`,
		Flags: []cli.Flag{configFlag, contextFlag,
			&cli.IntFlag{Name: "port", Usage: "local `PORT` (default: dagit.hostPort, 3000)"},
			&cli.BoolFlag{Name: "open", Usage: "open Dagit in the browser once it is served"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if p := c.Int("port"); c.IsSet("port") && (p < 1 || p > 65535) {
				return withCode(exitUsage, fmt.Errorf("--port %d is not a TCP port (1-65535)", p))
			}
			return (&stack.Dagit{Env: stack.NewEnv(cfg, nil), Port: c.Int("port"), Open: c.Bool("open"),
				Printf: func(format string, args ...any) { fmt.Fprintf(c.App.Writer, format, args...) }}).Run(c.Context)
		},
	}
}
