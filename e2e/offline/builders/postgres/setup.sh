#!/bin/bash
# Runs inside the image's rootfs (chroot) at build time.
set -euo pipefail
# Debian's package created a cluster "main"; the entrypoint creates its own
# in $PGDATA on first start.
rm -rf /var/lib/postgresql/15/main /etc/postgresql/15/main
# uid/gid 999 as in the official image (volumes written by one work with the other)
uid=$(id -u postgres); gid=$(id -g postgres)
if [ "$gid" != 999 ]; then
  if getent group 999 >/dev/null; then echo "gid 999 is taken by $(getent group 999)" >&2; exit 1; fi
  groupmod -g 999 postgres
  find / -xdev -gid "$gid" -exec chgrp -h 999 {} +
fi
if [ "$uid" != 999 ]; then
  if getent passwd 999 >/dev/null; then echo "uid 999 is taken by $(getent passwd 999)" >&2; exit 1; fi
  usermod -u 999 postgres
  find / -xdev -uid "$uid" -exec chown -h 999 {} +
fi
# listen on all interfaces in every cluster initdb creates (as the official image)
sample=/usr/share/postgresql/15/postgresql.conf.sample
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -qF "listen_addresses = '*'" "$sample"
mkdir -p /var/run/postgresql /var/lib/postgresql/data /docker-entrypoint-initdb.d
chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
chmod 3777 /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
/usr/lib/postgresql/15/bin/postgres --version
