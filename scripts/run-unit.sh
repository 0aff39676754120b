#!/usr/bin/env bash
# Runs the unit test binaries given as arguments (make unit) and prints "unit tests: N passed,
# N failed". Exit status non-zero if anything failed.
set -uo pipefail
passed=0; failed=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  echo "$out"
  p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ] && [ -z "$f" ]; then failed=$((failed + 1)); echo "unit: $t exited $rc"; fi
done
echo "unit tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
