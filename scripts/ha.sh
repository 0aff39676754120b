#!/usr/bin/env bash
# A highly available redress on this machine's loopback, for `make test-ha` and for trying it out:
# a pg_auto_failover monitor, a primary and a synchronous standby (PostgreSQL 15 streaming
# replication, synchronous_commit = on, synchronous_standby_names set by the monitor), two
# redress-intake processes on two ports (as two hosts behind a TCP load balancer would be) and two
# redress-triage processes. Every program connects with one libpq multi-host conninfo and
# target_session_attrs=read-write, so whichever node is primary gets the writes.
#
#   ha.sh up [DIR [BASEPORT]]   start everything in DIR (default /tmp/redress-ha; it must not exist)
#   ha.sh down [DIR]            stop everything started in DIR and remove DIR
#   ha.sh state [DIR]           the monitor's view of the nodes (pg_autoctl show state)
#   ha.sh kill NODE [DIR]       SIGKILL NODE's postmaster and its pg_autoctl keeper together (the
#                               machine is lost: nothing restarts it)
#   ha.sh start NODE [DIR]      start NODE's keeper again (it rejoins, as standby if it was demoted)
#   ha.sh stop NODE [DIR]       stop NODE cleanly (keeper and postgres)
#
# Ports: BASEPORT (default 6400) monitor, +1 node1, +2 node2, +10 and +11 the two intake servers.
# DIR holds the data directories, logs, pid files, config (redress-a.conf, redress-b.conf,
# redress-read.conf) and a summary in DIR/ha.env. postgres refuses to run as root: as root every
# PostgreSQL and pg_autoctl process runs as the "postgres" user, so DIR lives outside the
# repository (whose parents may be mode 700). BUILD (default build) names the binaries' folder.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
case "$cmd" in
up | down | state) dir=${2:-/tmp/redress-ha}; base=${3:-6400} ;;
kill | start | stop) node=${2:?usage: ha.sh $cmd NODE [DIR]}; dir=${3:-/tmp/redress-ha} ;;
*) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
dir=$(realpath -m "$dir")
build=${BUILD:-build}; [[ "$build" = /* ]] || build=$here/$build
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin

# pg_autoctl keeps its config and state under XDG directories: keep them inside DIR.
as_pg() {
  local envs=(XDG_CONFIG_HOME="$dir/pgaf/config" XDG_DATA_HOME="$dir/pgaf/data"
              XDG_RUNTIME_DIR="$dir/pgaf/run" PGHOST="$dir/sock" PATH="$bindir:$PATH")
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env "${envs[@]}" "$@"; else env "${envs[@]}" "$@"; fi
}
say() { echo "ha: $*"; }
die() {
  echo "ha: $*" >&2
  local f
  for f in "$dir"/log/intake-*.log "$dir"/log/triage-*.log; do
    [ -f "$f" ] && { echo "ha: last lines of $f:" >&2; tail -n 5 "$f" >&2; }
  done
  exit 1
}

# Starts a program detached in its own session; its pid goes to DIR/pids/NAME.
spawn() {
  local name=$1; shift
  setsid "$@" >"$dir/log/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
}
# The pid of NODE's pg_autoctl supervisor (leader of its session), or nothing.
keeper_pid() {
  local f="$dir/pgaf/run/pg_autoctl$dir/$1/pg_autoctl.pid"
  [ -f "$f" ] && head -1 "$f" || true
}
postmaster_pid() {
  [ -f "$dir/$1/postmaster.pid" ] && head -1 "$dir/$1/postmaster.pid" || true
}
wait_for() {  # seconds what command...: retries the command until it succeeds
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for $what (logs in $dir/log)"
    sleep 0.5
  done
}
node_state_is() {  # node state: the monitor's reported state of node is state
  as_pg pg_autoctl show state --pgdata "$dir/monitor" --json 2>/dev/null |
    python3 -c 'import json,sys; n,s=sys.argv[1:]; sys.exit(0 if any(x["nodename"]==n and x["current_group_state"]==s and x["assigned_group_state"]==s for x in json.load(sys.stdin)) else 1)' "$1" "$2"
}
run_keeper() {  # pgdata-name
  as_pg setsid pg_autoctl run --pgdata "$dir/$1" >>"$dir/log/$1.log" 2>&1 </dev/null &
  wait_for 30 "the $1 keeper's pid file" test -s "$dir/pgaf/run/pg_autoctl$dir/$1/pg_autoctl.pid"
}
# A data directory for a node or the monitor: our socket directory, no client addresses or values in
# the log, and modest memory (pg_auto_failover would size shared_buffers for a machine of its own).
# postgresql.auto.conf is read last, so these win over pg_auto_failover's own include file, and
# pg_basebackup copies it to the standby.
initdb_node() {
  # Collation C: text compares byte by byte (memcmp), in the same order as C.UTF-8's code points;
  # character classes and case still follow C.UTF-8. Each grievance's references go into two b-trees.
  as_pg "$bindir/initdb" -D "$dir/$1" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --lc-collate=C >"$dir/log/initdb-$1.log" 2>&1 \
    || { cat "$dir/log/initdb-$1.log" >&2; exit 1; }
  as_pg tee -a "$dir/$1/postgresql.auto.conf" >/dev/null <<CONF
unix_socket_directories = '$dir/sock'
listen_addresses = '127.0.0.1'
log_line_prefix = '%m [%p] '
log_error_verbosity = terse
log_min_error_statement = panic
log_connections = off
max_connections = 100
shared_buffers = '128MB'
effective_cache_size = '1GB'
work_mem = '8MB'
maintenance_work_mem = '64MB'
wal_keep_size = '1GB'
CONF
}
conf_write() {  # file port conninfo
  cat >"$1" <<CONF
[server]
listen = 127.0.0.1
port = $2
workers = 2
log_level = info
[tls]
cert = $dir/tls/cert.pem
key = $dir/tls/key.pem
[database]
conninfo = $3
; a database round trip longer than this counts as a lost connection: the clients' retry
timeout = 5
[keys]
contact_key_file = $dir/keys/contact.key
receipt_key_file = $dir/keys/receipt.key
[taxonomy]
file = $here/config/taxonomy.json
[triage]
rules = $here/config/triage-rules.ini
workers = 1
sweep_interval = 2
CONF
}

up() {
  [ ! -e "$dir" ] || die "$dir exists: run 'ha.sh down $dir' first"
  for p in redress-intake redress-triage redressctl; do [ -x "$build/$p" ] || die "$build/$p missing: run make"; done
  command -v pg_autoctl >/dev/null || die "pg_autoctl missing: run scripts/install-deps.sh --ha"
  local mport=$base p1=$((base + 1)) p2=$((base + 2)) ia=$((base + 10)) ib=$((base + 11))
  mkdir -p "$dir"/{log,pids,tls,keys,sock}
  chmod 755 "$dir"; chmod 700 "$dir/keys"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir" "$dir/sock"; chown postgres: "$dir/log"; fi
  as_pg mkdir -p "$dir/pgaf/config" "$dir/pgaf/data" "$dir/pgaf/run"

  say "monitor on 127.0.0.1:$mport"
  initdb_node monitor
  as_pg pg_autoctl create monitor --pgdata "$dir/monitor" --pgctl "$bindir/pg_ctl" --pgport "$mport" \
    --hostname 127.0.0.1 --auth trust --no-ssl >"$dir/log/create-monitor.log" 2>&1 \
    || { tail -20 "$dir/log/create-monitor.log" >&2; exit 1; }
  as_pg pg_autoctl config set --pgdata "$dir/monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
  run_keeper monitor
  wait_for 30 "the monitor" as_pg psql -X -q -h "$dir/sock" -p "$mport" -U postgres -d pg_auto_failover -c 'SELECT 1'
  # Faster failure detection than the defaults (5 s checks, 20 s before a node counts as down, 30 s
  # for a lost primary to demote itself). The demote timeout stays above the keepers'
  # network_partition_timeout (set below), so a primary cut off from the monitor and its standby has
  # stopped taking writes before its standby is promoted: two primaries never accept writes at once.
  as_pg psql -X -q -h "$dir/sock" -p "$mport" -U postgres -d pg_auto_failover >/dev/null <<SQL
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 6000;
SELECT pg_reload_conf();
SQL
  local monitor_uri
  monitor_uri=$(as_pg pg_autoctl show uri --pgdata "$dir/monitor" --formation monitor)

  local n port
  for n in node1 node2; do
    port=$p1; [ $n = node2 ] && port=$p2
    say "$n on 127.0.0.1:$port"
    # node1 starts from its own data directory; node2 is cloned from the primary by pg_autoctl.
    [ $n = node1 ] && initdb_node node1
    as_pg pg_autoctl create postgres --pgdata "$dir/$n" --pgctl "$bindir/pg_ctl" --pgport "$port" \
      --listen 127.0.0.1 --hostname 127.0.0.1 --name "$n" --dbname redress --auth trust --no-ssl \
      --monitor "$monitor_uri" >"$dir/log/create-$n.log" 2>&1 || { tail -20 "$dir/log/create-$n.log" >&2; exit 1; }
    as_pg pg_autoctl config set --pgdata "$dir/$n" timeout.network_partition_timeout 4 >/dev/null
    run_keeper $n
    if [ $n = node1 ]; then
      wait_for 60 "node1 to be the only node" node_state_is node1 single
      "$here/scripts/pgcluster.sh" migrate "$dir" "$p1"
    else
      wait_for 120 "node2 to be a synchronous standby" node_state_is node2 secondary
      wait_for 30 "node1 to be primary" node_state_is node1 primary
    fi
  done

  say "keys, certificate and config in $dir"
  (umask 077; openssl rand -hex 32 >"$dir/keys/contact.key"; openssl rand -hex 32 >"$dir/keys/receipt.key")
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/tls/key.pem" \
    -out "$dir/tls/cert.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  chmod 600 "$dir/tls/key.pem"
  local rw="host=127.0.0.1,127.0.0.1 port=$p1,$p2 dbname=redress target_session_attrs=read-write"
  local ro="host=127.0.0.1,127.0.0.1 port=$p1,$p2 dbname=redress target_session_attrs=prefer-standby"
  conf_write "$dir/redress-a.conf" "$ia" "$rw"
  conf_write "$dir/redress-b.conf" "$ib" "$rw"
  # Status look-ups, queue and export from a standby when one is up (README "Scaling out").
  conf_write "$dir/redress-read.conf" "$((base + 12))" "$rw"
  sed -i "/^conninfo = /a read_conninfo = $ro" "$dir/redress-read.conf"

  say "intake on https://127.0.0.1:$ia/ and https://127.0.0.1:$ib/, two triage workers"
  spawn intake-a "$build/redress-intake" -c "$dir/redress-a.conf"
  spawn intake-b "$build/redress-intake" -c "$dir/redress-b.conf"
  spawn triage-1 "$build/redress-triage" -c "$dir/redress-a.conf"
  spawn triage-2 "$build/redress-triage" -c "$dir/redress-b.conf"
  for port in $ia $ib; do
    wait_for 30 "intake on $port" curl -sfk --max-time 2 "https://127.0.0.1:$port/healthz"
  done
  cat >"$dir/ha.env" <<ENV
HA_DIR=$dir
HA_MONITOR_PORT=$mport
HA_NODE1_PORT=$p1
HA_NODE2_PORT=$p2
HA_INTAKE_A_PORT=$ia
HA_INTAKE_B_PORT=$ib
HA_CONNINFO='$rw'
HA_READ_CONNINFO='$ro'
ENV
  say "up: $dir/ha.env; psql -h $dir/sock -p $p1 -U postgres redress; ha.sh down $dir to stop"
}

stop_pid() {  # pidfile: TERM, then KILL after 10 s
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [ -d "$dir" ] || { say "$dir: nothing to stop"; return 0; }
  local f
  for f in "$dir"/pids/*; do [ -f "$f" ] && stop_pid "$f"; done
  for n in node2 node1 monitor; do
    [ -d "$dir/$n" ] || continue
    if [ -n "$(keeper_pid $n)" ] && kill -0 "$(keeper_pid $n)" 2>/dev/null; then
      as_pg pg_autoctl stop --pgdata "$dir/$n" >/dev/null 2>&1 || true
    fi
    # A keeper that was killed may have left its postgres behind.
    as_pg "$bindir/pg_ctl" -D "$dir/$n" -m immediate -w stop >/dev/null 2>&1 || true
  done
  for n in node2 node1 monitor; do
    local k; k=$(keeper_pid $n)
    if [ -n "$k" ]; then
      for _ in $(seq 1 20); do kill -0 "$k" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$k" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
  say "down: $dir removed"
}

case "$cmd" in
up) up ;;
down) down ;;
state) as_pg pg_autoctl show state --pgdata "$dir/monitor" ;;
kill)
  k=$(keeper_pid "$node"); pm=$(postmaster_pid "$node")
  [ -n "$k" ] || die "$node has no running keeper"
  # Together, so the keeper cannot restart the postmaster: the node is gone as a machine would be.
  kill -KILL -- "-$k" ${pm:+"$pm"} 2>/dev/null || true
  say "killed $node (keeper $k, postmaster ${pm:-none})"
  ;;
start) run_keeper "$node"; say "started $node" ;;
stop)
  as_pg pg_autoctl stop --pgdata "$dir/$node" >/dev/null
  k=$(keeper_pid "$node")
  for _ in $(seq 1 40); do { [ -n "$k" ] && kill -0 "$k" 2>/dev/null; } || break; sleep 0.5; done
  say "stopped $node"
  ;;
esac
