package stack

import (
	"io"

	"github.com/dagster-dev/dagster-dev/internal/progress"
)

func newTestPrinter(w io.Writer) *progress.Steps { return progress.New(w) }
