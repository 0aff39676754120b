#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for `make run` and the tests.
#   pgcluster.sh start DIR PORT   initdb if needed, start, create database "redress", apply migrations
#   pgcluster.sh stop DIR
#   pgcluster.sh migrate DIR PORT
# The cluster listens on a Unix socket in DIR/sock and on 127.0.0.1:PORT. initdb and postgres refuse
# to run as root, so as root everything runs as the unprivileged "postgres" user.
set -euo pipefail
cmd=${1:?usage: pgcluster.sh start|stop|migrate DIR [PORT]}
dir=$(realpath -m "${2:?DIR missing}")
port=${3:-5433}
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin
here=$(cd "$(dirname "$0")/.." && pwd)

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner mkdir -p "$dir/data" "$dir/sock"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
# No client addresses and no statement values in the server log.
log_line_prefix = '%m [%p] '
log_error_verbosity = terse
log_connections = off
log_min_error_statement = panic
max_connections = 200
shared_buffers = 256MB
wal_buffers = 16MB
max_wal_size = 2GB
CONF
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  fi
  psql_="psql -X -q -h $dir/sock -p $port -U postgres"
  $psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='redress'" | grep -q 1 \
    || $psql_ -d postgres -c "CREATE DATABASE redress" >/dev/null
  "$0" migrate "$dir" "$port"
  ;;
migrate)
  psql_="psql -X -q -v ON_ERROR_STOP=1 -h $dir/sock -p $port -U postgres -d redress"
  $psql_ -c "CREATE TABLE IF NOT EXISTS schema_migration (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())" 2>/dev/null
  for f in "$here"/sql/[0-9]*.sql; do
    v=$(basename "$f" .sql)
    if ! $psql_ -tAc "SELECT 1 FROM schema_migration WHERE version='$v'" | grep -q 1; then
      $psql_ -1 -f "$f" -c "INSERT INTO schema_migration(version) VALUES ('$v')" >/dev/null
    fi
  done
  ;;
stop)
  if [ -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
*) echo "pgcluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
