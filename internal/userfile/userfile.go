// Package userfile is what dagster-dev says about the user's own files
// (values, env and source files): a problem located at file:line, the check
// that content is text, and paths shown as the user thinks of them.
package userfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Error is a problem in one input file, located by line when known. Its
// message never quotes file content, because the file may hold secrets.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// CheckText rejects content that is not text: NUL bytes or invalid UTF-8.
// Such content cannot be an environment variable and is almost always a file
// that was attached by mistake.
func CheckText(file string, data []byte) error {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &Error{File: file, Line: 1 + bytes.Count(data[:i], []byte("\n")), Msg: "binary content (NUL byte): only text files can become environment variables"}
	}
	if !utf8.Valid(data) {
		line := 1
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			if r == '\n' {
				line++
			}
			i += n
		}
		return &Error{File: file, Line: line, Msg: "binary content (not UTF-8 text): only text files can become environment variables"}
	}
	return nil
}

// DisplayPath shortens an absolute path to one relative to the working
// directory when it lies below it, which is how users think of their files.
func DisplayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
