#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for `make run` and the tests.
#   pgcluster.sh start DIR PORT   initdb if needed, start, create database "redress", apply migrations
#   pgcluster.sh stop DIR
#   pgcluster.sh migrate DIR PORT
#   pgcluster.sh destroy DIR      stop, then remove the cluster's data (and where it was moved to)
# The cluster listens on a Unix socket in DIR/sock and on 127.0.0.1:PORT.
#
# initdb and postgres refuse to run as root, so as root everything runs as the unprivileged
# "postgres" user, which must be able to reach DIR. A clone in a home directory (mode 700) is out
# of its reach: then the cluster lives in /var/lib/redress/pg-<hash of DIR's path>, owned by
# postgres, and DIR is a symbolic link to it. A socket path longer than a Unix socket address allows
# (107 bytes) gets the same treatment for DIR/sock, under /tmp.
set -euo pipefail
cmd=${1:?usage: pgcluster.sh start|stop|migrate|destroy DIR [PORT]}
dir=$(realpath -m "${2:?DIR missing}")
port=${3:-5433}
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin
here=$(cd "$(dirname "$0")/.." && pwd)
root=false
[ "$(id -u)" -eq 0 ] && root=true

as_owner() {
  if $root; then runuser -u postgres -- "$@"; else "$@"; fi
}

path_hash() { printf '%s' "$1" | sha256sum | cut -c1-16; }

# Makes DIR (and DIR/sock) exist where the cluster's owner can reach them; sets dir to the real path.
cluster_place() {
  local asked=$dir
  if $root && [ ! -L "$asked" ]; then
    mkdir -p "$asked"
    chown postgres: "$asked"
    if ! runuser -u postgres -- test -w "$asked"; then
      # Only an empty skeleton (an earlier failed start) may be moved out of the way.
      rm -f "$asked/initdb.log"
      rmdir "$asked/sock" "$asked/data" 2>/dev/null || true
      rmdir "$asked" 2>/dev/null || {
        echo "pgcluster: postgres cannot reach $asked, which is not empty: move it away" >&2
        exit 1
      }
      local real="/var/lib/redress/pg-$(path_hash "$asked")"
      install -d -m 755 /var/lib/redress
      install -d -m 700 -o postgres -g postgres "$real"
      ln -s "$real" "$asked"
      echo "pgcluster: postgres cannot reach $asked; its data is in $real" >&2
    fi
  fi
  mkdir -p "$asked"
  dir=$(realpath "$asked")
  if $root; then chown postgres: "$dir"; fi
  if [ ! -e "$dir/sock" ]; then
    if [ ${#dir} -gt 80 ]; then
      local sock="/tmp/redress-sock-$(path_hash "$dir")"
      as_owner mkdir -p -m 700 "$sock"
      ln -s "$sock" "$dir/sock"
    else
      as_owner mkdir -p "$dir/sock"
    fi
  fi
}

case "$cmd" in
start)
  cluster_place
  sockdir=$(realpath "$dir/sock")
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner mkdir -p "$dir/data"
    # Collation C: text compares byte by byte (memcmp), in the same order as C.UTF-8's code points;
    # character classes and case still follow C.UTF-8. Each grievance's references go into two b-trees.
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --lc-collate=C >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
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
    # The port and socket may have changed in the config since initdb (make run's ports are
    # configurable): the command line wins over postgresql.conf.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $sockdir" start >/dev/null
  fi
  psql_="psql -X -q -h $sockdir -p $port -U postgres"
  $psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='redress'" | grep -q 1 \
    || $psql_ -d postgres -c "CREATE DATABASE redress" >/dev/null
  "$0" migrate "$dir" "$port"
  ;;
migrate)
  psql_="psql -X -q -v ON_ERROR_STOP=1 -h $(realpath "$dir/sock") -p $port -U postgres -d redress"
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
destroy)
  "$0" stop "$dir"
  [ -L "$dir/sock" ] && rm -rf "$(realpath "$dir/sock")"
  if [ -L "${2%/}" ]; then real=$(realpath "${2%/}"); rm -f "${2%/}"; rm -rf "$real"; else rm -rf "$dir"; fi
  ;;
*) echo "pgcluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
