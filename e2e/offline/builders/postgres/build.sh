#!/usr/bin/env bash
# dagster-dev.local/postgres:15: Debian's postgresql-15 with the interface of
# the official postgres image (docker-entrypoint.sh, POSTGRES_* variables,
# PGDATA, uid 999).
. "$BUILDERS/lib.sh"
need ROOT ROOTFS_TAR
here=$BUILDERS/postgres
extract_rootfs "$ROOTFS_TAR" "$ROOT"
install -m 0755 "$here/setup.sh" "$ROOT/tmp/setup.sh"
mount_chroot "$ROOT"
chroot "$ROOT" /tmp/setup.sh
umount_chroot
rm -f "$ROOT/tmp/setup.sh"
install -m 0755 "$here/docker-entrypoint.sh" "$ROOT/usr/local/bin/docker-entrypoint.sh"
ln -sf usr/local/bin/docker-entrypoint.sh "$ROOT/docker-entrypoint.sh"
