#!/usr/bin/env bash
# Runs every unit test binary, then the end-to-end suite, and prints one closing line
# "N passed, N failed" over both. Exit status non-zero if anything failed.
set -uo pipefail
build=$1; shift
unit_out=$(mktemp)
scripts/run-unit.sh "$@" 2>&1 | tee "$unit_out"
passed=$(sed -n 's/^unit tests: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$unit_out" | tail -1)
failed=$(sed -n 's/^unit tests: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$unit_out" | tail -1)
rm -f "$unit_out"
passed=${passed:-0}; failed=${failed:-1}
e2e_out=$(mktemp)
/usr/bin/python3 tests/e2e/run.py --build "$build" 2>&1 | tee "$e2e_out"
e2e_rc=${PIPESTATUS[0]}
ep=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$e2e_out" | tail -1)
ef=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$e2e_out" | tail -1)
rm -f "$e2e_out"
passed=$((passed + ${ep:-0})); failed=$((failed + ${ef:-0}))
if [ "$e2e_rc" -ne 0 ] && [ "${ef:-0}" -eq 0 ]; then failed=$((failed + 1)); echo "e2e: runner exited $e2e_rc"; fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
