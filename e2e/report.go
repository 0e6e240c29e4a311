package e2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/text"
)

// Status is the outcome of one case.
type Status string

// Case outcomes.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one case's outcome.
type Result struct {
	Name string
	// Doc is the one-line description of what the case proves.
	Doc      string
	Status   Status
	Duration time.Duration
	// Message says why the case failed or was skipped; empty on PASS.
	Message string
	// Details is the evidence gathered for a failure: events, pod logs,
	// the run's error events.
	Details string
}

// Report is the outcome of one suite run, in case order. Cases excluded by
// the pattern are not in it.
type Report struct {
	Results  []Result
	Started  time.Time
	Duration time.Duration
	// Context and Namespace say what was tested, for the JUnit properties.
	Context   string
	Namespace string
}

// Failed reports whether any case failed. `dagster-dev test` exits 3 then.
func (r *Report) Failed() bool {
	_, failed, _ := r.Counts()
	return failed > 0
}

// Counts returns how many cases passed, failed and were skipped.
func (r *Report) Counts() (passed, failed, skipped int) {
	for _, res := range r.Results {
		switch res.Status {
		case Pass:
			passed++
		case Fail:
			failed++
		case Skip:
			skipped++
		}
	}
	return passed, failed, skipped
}

// Summary is the final line: "N passed, N failed", plus ", N skipped" when
// any case was skipped. CI greps for it, so its form is fixed.
func (r *Report) Summary() string {
	p, f, s := r.Counts()
	line := fmt.Sprintf("%d passed, %d failed", p, f)
	if s > 0 {
		line += fmt.Sprintf(", %d skipped", s)
	}
	return line
}

// resultLine is the one line printed per case: status, name, duration and,
// for a failure or skip, the first line of the reason.
func resultLine(res Result, nameWidth int) string {
	line := fmt.Sprintf("%-4s  %-*s  %6s", res.Status, nameWidth, res.Name, formatDuration(res.Duration))
	if res.Message != "" {
		line += "  " + text.FirstLine(res.Message)
	}
	return line
}

// failureBody is what follows a FAIL line: the rest of the message and the
// details, indented so the case lines stay easy to scan.
func failureBody(res Result) string {
	var parts []string
	if rest := restLines(res.Message); rest != "" {
		parts = append(parts, rest)
	}
	if d := strings.TrimSpace(res.Details); d != "" {
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return ""
	}
	return text.Indent(strings.Join(parts, "\n"), "      ")
}

// formatDuration renders a case duration with a resolution that suits its
// size: "0.4s", "12.3s", "2m05s".
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < 2*time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// JUnit XML, in the shape Jenkins, GitLab and GitHub test reporters read:
// one <testsuite> with one <testcase> per case.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

const junitSuiteName = "dagster-dev"

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	p, f, s := r.Counts()
	suite := junitSuite{
		Name:     junitSuiteName,
		Tests:    p + f + s,
		Failures: f,
		Skipped:  s,
		Time:     seconds(r.Duration),
	}
	if !r.Started.IsZero() {
		suite.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	if r.Context != "" {
		suite.Properties = append(suite.Properties, junitProperty{Name: "kube-context", Value: r.Context})
	}
	if r.Namespace != "" {
		suite.Properties = append(suite.Properties, junitProperty{Name: "namespace", Value: r.Namespace})
	}
	for _, res := range r.Results {
		c := junitCase{Name: res.Name, Classname: junitSuiteName, Time: seconds(res.Duration), SystemOut: xmlSafe(res.Doc)}
		switch res.Status {
		case Fail:
			body := strings.TrimSpace(res.Message)
			if d := strings.TrimSpace(res.Details); d != "" {
				body += "\n\n" + d
			}
			c.Failure = &junitMessage{Message: xmlSafe(text.FirstLine(res.Message)), Type: "failure", Body: xmlSafe(body)}
		case Skip:
			c.Skipped = &junitMessage{Message: xmlSafe(text.FirstLine(res.Message))}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: junitSuiteName, Tests: suite.Tests, Failures: f, Skipped: s, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes the JUnit XML to path atomically, so a CI job never
// picks up a half-written file, creating the directory if needed.
func (r *Report) WriteJUnitFile(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("junit report: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".junit-*.xml")
	if err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := r.WriteJUnit(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("junit report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("junit report %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("junit report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	return nil
}

// xmlSafe drops characters XML 1.0 cannot hold at all (most control
// characters). Pod logs contain ANSI escapes and the like, and one of them
// would make the whole report unparseable.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF:
			return -1
		case r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
}

func restLines(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return ""
}
