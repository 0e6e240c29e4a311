// Package stack implements dagster-dev's verbs — Up, Down, Status and
// Watch — in the style of Helm's pkg/action: one struct per verb, options
// as fields, Run returns the result. It orchestrates the packages that own
// each concern: config, cluster (kind and images), sources (ConfigMap/Secret
// sources), chart (Helm release), readiness (our own workload watch),
// dagit (code locations loaded) and watch (the hot-reload loop).
package stack

import (
	"github.com/dagster-dev/dagster-dev/internal/progress"
)

// Printer receives the step list; progress.Steps implements it.
type Printer interface {
	Start(name string) *progress.Step
	Printf(format string, args ...any)
}

// logAdapter turns progress output into the Logger interfaces of the
// packages below (cluster, chart), so their messages land on the step list.
type logAdapter struct{ p Printer }

func (l logAdapter) Infof(format string, args ...any) { l.p.Printf("  "+format, args...) }
func (l logAdapter) Warnf(format string, args ...any) { l.p.Printf("  warning: "+format, args...) }
