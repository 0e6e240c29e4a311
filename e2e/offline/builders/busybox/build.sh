#!/usr/bin/env bash
# dagster-dev.local/busybox: Debian's busybox and the C library, nothing else;
# a small image for tests (side-loading, DNS, HTTP, privileged pods).
. "$BUILDERS/lib.sh"
need ROOT ROOTFS_TAR
src=$WORK/src
mkdir -p "$src"
tar --numeric-owner -xpf "$ROOTFS_TAR" -C "$src" ./usr/bin/busybox ./etc/ssl/certs/ca-certificates.crt \
  ./usr/lib/x86_64-linux-gnu ./usr/lib64
skel "$ROOT"
cp "$src/etc/ssl/certs/ca-certificates.crt" "$ROOT/etc/ssl/certs/"
add_busybox "$src" "$ROOT"
"$ROOT/bin/busybox" true
