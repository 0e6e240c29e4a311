#!/usr/bin/env bash
# Entrypoint with the interface of the official rabbitmq image:
#   RABBITMQ_DEFAULT_USER, RABBITMQ_DEFAULT_PASS, RABBITMQ_DEFAULT_VHOST
#   (written to /etc/rabbitmq/conf.d/20-env.conf, read at first boot when the
#   user database is created), data in /var/lib/rabbitmq. Started as root,
#   it makes /var/lib/rabbitmq (e.g. a fresh Kubernetes volume) belong to
#   rabbitmq, then drops to the rabbitmq user.
set -euo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- rabbitmq-server "$@"
fi

if [ "$1" = rabbitmq-server ]; then
  # RabbitMQ 3.9+ reads RABBITMQ_DEFAULT_USER/PASS/VHOST itself (as the official image relies on);
  # the file is written too where it can be, and skipped on a read-only root filesystem.
  conf=/etc/rabbitmq/conf.d/20-env.conf
  if [ -w "${conf%/*}" ]; then
  {
    echo "# written by docker-entrypoint.sh from the environment"
    for kv in "default_user:${RABBITMQ_DEFAULT_USER:-}" "default_pass:${RABBITMQ_DEFAULT_PASS:-}" "default_vhost:${RABBITMQ_DEFAULT_VHOST:-}"; do
      k=${kv%%:*} v=${kv#*:}
      [ -n "$v" ] || continue
      case "$v" in
        *$'\n'*) echo "error: ${k} must be one line" >&2; exit 1 ;;
      esac
      printf '%s = %s\n' "$k" "$v"
    done
  } > "$conf.tmp"
  mv "$conf.tmp" "$conf"
  fi
  # The Erlang cookie, made before the server starts: otherwise a CLI tool
  # run early as root (a probe, `docker exec rabbitmq-diagnostics`) creates
  # it owned by root and the server cannot read it.
  cookie=/var/lib/rabbitmq/.erlang.cookie
  if [ ! -s "$cookie" ]; then
    # 40 random capital letters (an Erlang cookie is an atom)
    value=$(head -c 20 /dev/urandom | od -An -tx1 | tr -dc '0-9a-f' | tr '0-9a-f' 'A-P')
    (umask 077; printf '%s' "$value" > "$cookie.tmp")
    mv "$cookie.tmp" "$cookie"
  fi
  chmod 0400 "$cookie" 2>/dev/null || :
  if [ "$(id -u)" = 0 ]; then
    find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' +
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
fi

exec "$@"
