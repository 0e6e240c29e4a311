package text

import (
	"strings"
	"testing"
)

func TestHelpers(t *testing.T) {
	if got := Snippet([]byte("  \n")); got != "(empty body)" {
		t.Errorf("Snippet(empty) = %q", got)
	}
	if got := Snippet([]byte(strings.Repeat("x", 301))); len(got) != 300+len("…") {
		t.Errorf("Snippet(301) has %d bytes", len(got))
	}
	if ListOrNone(nil) != "none" || ListOrNone([]string{"a", "b"}) != "a, b" {
		t.Error("ListOrNone")
	}
	if FirstLine("  a \nb") != "a" {
		t.Error("FirstLine")
	}
	if Indent("a\n\nb", "  ") != "  a\n\n  b" {
		t.Errorf("Indent = %q", Indent("a\n\nb", "  "))
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "nodes", 1: "node", 2: "nodes", -1: "nodes"} {
		if got := Plural(n, "node", "nodes"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}
