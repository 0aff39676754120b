#!/usr/bin/env bash
# `make run`: a private PostgreSQL cluster under var/pg, config, keys and a self-signed certificate
# when absent, then redress-intake and redress-triage in the foreground. Ctrl-C stops everything.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p var/tls var/keys
chmod 700 var/keys

[ -f var/redress.conf ] || { cp config/redress.conf.example var/redress.conf; echo "run: wrote var/redress.conf"; }
conf_get() {  # section key -> value from var/redress.conf (everything after the first '=')
  awk -v s="[$1]" -v k="$2" '
    /^\[/ {sec=$0; next}
    sec==s {i=index($0, "="); if (i == 0) next; key=substr($0, 1, i-1); gsub(/[ \t]/, "", key)
            if (key == k) {v=substr($0, i+1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v}}' var/redress.conf
}
port=$(conf_get server port); port=${port:-8443}
listen=$(conf_get server listen); listen=${listen:-127.0.0.1}
cert=$(conf_get tls cert); key=$(conf_get tls key)
for k in "$(conf_get keys contact_key_file)" "$(conf_get keys receipt_key_file)"; do
  if [ ! -f "$k" ]; then
    (umask 077; openssl rand -hex 32 > "$k"); echo "run: created key $k"
  fi
done
if [ ! -f "$cert" ] || [ ! -f "$key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" -out "$cert" \
    -days 365 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  chmod 600 "$key"
  echo "run: created self-signed certificate $cert"
fi

# The private cluster: only when the config points at it (host=var/pg/sock).
conninfo=$(conf_get database conninfo)
pgport=5433
if [[ "$conninfo" == *"host=var/pg/sock"* ]]; then
  pgport=$(echo "$conninfo" | sed -n 's/.*port=\([0-9]*\).*/\1/p'); pgport=${pgport:-5433}
  echo "run: starting PostgreSQL in var/pg (port $pgport)"
  scripts/pgcluster.sh start var/pg "$pgport"
  pgsock=$(realpath var/pg/sock)
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "run: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ "$conninfo" == *"host=var/pg/sock"* ]]; then scripts/pgcluster.sh stop var/pg; fi
  echo "run: stopped"
}
trap stop_all INT TERM EXIT

"$build/redress-intake" -c var/redress.conf & pids+=($!)
if [ -x "$build/redress-triage" ]; then "$build/redress-triage" -c var/redress.conf & pids+=($!); fi
sleep 1
cat <<MSG

  redress is running.
    Grievance form:   https://$listen:$port/
    Follow a case:    https://$listen:$port/status
    API:              https://$listen:$port/v1/grievances   (see README.md)
    Health:           https://$listen:$port/healthz
    Database:         psql -h ${pgsock:-(your conninfo)} -p $pgport -U postgres redress
    Remedy teams:     $build/redressctl --help
  The certificate is self-signed (var/tls/cert.pem): your browser will ask you to accept it.
  Press Ctrl-C to stop everything.

MSG
wait -n "${pids[@]}" || true
