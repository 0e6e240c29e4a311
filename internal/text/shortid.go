package text

import "strings"

// ShortID is an image or object ID as Docker prints it: without its
// "sha256:" prefix, cut to 12 characters.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
