#!/usr/bin/env bash
# make check-tsan: the end-to-end modules that drive the threaded servers, against binaries built
# with -fsanitize=thread in build-tsan/. Every process writes its reports to build-tsan/tsan-reports/
# (log_path), so a report fails the run even when it came from a server the tests had already
# stopped, or at its shutdown. Usage: scripts/run-tsan.sh BUILD MODULE...
set -uo pipefail
build=$1; shift
reports="$build/tsan-reports"
rm -rf "$reports" && mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp log_path=$PWD/$reports/tsan"
# TSan's memory layout (gcc 12) fails on kernels that randomise mmap with more than 28 bits
# ("unexpected memory mapping"): there, run without address-space randomisation.
run=()
if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ] && setarch "$(uname -m)" -R true 2>/dev/null; then
  run=(setarch "$(uname -m)" -R)
fi
"${run[@]}" /usr/bin/python3 tests/e2e/run.py --build "$build" "$@"
rc=$?
if compgen -G "$reports/tsan.*" >/dev/null; then
  cat "$reports"/tsan.*
  echo "check-tsan: ThreadSanitizer reports in $(ls "$reports" | wc -l) process(es), above" >&2
  exit 1
fi
[ "$rc" -eq 0 ] && echo "check-tsan: no ThreadSanitizer report"
exit "$rc"
