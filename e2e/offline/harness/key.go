package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
	"sort"
)

// KeyLen is the number of hex digits of an input hash used in cache paths
// and image labels. 20 digits (80 bits) make accidental collisions between
// builds of one machine practically impossible while keeping paths short.
const KeyLen = 20

// Key accumulates the inputs of one build output (versions, builder files,
// the keys of other outputs it consumes) into a hash. Every value is written
// with its name and length, so ("ab","c") and ("a","bc") never collide and
// reordering two inputs changes the key.
type Key struct {
	h   hash.Hash
	err error
}

// NewKey starts a key for one kind of output. The kind is part of the hash so
// two outputs with identical inputs (e.g. two images built by the same
// script) still get different keys.
func NewKey(kind string) *Key {
	k := &Key{h: sha256.New()}
	return k.Str("kind", kind)
}

// Str adds one named value.
func (k *Key) Str(name, value string) *Key {
	fmt.Fprintf(k.h, "%d:%s=%d:%s\n", len(name), name, len(value), value)
	return k
}

// Strs adds a named list; order matters.
func (k *Key) Strs(name string, values []string) *Key {
	k.Str(name+"#", fmt.Sprint(len(values)))
	for i, v := range values {
		k.Str(fmt.Sprintf("%s[%d]", name, i), v)
	}
	return k
}

// Files adds every regular file and symlink below dir in fsys: relative
// path, executable bit and content. Walk order is lexical, so the key does not
// depend on directory listing order.
func (k *Key) Files(name string, fsys fs.FS, dir string) *Key {
	return k.FilesMatching(name, fsys, dir, nil)
}

// FilesMatching is Files limited to the paths keep accepts (nil: all).
func (k *Key) FilesMatching(name string, fsys fs.FS, dir string, keep func(path string) bool) *Key {
	if k.err != nil {
		return k
	}
	var paths []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (keep == nil || keep(p)) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		k.err = fmt.Errorf("hashing %s (%s): %w", name, dir, err)
		return k
	}
	sort.Strings(paths)
	k.Str(name+"#", fmt.Sprint(len(paths)))
	for _, p := range paths {
		info, err := fs.Stat(fsys, p)
		if err != nil {
			k.err = fmt.Errorf("hashing %s: %w", p, err)
			return k
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			k.err = fmt.Errorf("hashing %s: %w", p, err)
			return k
		}
		rel := p
		if dir != "." && len(p) > len(dir) {
			rel = p[len(dir)+1:]
		}
		k.Str(name+":path", rel)
		k.Str(name+":exec", fmt.Sprint(info.Mode().Perm()&0o111 != 0))
		sum := sha256.Sum256(data)
		k.Str(name+":sha256", hex.EncodeToString(sum[:]))
	}
	return k
}

// Sum returns the key (KeyLen hex digits) or the first error met while
// reading inputs.
func (k *Key) Sum() (string, error) {
	if k.err != nil {
		return "", k.err
	}
	return hex.EncodeToString(k.h.Sum(nil))[:KeyLen], nil
}
