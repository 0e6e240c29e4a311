#!/bin/bash
# Runs inside the image's rootfs (chroot) at build time.
set -euo pipefail
uid=$(id -u rabbitmq); gid=$(id -g rabbitmq)
if [ "$gid" != 999 ]; then
  if getent group 999 >/dev/null; then echo "gid 999 is taken by $(getent group 999)" >&2; exit 1; fi
  groupmod -g 999 rabbitmq
  find / -xdev -gid "$gid" -exec chgrp -h 999 {} +
fi
if [ "$uid" != 999 ]; then
  if getent passwd 999 >/dev/null; then echo "uid 999 is taken by $(getent passwd 999)" >&2; exit 1; fi
  usermod -u 999 rabbitmq
  find / -xdev -uid "$uid" -exec chown -h 999 {} +
fi
# Debian's rabbitmq-env.conf may pin the node to 127.0.0.1 or set a node
# name; the container takes both from its environment instead.
if [ -f /etc/rabbitmq/rabbitmq-env.conf ]; then
  sed -ri 's/^(NODE_IP_ADDRESS|NODENAME|NODE_PORT)=/#&/' /etc/rabbitmq/rabbitmq-env.conf
fi
# the management plugin (and prometheus, as the official image) on at boot
echo '[rabbitmq_management,rabbitmq_prometheus].' > /etc/rabbitmq/enabled_plugins
ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_management-* >/dev/null
ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_prometheus-* >/dev/null
# the server's log and data directories; conf.d writable so the entrypoint
# can write the credentials when started as a non-root uid
mkdir -p /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq/conf.d
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq
chmod 1777 /var/lib/rabbitmq
# the package's postinst made an Erlang cookie; every container makes its own
rm -f /var/lib/rabbitmq/.erlang.cookie
ls /usr/lib/rabbitmq/bin
