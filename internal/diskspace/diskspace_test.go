package diskspace

import "testing"

func TestNoSpace(t *testing.T) {
	for text, want := range map[string]bool{
		// containerd's snapshotter, as the kubelet reports it in a FailedCreatePodSandBox event
		`Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create containerd container: failed to prepare extraction snapshot: mkdir /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42: no space left on device`: true,
		// ctr import, as kind's exec wraps its output
		`ctr: failed to ingest "blobs/sha256:ab": failed to copy: write /var/lib/containerd/ingest/x/data: No Space Left On Device`: true,
		`write /var/lib/etcd/member/wal/0.tmp: ENOSPC`:                     true,
		`write /home/u/.local/share/docker/x: disk quota exceeded`:         true,
		`configmap "x" not found`:                                          false,
		`failed to create containerd container: context deadline exceeded`: false,
		`the space left on the device is enough`:                           false,
	} {
		if got := NoSpace(text); got != want {
			t.Errorf("NoSpace(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:               "0 B",
		1023:            "1023 B",
		1024:            "1.0 KiB",
		1536:            "1.5 KiB",
		300 << 20:       "300.0 MiB",
		3<<30 + 512<<20: "3.5 GiB",
		2 << 40:         "2.0 TiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
