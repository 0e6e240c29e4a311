// Package text holds the small string helpers messages are built with, so
// every package words and trims them the same way.
package text

import "strings"

// Snippet shortens a command's or server's output for an error message.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// ListOrNone joins names with ", ", or says "none".
func ListOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// FirstLine is the first line of s, trimmed.
func FirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// Indent prefixes every non-empty line of s.
func Indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// Plural is one when n is 1 and many otherwise, for "1 node", "3 nodes".
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
