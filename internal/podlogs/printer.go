package podlogs

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
)

// Printer writes lines as "label | text", one whole line per write, so
// lines of different containers never mix. Each label keeps one colour
// (from its hash) for as long as it lives; labels are padded to the
// longest seen so far, so the text column only ever moves right.
type Printer struct {
	Out io.Writer
	// Notices receives notices (a container started, ended, unreadable);
	// nil drops them. dagster-dev logs sends them to stderr, so stdout
	// holds only log lines.
	Notices io.Writer
	// Colour turns ANSI colours on; see ColourFor.
	Colour bool
	// Timestamps prints each line's timestamp after its label.
	Timestamps bool

	mu    sync.Mutex
	width int
}

// ColourFor decides colours the way most CLIs do: only on a terminal, never
// with NO_COLOR set (https://no-color.org) or TERM=dumb.
func ColourFor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// ansi matches terminal escape sequences (CSI ... letter).
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// palette: the six basic ANSI colours that read on dark and light
// backgrounds alike (no black, no white).
var palette = []string{"31", "32", "33", "34", "35", "36"}

// colourOf picks a label's colour from its text, so the same pod keeps it
// across runs of the command.
func colourOf(label string) string {
	h := fnv.New32a()
	h.Write([]byte(label))
	return palette[h.Sum32()%uint32(len(palette))]
}

func (p *Printer) prefix(label string) string {
	if n := utf8.RuneCountInString(label); n > p.width {
		p.width = n
	}
	pad := strings.Repeat(" ", p.width-utf8.RuneCountInString(label))
	if p.Colour {
		return "\x1b[" + colourOf(label) + "m" + label + "\x1b[0m" + pad
	}
	return label + pad
}

// Line implements Sink.
func (p *Printer) Line(l Line) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	b.WriteString(p.prefix(l.Label))
	b.WriteString(" | ")
	if p.Timestamps && !l.Time.IsZero() {
		b.WriteString(l.Time.Local().Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	if p.Colour {
		b.WriteString(l.Text)
	} else {
		// Dagster's log formatter colours its lines even when it writes
		// to a file; without colours none may reach the output.
		b.WriteString(ansi.ReplaceAllString(l.Text, ""))
	}
	b.WriteByte('\n')
	io.WriteString(p.Out, b.String())
}

// Notice implements Sink.
func (p *Printer) Notice(label, text string) {
	if p.Notices == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("%s: %s", label, text)
	if p.Colour {
		msg = "\x1b[2m" + msg + "\x1b[0m"
	}
	fmt.Fprintf(p.Notices, "-- %s\n", msg)
}
