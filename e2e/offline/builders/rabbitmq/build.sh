#!/usr/bin/env bash
# dagster-dev.local/rabbitmq:3: Debian's rabbitmq-server with the interface of
# the official rabbitmq:3-management image (RABBITMQ_DEFAULT_USER/PASS,
# AMQP 5672, management UI/API 15672, rabbitmq-diagnostics, uid 999).
. "$BUILDERS/lib.sh"
need ROOT ROOTFS_TAR
here=$BUILDERS/rabbitmq
extract_rootfs "$ROOTFS_TAR" "$ROOT"
install -m 0755 "$here/setup.sh" "$ROOT/tmp/setup.sh"
install -D -m 0644 "$here/10-defaults.conf" "$ROOT/etc/rabbitmq/conf.d/10-defaults.conf"
mount_chroot "$ROOT"
chroot "$ROOT" /tmp/setup.sh
umount_chroot
rm -f "$ROOT/tmp/setup.sh"
install -m 0755 "$here/docker-entrypoint.sh" "$ROOT/usr/local/bin/docker-entrypoint.sh"
