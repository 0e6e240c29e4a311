package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// RuncWrapPath is where the runc wrapper is installed for dockerd.
	RuncWrapPath = "/usr/local/libexec/dagster-dev/runc-wrap"
	// RuncWrapRuntime is the runtime name registered in /etc/docker/daemon.json.
	RuncWrapRuntime = "dagster-dev-runc"
	daemonJSONPath  = "/etc/docker/daemon.json"
	dockerdLogPath  = "/var/log/dagster-dev-dockerd.log"
	// capSysResource is CAP_SYS_RESOURCE's bit in the capability sets.
	capSysResource = 24
)

// hostPackages maps a command prepare needs to the Debian package providing it.
var hostPackages = []struct{ cmd, pkg string }{
	{"dockerd", "docker.io"},
	{"iptables", "iptables"},
	{"debootstrap", "debootstrap"},
}

// Engine makes the local Docker engine usable and safe: packages installed,
// runc wrapper registered where the machine needs it, dockerd running, and the
// DOCKER-USER reject rule in place so no container traffic leaves the machine.
func (h *Harness) Engine(ctx context.Context) error {
	if err := h.run.Do("host packages (docker.io, iptables, debootstrap)", h.hostPackages(ctx)); err != nil {
		return err
	}
	wrap := false
	if err := h.run.Do("runc wrapper", func(s *Step) (Status, error) {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return "", err
		}
		has, err := capBoundingHas(string(status), capSysResource)
		if err != nil {
			return "", err
		}
		if has {
			s.Logf("CAP_SYS_RESOURCE is in the capability bounding set: no wrapper needed")
			return "not needed (CAP_SYS_RESOURCE available)", nil
		}
		wrap = true
		return h.installRuncWrap(ctx, s)
	}); err != nil {
		return err
	}
	if err := h.run.Do("dockerd", func(s *Step) (Status, error) { return h.startDockerd(ctx, s, wrap) }); err != nil {
		return err
	}
	return h.run.Do("network guard (DOCKER-USER reject)", func(s *Step) (Status, error) {
		return ensureRejectRule(ctx, s)
	})
}

func (h *Harness) hostPackages(ctx context.Context) func(s *Step) (Status, error) {
	return func(s *Step) (Status, error) {
		var missing []string
		for _, p := range hostPackages {
			if _, err := lookPathSbin(p.cmd); err != nil {
				missing = append(missing, p.pkg)
			}
		}
		if len(missing) == 0 {
			return Present, nil
		}
		s.Logf("missing packages: %s", strings.Join(missing, " "))
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		upd := Cmd(ctx, "apt-get", "update")
		upd.Env = env
		if err := s.Run(upd); err != nil {
			return "", withHint(err, "apt-get update failed; check that the Debian mirror in /etc/apt/sources.list* is reachable")
		}
		inst := Cmd(ctx, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
		inst.Env = env
		if err := s.Run(inst); err != nil {
			return "", withHint(err, "installing %s failed; try `apt-get install %s` by hand", strings.Join(missing, ", "), strings.Join(missing, " "))
		}
		return Status("installed " + strings.Join(missing, ", ")), nil
	}
}

// lookPathSbin finds a command in PATH or the sbin directories (a root
// shell's PATH may lack them).
func lookPathSbin(cmd string) (string, error) {
	if p, err := exec.LookPath(cmd); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(d, cmd)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", cmd)
}

// capBoundingHas reports whether capability bit is in CapBnd of a
// /proc/<pid>/status text.
func capBoundingHas(status string, bit uint) (bool, error) {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("parsing CapBnd %q: %w", v, err)
		}
		return n&(1<<bit) != 0, nil
	}
	return false, errors.New("no CapBnd line in /proc/self/status")
}

func (h *Harness) installRuncWrap(ctx context.Context, s *Step) (Status, error) {
	bin, err := h.localGoBinary(ctx, s, "runc-wrap")
	if err != nil {
		return "", err
	}
	changed, err := installFile(bin, RuncWrapPath, 0o755)
	if err != nil {
		return "", withHint(err, "could not install the runc wrapper at %s", RuncWrapPath)
	}
	old, err := os.ReadFile(daemonJSONPath)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	merged, jsonChanged, err := mergeDaemonJSON(old, RuncWrapRuntime, RuncWrapPath)
	if err != nil {
		return "", withHint(err, "fix or remove %s (it is not valid JSON)", daemonJSONPath)
	}
	if jsonChanged {
		if err := os.MkdirAll(filepath.Dir(daemonJSONPath), 0o755); err != nil {
			return "", err
		}
		if err := writeFileAtomic(daemonJSONPath, merged, 0o644); err != nil {
			return "", err
		}
		s.Logf("wrote %s:\n%s", daemonJSONPath, merged)
	}
	if changed || jsonChanged {
		return Status(fmt.Sprintf("installed %s as dockerd default runtime", RuncWrapPath)), nil
	}
	return Present, nil
}

// mergeDaemonJSON registers runtime name -> path in a daemon.json document
// and makes it the default, keeping every other setting.
func mergeDaemonJSON(old []byte, name, path string) ([]byte, bool, error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(old)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(old))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, false, fmt.Errorf("parsing daemon.json: %w", err)
		}
	}
	runtimes, _ := doc["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	rt, _ := runtimes[name].(map[string]any)
	changed := doc["default-runtime"] != name || rt == nil || rt["path"] != path
	runtimes[name] = map[string]any{"path": path}
	doc["runtimes"] = runtimes
	doc["default-runtime"] = name
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, false, err
	}
	return append(out, '\n'), changed, nil
}

