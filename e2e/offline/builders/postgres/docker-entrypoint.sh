#!/usr/bin/env bash
# Entrypoint with the interface of the official postgres image:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#   POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER),
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
#   PGDATA (default /var/lib/postgresql/data), /docker-entrypoint-initdb.d/*.
# initdb runs only when $PGDATA has no PG_VERSION. Started as root, it makes
# $PGDATA (e.g. a fresh Kubernetes volume) belong to postgres, then drops to
# the postgres user.
set -Eeuo pipefail

# `docker run image -c foo=bar` means `postgres -c foo=bar`
if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  mkdir -p /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 03775 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or set
       POSTGRES_HOST_AUTH_METHOD=trust to allow connections without a password
       (never do that outside a throwaway environment).
MSG
    exit 1
  fi
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :

  pwfile=$(mktemp)
  printf '%s' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"

  # temporary server on the unix socket only, for the database and init scripts
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
  export PGPASSWORD="${POSTGRES_PASSWORD:-}"
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ "$POSTGRES_DB" != postgres ]; then
    exists=$("${psql[@]}" --dbname postgres -tA --set db="$POSTGRES_DB" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db' ;
SQL
)
    if [ -z "$exists" ]; then
      "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db" ;
SQL
    fi
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)     echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)    echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *)        echo "ignoring $f" ;;
    esac
  done
  unset PGPASSWORD
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
