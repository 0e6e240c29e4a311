package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/dagster-dev/dagster-dev/config"
)

// testConfig returns a config rooted at a temp dir (also the working
// directory, so messages name files relative to it).
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return &config.Config{Dir: dir, Namespace: "dagster", Release: "dagster"}
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stepper drives a watch's collect loop through testHooks, so no test
// depends on how fast the machine is: barrier returns once every file event
// caused before it has been handled, and flush ends the burst, delivering
// what it gathered as one batch. Without a flush nothing is ever delivered
// (the debounce timer is off), so "nothing happened" is a fact, not a wait.
type stepper struct {
	t testing.TB
	// dir is a watched directory in which the barrier directories are
	// created; they must not concern any target.
	dir   string
	hooks *testHooks
	seen  chan string
	n     int
}

const barrierPrefix = ".barrier-"

// hookTimeout only guards against a hang: every wait it bounds ends as
// soon as the loop gets to it.
const hookTimeout = 10 * time.Second

func newStepper(t testing.TB, dir string) *stepper {
	s := &stepper{t: t, dir: dir, seen: make(chan string, 64)}
	s.hooks = &testHooks{
		event: func(ev fsnotify.Event) {
			if ev.Has(fsnotify.Create) && filepath.Dir(ev.Name) == dir && strings.HasPrefix(filepath.Base(ev.Name), barrierPrefix) {
				select {
				case s.seen <- ev.Name:
				default: // a barrier nobody waits for any more
				}
			}
		},
		flush: make(chan chan batch),
	}
	return s
}

// barrier creates a directory, one Create event, and waits until collect
// has handled it. One inotify queue holds the events of every watch in
// order, so every event of a file operation made before has been handled
// too.
func (s *stepper) barrier() {
	s.t.Helper()
	s.n++
	p := filepath.Join(s.dir, fmt.Sprintf("%s%d", barrierPrefix, s.n))
	if err := os.Mkdir(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	timeout := time.After(hookTimeout)
	for {
		select {
		case got := <-s.seen:
			if got == p {
				return
			}
		case <-timeout:
			s.t.Fatalf("the file watch never handled the event of %s", p)
		}
	}
}

// flush ends the burst: collect delivers what is pending as one batch,
// which flush returns (empty when nothing was pending).
func (s *stepper) flush() batch {
	s.t.Helper()
	reply := make(chan batch, 1)
	select {
	case s.hooks.flush <- reply:
	case <-time.After(hookTimeout):
		s.t.Fatal("the file watch loop did not take the flush")
	}
	return <-reply
}

// settle is barrier then flush: the batch of everything done so far.
func (s *stepper) settle() batch {
	s.t.Helper()
	s.barrier()
	return s.flush()
}