func dockerAnswers(ctx context.Context) (string, error) {
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(c, "docker", "info", "--format", "{{.ServerVersion}} {{.DefaultRuntime}}").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker info: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (h *Harness) startDockerd(ctx context.Context, s *Step, wrap bool) (Status, error) {
	info, err := dockerAnswers(ctx)
	status := Present
	if err != nil {
		s.Logf("docker does not answer: %v", err)
		if pid := dockerdPID(); pid > 0 {
			s.Logf("dockerd pid %d is alive; waiting for it", pid)
		} else {
			dockerd, err := lookPathSbin("dockerd")
			if err != nil {
				return "", withHint(err, "install Debian's docker.io package")
			}
			logf, err := os.OpenFile(dockerdLogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return "", err
			}
			cmd := exec.Command(dockerd)
			cmd.Stdout, cmd.Stderr = logf, logf
			// own session: dockerd must outlive prepare and its process group
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			err = cmd.Start()
			logf.Close()
			if err != nil {
				return "", withHint(err, "could not start dockerd; see %s", dockerdLogPath)
			}
			s.Logf("started dockerd pid %d, log %s", cmd.Process.Pid, dockerdLogPath)
			_ = cmd.Process.Release()
			status = Status("started (log " + dockerdLogPath + ")")
		}
		info, err = waitDocker(ctx, 90*time.Second)
		if err != nil {
			return "", withHint(err, "dockerd did not come up; read %s", dockerdLogPath)
		}
	}
	if wrap && !strings.HasSuffix(info, " "+RuncWrapRuntime) {
		// daemon.json changed while dockerd was running: SIGHUP reloads runtimes.
		pid := dockerdPID()
		if pid <= 0 {
			return "", withHint(errors.New("dockerd is running but /var/run/docker.pid names no live process"),
				"restart dockerd so it reads %s", daemonJSONPath)
		}
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			return "", err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			info, err = dockerAnswers(ctx)
			if err == nil && strings.HasSuffix(info, " "+RuncWrapRuntime) {
				break
			}
			if time.Now().After(deadline) {
				return "", withHint(fmt.Errorf("dockerd default runtime is still %q after SIGHUP", info),
					"restart dockerd so it reads %s", daemonJSONPath)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if status == Present {
			status = "reloaded (default runtime " + RuncWrapRuntime + ")"
		}
	}
	s.Logf("docker: %s", info)
	return status, nil
}

func waitDocker(ctx context.Context, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		info, err := dockerAnswers(ctx)
		if err == nil {
			return info, nil
		}
		if time.Now().After(deadline) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func dockerdPID() int {
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// DefaultRouteInterface returns the interface of the IPv4 default route.
func DefaultRouteInterface() (string, error) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", err
	}
	return defaultRouteIface(string(b))
}

// defaultRouteIface parses /proc/net/route and returns the interface of the
// default route with the lowest metric.
func defaultRouteIface(table string) (string, error) {
	best, bestMetric := "", int64(-1)
	for i, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue
		}
		if f[1] != "00000000" || f[7] != "00000000" { // destination and mask 0.0.0.0/0
			continue
		}
		m, err := strconv.ParseInt(f[6], 10, 64)
		if err != nil {
			continue
		}
		if bestMetric < 0 || m < bestMetric {
			best, bestMetric = f[0], m
		}
	}
	if best == "" {
		return "", errors.New("no IPv4 default route in /proc/net/route")
	}
	return best, nil
}

// RejectRuleArgs is the DOCKER-USER rule (without -C/-I) that stops container
// traffic leaving through iface.
func RejectRuleArgs(iface string) []string {
	return []string{"DOCKER-USER", "-o", iface, "-j", "REJECT"}
}

func ensureRejectRule(ctx context.Context, s *Step) (Status, error) {
	iface, err := DefaultRouteInterface()
	if err != nil {
		return "", withHint(err, "prepare needs a default route to know which interface to close for containers")
	}
	ipt, err := lookPathSbin("iptables")
	if err != nil {
		return "", withHint(err, "install Debian's iptables package")
	}
	rule := RejectRuleArgs(iface)
	if err := s.Run(Cmd(ctx, ipt, append([]string{"-w", "-C"}, rule...)...)); err == nil {
		return Status("present (-o " + iface + ")"), nil
	}
	if err := s.Run(Cmd(ctx, ipt, "-w", "-n", "-L", "DOCKER-USER")); err != nil {
		return "", withHint(err, "the DOCKER-USER chain is missing: dockerd must run with iptables enabled (no \"iptables\": false in %s)", daemonJSONPath)
	}
	if err := s.Run(Cmd(ctx, ipt, append([]string{"-w", "-I"}, rule...)...)); err != nil {
		return "", withHint(err, "could not insert the reject rule; run `iptables -I %s` by hand", strings.Join(rule, " "))
	}
	return Status("inserted (-o " + iface + ")"), nil
}

// installFile copies src to dst (atomically) unless dst already has the same
// content. It reports whether dst changed.
func installFile(src, dst string, mode os.FileMode) (bool, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	if cur, err := os.ReadFile(dst); err == nil && bytes.Equal(cur, data) {
		if fi, err := os.Stat(dst); err == nil && fi.Mode().Perm() == mode {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	return true, writeFileAtomic(dst, data, mode)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
