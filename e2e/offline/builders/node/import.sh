#!/usr/bin/env bash
# Loads the component images ($IMAGES_TAR, a docker-archive) into the
# containerd image store of the node filesystem in $ROOT, the way kind's
# node-image build does (`ctr images import --no-unpack`, pinned so the
# kubelet never garbage-collects them). containerd runs from the node rootfs
# in a chroot, with the CRI plugin off and its socket/state in /tmp, so the
# result is plain files under /var/lib/containerd and the node image stays
# one layer.
. "$BUILDERS/lib.sh"
need ROOT IMAGES_TAR EXPECT_REFS
t=/tmp/containerd-import
mkdir -p "$ROOT$t/state"
ln "$IMAGES_TAR" "$ROOT$t/images.tar" 2>/dev/null || cp "$IMAGES_TAR" "$ROOT$t/images.tar"
cat > "$ROOT$t/config.toml" <<TOML
version = 2
root = "/var/lib/containerd"
state = "$t/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$t/containerd.sock"
[ttrpc]
  address = "$t/containerd.sock.ttrpc"
TOML
mount_chroot "$ROOT"
chroot "$ROOT" /usr/bin/containerd --config "$t/config.toml" > "$WORK/containerd-import.log" 2>&1 &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  umount_chroot
}
trap stop EXIT
ctr() { chroot "$ROOT" /usr/bin/ctr --address "$t/containerd.sock" --namespace k8s.io "$@"; }
for i in $(seq 1 50); do
  [ -S "$ROOT$t/containerd.sock" ] && ctr version >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$WORK/containerd-import.log"; die "containerd exited"; }
  sleep 0.2
done
ctr version >/dev/null || { cat "$WORK/containerd-import.log"; die "containerd did not answer"; }
ctr images import --all-platforms --no-unpack --digests "$t/images.tar"
for ref in $(ctr images list -q); do
  ctr images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
done
have=$(ctr images list -q)
echo "$have"
for ref in $EXPECT_REFS; do
  grep -qx "$ref" <<<"$have" || die "image $ref missing from the node's containerd after import"
done
stop
trap - EXIT
rm -rf "$ROOT$t"
log "imported $(wc -w <<<"$EXPECT_REFS") images"
