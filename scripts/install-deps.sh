#!/usr/bin/env bash
# Installs the Debian packages redress needs, only those missing.
# Used by `make run`, `make test` and .ci/run so a fresh Debian 12 machine needs nothing by hand.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev
  libevent-dev libssl-dev libpq-dev libjansson-dev libyajl-dev libinih-dev libcsv-dev libcmocka-dev
  libmimalloc-dev
  postgresql-15 postgresql-client-15
  python3 python3-psycopg2 openssl
  gettext libgettextpo-dev python3-polib
)
# Building: sd_notify (libsystemd), the manuals (scdoc).
PACKAGES+=(libsystemd-dev scdoc)
BENCH_PACKAGES=(nghttp2-client nginx-light)
# make test-ha: pg_auto_failover (monitor, keeper, pg_autoctl) manages the primary and its standby;
# ha.sh checks the servers with curl.
HA_PACKAGES=(postgresql-15-auto-failover pg-auto-failover-cli curl)
# make test: metrics parsed by prometheus_client, live responses checked with jsonschema against
# docs/openapi.json, units checked by systemd-analyze, manuals rendered by man, the OpenAPI lint
# (@redocly/cli from npm, installed below into build/npm).
TEST_PACKAGES=(python3-prometheus-client python3-jsonschema systemd man-db git)
# make test's accessibility audit (tests/a11y, npm packages installed below): Debian's Chromium.
TEST_PACKAGES+=(chromium)
# .ci/run's checks beyond make test: make format-check (clang-format), make check-static (cppcheck).
CI_PACKAGES=(clang-format cppcheck)
REDOCLY_VERSION=2.77.0 # needs Node.js 20.19 or later (this machine kind's own Node.js is 20)

want=("${PACKAGES[@]}")
[ "${1:-}" = "--bench" ] && want+=("${BENCH_PACKAGES[@]}")
[ "${1:-}" = "--ha" ] && want+=("${HA_PACKAGES[@]}")
[ "${1:-}" = "--ci" ] && want+=("${CI_PACKAGES[@]}")
if [ "${1:-}" = "--test" ]; then
  want+=("${TEST_PACKAGES[@]}")
  # Any Node.js with its npm will do (the machine's own, or Debian's).
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# libevent must carry Debian's security fix for request smuggling (2.1.12-stable-8+deb12u1).
ev=$(dpkg-query -W -f='${Version}' libevent-dev 2>/dev/null || true)
if [ -n "$ev" ] && dpkg --compare-versions "$ev" lt "2.1.12-stable-8+deb12u1"; then
  missing+=(libevent-dev libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The OpenAPI linter, project-local (never global): build/npm/node_modules/.bin/redocly.
if [ "${1:-}" = "--test" ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  node_v=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
  if dpkg --compare-versions "$node_v" lt 20.19; then
    echo "install-deps: @redocly/cli $REDOCLY_VERSION needs Node.js 20.19 or later, not $node_v" >&2
    exit 1
  fi
  have=$(cat "$root/build/npm/node_modules/@redocly/cli/package.json" 2>/dev/null \
         | sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' | head -1 || true)
  if [ "$have" != "$REDOCLY_VERSION" ]; then
    echo "install-deps: npm install @redocly/cli@$REDOCLY_VERSION into build/npm"
    mkdir -p "$root/build/npm"
    npm install --prefix "$root/build/npm" --no-audit --no-fund --loglevel=error \
      "@redocly/cli@$REDOCLY_VERSION" >/dev/null
  fi
  # axe-core and playwright-core as tests/a11y/package-lock.json pins them, into the project's
  # own tests/a11y/node_modules (nothing global; no browser download: the audit drives Debian's).
  a11y="$root/tests/a11y"
  if [ ! -f "$a11y/node_modules/.package-lock.json" ] ||
     [ "$a11y/package-lock.json" -nt "$a11y/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in tests/a11y"
    (cd "$a11y" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
