// Command runc-wrap runs runc without CAP_SYS_RESOURCE where the machine
// cannot grant it.
//
// Some VMs start every process with a capability bounding set that lacks
// CAP_SYS_RESOURCE. A "privileged" OCI spec lists every capability, and runc
// then fails with "unable to apply caps: operation not permitted". kind runs
// its node containers (and `docker exec`) privileged, and the node's
// containerd runs privileged pods, so both dockerd and the node's containerd
// use this wrapper as their runc. It removes CAP_SYS_RESOURCE from the
// bundle's config.json (create, run) or from the --process file (exec), then
// execs the real runc with the unchanged arguments. Where the capability is
// available it changes nothing.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const capName = "CAP_SYS_RESOURCE"
const capBit = 24

func main() {
	real, err := realRunc()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runc-wrap:", err)
		os.Exit(127)
	}
	if !capAvailable() {
		cmd, bundle, process := parseArgs(os.Args[1:])
		var file, path string
		switch cmd {
		case "create", "run":
			if bundle == "" {
				bundle = "."
			}
			file, path = filepath.Join(bundle, "config.json"), "process.capabilities"
		case "exec":
			file, path = process, "capabilities"
		}
		if file != "" {
			if err := stripFile(file, path); err != nil {
				fmt.Fprintf(os.Stderr, "runc-wrap: removing %s from %s: %v\n", capName, file, err)
				os.Exit(1)
			}
		}
	}
	args := append([]string{real}, os.Args[1:]...)
	err = syscall.Exec(real, args, os.Environ())
	fmt.Fprintf(os.Stderr, "runc-wrap: exec %s: %v\n", real, err)
	os.Exit(127)
}

// realRunc finds the runc this wrapper stands in for.
func realRunc() (string, error) {
	if p := os.Getenv("DAGSTER_DEV_REAL_RUNC"); p != "" {
		return p, nil
	}
	self, _ := os.Executable()
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && p != self {
			return p, nil
		}
	}
	return "", fmt.Errorf("no runc found (looked in /usr/sbin, /usr/bin, /usr/local/sbin, /usr/local/bin; or set DAGSTER_DEV_REAL_RUNC)")
}

// capAvailable reports whether CAP_SYS_RESOURCE is in this process's bounding set.
func capAvailable() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<capBit) != 0
		}
	}
	return false
}

// globalValueFlags are runc's global options that take a value.
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// parseArgs finds runc's subcommand and its --bundle/-b and --process/-p values.
func parseArgs(args []string) (cmd, bundle, process string) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			cmd = a
			i++
			break
		}
		if globalValueFlags[a] {
			i++ // skip the value
		}
	}
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--bundle" || a == "-b":
			if i+1 < len(args) {
				bundle = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case a == "--process" || a == "-p":
			if i+1 < len(args) {
				process = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--process="):
			process = strings.TrimPrefix(a, "--process=")
		}
	}
	return cmd, bundle, process
}

func stripFile(file, path string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, changed, err := strip(data, path)
	if err != nil || !changed {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, fi.Mode().Perm())
}

// strip removes CAP_SYS_RESOURCE from every capability list of the object
// at the dotted path (e.g. "process.capabilities") of a JSON document.
func strip(data []byte, path string) ([]byte, bool, error) {
	if !bytes.Contains(data, []byte(capName)) {
		return data, false, nil
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep big integers (uids, limits) exact
	if err := dec.Decode(&doc); err != nil {
		return nil, false, err
	}
	obj := doc
	for _, p := range strings.Split(path, ".") {
		next, ok := obj[p].(map[string]any)
		if !ok {
			return data, false, nil
		}
		obj = next
	}
	changed := false
	for k, v := range obj {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, c := range list {
			if c == capName {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		obj[k] = kept
	}
	if !changed {
		return data, false, nil
	}
	out, err := json.Marshal(doc)
	return out, true, err
}
