#!/usr/bin/env bash
# Installs the Debian packages redress needs, only those missing.
# Used by `make run`, `make test` and .ci/run so a fresh Debian 12 machine needs nothing by hand.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev
  libevent-dev libssl-dev libpq-dev libjansson-dev libyajl-dev libinih-dev libcsv-dev libcmocka-dev
  postgresql-15 postgresql-client-15
  python3 python3-psycopg2 openssl
)
BENCH_PACKAGES=(nghttp2-client nginx-light)
# make test-ha: pg_auto_failover (monitor, keeper, pg_autoctl) manages the primary and its standby.
HA_PACKAGES=(postgresql-15-auto-failover pg-auto-failover-cli)

want=("${PACKAGES[@]}")
[ "${1:-}" = "--bench" ] && want+=("${BENCH_PACKAGES[@]}")
[ "${1:-}" = "--ha" ] && want+=("${HA_PACKAGES[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# libevent must carry Debian's security fix for request smuggling (2.1.12-stable-8+deb12u1).
ev=$(dpkg-query -W -f='${Version}' libevent-dev 2>/dev/null || true)
if [ -n "$ev" ] && dpkg --compare-versions "$ev" lt "2.1.12-stable-8+deb12u1"; then
  missing+=(libevent-dev libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
