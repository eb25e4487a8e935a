#!/bin/bash
# Run every unit test binary (cmocka) and every integration script, then
# print one summary line: "N passed, N failed, N skipped".
#
# Integration scripts report each case as a line "ok - NAME",
# "not ok - NAME" or "skip - NAME: why" (see tests/integration/lib.sh).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
ONLY=${ONLY:-}              # e.g. ONLY=pam runs tests whose file name contains "pam"
# folders and scripts, space-separated; tests/pg: the PostgreSQL suites only
SUITES=${SUITES:-tests/integration}
# the store tests/integration's scripts run on (their lib.sh): files or
# postgresql; every other suite (tests/pg) sets up its own
STORE_BACKEND=${STORE_BACKEND:-files}
passed=0 failed=0 skipped=0
failures=()

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	[ "$SUITES" = tests/integration ] || continue
	case "$t" in *"$ONLY"*) ;; *) continue ;; esac
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ -n "${f:-}" ] && [ "$f" -gt 0 ]; then
		failures+=("$(basename "$t")")
	elif [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))            # crashed before its summary
		failures+=("$(basename "$t") (exit $rc)")
	fi
done

scripts=()
for d in $SUITES; do
	if [ -d "$d" ]; then scripts+=("$d"/*.sh); else scripts+=("$d"); fi
done
for s in "${scripts[@]}"; do
	case "$s" in */lib.sh) continue ;; esac
	case "$s" in *"$ONLY"*) ;; *) continue ;; esac
	backend=files
	case "$s" in tests/integration/*) backend=$STORE_BACKEND ;; esac
	name=$s
	[ "$backend" = files ] || name="$s (store: $backend)"
	echo "=== $name"
	start=$SECONDS
	out=$(STORE_BACKEND=$backend bash "$s" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	echo "=== $name: $((SECONDS - start)) s"
	p=$(grep -c '^ok - ' <<<"$out")
	f=$(grep -c '^not ok - ' <<<"$out")
	k=$(grep -c '^skip - ' <<<"$out")
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + k))
	tag=$(basename "$s")
	[ "$backend" = files ] || tag="$tag[$backend]"
	[ "$f" -gt 0 ] && failures+=("$tag")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$tag (exit $rc)")
	fi
done

if [ "${#failures[@]}" -gt 0 ]; then
	echo "failed in: ${failures[*]}"
fi
if [ $((passed + failed)) -eq 0 ]; then
	echo "no test was run" >&2
	failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
