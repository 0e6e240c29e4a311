package values

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dagster-dev/dagster-dev/internal/userfile"
)

// envName is what a dotenv key must look like: a POSIX shell variable name.
// Kubernetes accepts more since 1.34, but a key a shell or Python cannot
// read back is almost always a typo.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseDotenv reads KEY=VALUE lines the way python-dotenv and Docker Compose
// do, because that is what a Dagster user's .env already follows:
//
//   - blank lines and lines starting with # are skipped; "export " is allowed;
//   - unquoted values end at " #" (an inline comment) and are trimmed;
//   - 'single quotes' are literal, "double quotes" understand \n \t \r \" \\
//     and both may span lines;
//   - a key given twice keeps its last value, like a shell.
//
// ${VAR} is not expanded: values reach the cluster exactly as written, so
// what the file says is what the pod sees.
func ParseDotenv(file string, data []byte) (map[string]string, error) {
	if err := userfile.CheckText(file, data); err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	out := map[string]string{}
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimSpace(rest)
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			// The line is not quoted back: it may be a pasted secret.
			return nil, &userfile.Error{File: file, Line: lineNo, Msg: "expected KEY=VALUE"}
		}
		key = strings.TrimSpace(key)
		if !envName.MatchString(key) {
			return nil, &userfile.Error{File: file, Line: lineNo, Msg: fmt.Sprintf("invalid variable name %q: use letters, digits and _, not starting with a digit", key)}
		}
		val = strings.TrimLeft(val, " \t")
		switch {
		case strings.HasPrefix(val, "'") || strings.HasPrefix(val, `"`):
			quote := val[0]
			body := val[1:]
			var b strings.Builder
			end := -1
			for {
				j := closingQuote(body, quote)
				if j >= 0 {
					b.WriteString(body[:j])
					end = j
					break
				}
				// The value continues on the next line.
				b.WriteString(body)
				if i+1 >= len(lines) {
					return nil, &userfile.Error{File: file, Line: lineNo, Msg: fmt.Sprintf("the value of %s opens a %c quote that is never closed", key, quote)}
				}
				b.WriteByte('\n')
				i++
				body = lines[i]
			}
			after := strings.TrimSpace(body[end+1:])
			if after != "" && !strings.HasPrefix(after, "#") {
				return nil, &userfile.Error{File: file, Line: i + 1, Msg: fmt.Sprintf("unexpected text after the closing quote of %s", key)}
			}
			v := b.String()
			if quote == '"' {
				v = unescapeDouble(v)
			}
			out[key] = v
		default:
			if j := strings.Index(val, " #"); j >= 0 {
				val = val[:j]
			} else if j := strings.Index(val, "\t#"); j >= 0 {
				val = val[:j]
			}
			out[key] = strings.TrimSpace(val)
		}
	}
	return out, nil
}

// closingQuote finds the quote that ends s; in double quotes a backslash
// escapes the next character.
func closingQuote(s string, quote byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quote == '"' {
				i++
			}
		case quote:
			return i
		}
	}
	return -1
}

func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '"', '\\', '\'', '$':
			b.WriteByte(s[i])
		default:
			// Unknown escapes stay as written (python-dotenv does the same).
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
