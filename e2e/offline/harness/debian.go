package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// debianSuites are the suite names that identify an entry of the machine's
// apt sources as a Debian archive (as opposed to security, updates or a
// third-party repository that also has a "main" component).
var debianSuites = map[string]bool{
	"bullseye": true, "bookworm": true, "trixie": true, "forky": true, "sid": true,
	"oldstable": true, "stable": true, "testing": true, "unstable": true,
}

type aptSource struct {
	types, uris, suites, components []string
	enabled                         bool
}

// parseAptSources reads one-line (sources.list) and deb822 (.sources)
// entries.
func parseAptSources(name, text string) []aptSource {
	if strings.HasSuffix(name, ".sources") {
		return parseDeb822(text)
	}
	var out []aptSource
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "deb" && f[0] != "deb-src") {
			continue
		}
		rest := f[1:]
		if strings.HasPrefix(rest[0], "[") { // options: [arch=amd64 signed-by=...]
			for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				rest = rest[1:]
			}
		}
		if len(rest) < 2 {
			continue
		}
		out = append(out, aptSource{types: []string{f[0]}, uris: rest[:1], suites: rest[1:2], components: rest[2:], enabled: true})
	}
	return out
}

func parseDeb822(text string) []aptSource {
	var out []aptSource
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) == 0 {
			return
		}
		s := aptSource{
			types:      strings.Fields(cur["types"]),
			uris:       strings.Fields(cur["uris"]),
			suites:     strings.Fields(cur["suites"]),
			components: strings.Fields(cur["components"]),
			enabled:    !strings.EqualFold(strings.TrimSpace(cur["enabled"]), "no"),
		}
		out = append(out, s)
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" { // continuation
			cur[last] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.ToLower(strings.TrimSpace(k))
		cur[last] = strings.TrimSpace(v)
	}
	flush()
	return out
}

// debianMirror picks the Debian archive URI from apt source files (name ->
// content, in the order apt reads them).
func debianMirror(files []aptFile) (string, error) {
	for _, f := range files {
		for _, s := range parseAptSources(f.name, f.text) {
			if !s.enabled || !contains(s.types, "deb") || !contains(s.components, "main") || len(s.uris) == 0 {
				continue
			}
			for _, suite := range s.suites {
				if debianSuites[suite] {
					return strings.TrimRight(s.uris[0], "/"), nil
				}
			}
		}
	}
	return "", errors.New("no Debian archive (a deb entry for bookworm/stable/... with component main) in the apt sources")
}

type aptFile struct{ name, text string }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DebianMirror reads the Debian mirror this machine's apt uses.
func DebianMirror() (string, error) {
	var files []aptFile
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		files = append(files, aptFile{"sources.list", string(b)})
	}
	names, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasSuffix(n, ".list") && !strings.HasSuffix(n, ".sources") {
			continue
		}
		if b, err := os.ReadFile(n); err == nil {
			files = append(files, aptFile{filepath.Base(n), string(b)})
		}
	}
	m, err := debianMirror(files)
	if err != nil {
		return "", withHint(err, "add the Debian archive to /etc/apt/sources.list.d/debian.sources; prepare bootstraps images from the mirror apt uses")
	}
	return m, nil
}

// rootfsSpec is one debootstrap output.
type rootfsSpec struct {
	name    string
	include []string
}

func rootfsKey(spec rootfsSpec) (string, error) {
	return NewKey("rootfs").Str("name", spec.name).Str("suite", DebianSuite).
		Strs("include", spec.include).Str("recipe", "1").Sum()
}

// Rootfs returns a tarball of a Debian rootfs (debootstrap minbase plus
// include), cached by suite and package list. Downloaded packages are kept in
// a shared cache directory, so later rootfs builds download only what is new.
func (h *Harness) Rootfs(ctx context.Context, spec rootfsSpec) (string, error) {
	memo := "rootfs:" + spec.name
	if p, ok := h.memoGet(memo); ok {
		return p, nil
	}
	key, err := rootfsKey(spec)
	if err != nil {
		return "", err
	}
	out := h.cachePath("rootfs", spec.name+"-"+key+".tar")
	if _, err := os.Stat(out); err == nil {
		h.memoSet(memo, out)
		return out, nil
	}
	err = h.run.Do("debootstrap "+spec.name+" rootfs", func(s *Step) (Status, error) {
		return Built, h.debootstrap(ctx, s, spec, out)
	})
	if err != nil {
		return "", err
	}
	pruneSiblings(h.cachePath("rootfs"), spec.name+"-", filepath.Base(out))
	h.memoSet(memo, out)
	return out, nil
}

func (h *Harness) debootstrap(ctx context.Context, s *Step, spec rootfsSpec, out string) error {
	if h.mirror == "" {
		m, err := DebianMirror()
		if err != nil {
			return err
		}
		h.mirror = m
	}
	debs := h.cachePath("debootstrap", "debs")
	work := h.cachePath("work", "rootfs-"+spec.name)
	for _, d := range []string{debs, filepath.Dir(out)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := removeTree(work); err != nil {
		return err
	}
	defer removeTree(work)
	args := []string{"--variant=minbase", "--components=main", "--cache-dir=" + debs}
	if len(spec.include) > 0 {
		args = append(args, "--include="+strings.Join(spec.include, ","))
	}
	args = append(args, DebianSuite, work, h.mirror)
	s.Logf("mirror (from apt sources): %s", h.mirror)
	if err := s.Run(Cmd(ctx, "debootstrap", args...)); err != nil {
		return withHint(err, "debootstrap failed; the log names the package or download that failed (mirror %s from the apt sources)", h.mirror)
	}
	// Shrink: package lists and the .deb cache are not needed in images.
	for _, g := range []string{"var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/log/*.log", "var/log/apt/*"} {
		matches, _ := filepath.Glob(filepath.Join(work, g))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
	tmp := out + ".tmp"
	if err := s.Run(Cmd(ctx, "tar", "--numeric-owner", "-C", work, "-cf", tmp, ".")); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// removeTree unmounts anything mounted below dir (debootstrap and chroot
// steps mount /proc, /sys, ...; a failed run can leave them) and removes it.
func removeTree(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); os.IsNotExist(err) {
		return nil
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err == nil {
		mounts := mountsBelow(string(b), abs)
		for _, m := range mounts {
			if err := unmount(m); err != nil {
				return fmt.Errorf("cannot unmount %s (left by an earlier build): %w; unmount it by hand", m, err)
			}
		}
	}
	return os.RemoveAll(abs)
}

// mountsBelow returns the mount points at or below dir from a mountinfo
// text, deepest first.
func mountsBelow(mountinfo, dir string) []string {
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMountinfo(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}
