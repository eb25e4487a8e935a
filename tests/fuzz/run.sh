#!/bin/bash
# Run every libFuzzer target built in $BUILD/fuzz for FUZZ_SECONDS each
# (0: the seeds once), starting from tests/fuzz/corpus/<target>/, with
# tests/fuzz/<target>.dict and .options when present.  New inputs go to a
# temp working corpus, never into the repository; crash-*, leak-*,
# timeout-* inputs and each target's log go to $BUILD/fuzz/.  Prints one
# line per target with libFuzzer's run count; fails if any target found
# a problem.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
out="$BUILD/fuzz"
work=$(mktemp -d /tmp/tp-fuzz.XXXXXX)
trap "trap '' INT TERM; "'rm -rf "$work"' EXIT
# a crash report must name our code: symbolize, and stop at the first error
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# a crash report must show function names even where clang's tools are
# not on PATH (Debian keeps llvm-symbolizer under /usr/lib/llvm-N/bin)
if ! command -v llvm-symbolizer > /dev/null; then
	sym=$(clang -print-prog-name=llvm-symbolizer 2>/dev/null)
	[ -x "$sym" ] && export ASAN_SYMBOLIZER_PATH="$sym"
fi
# third-party leaks only, each explained in the file
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}

summary=() failed=0
for bin in "$out"/fuzz_*; do
	[ -x "$bin" ] || continue
	case "$(basename "$bin")" in *-* | *.*) continue ;; esac   # logs, crash-* inputs
	name=$(basename "$bin")
	target=${name#fuzz_}
	seeds="tests/fuzz/corpus/$target"
	dict="tests/fuzz/$target.dict"
	log="$out/$name.log"
	mkdir -p "$work/$target"
	args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
	      -artifact_prefix="$out/$name-")
	# 0 seconds: only run the seeds once (libFuzzer's 0 would mean forever)
	if [ "$FUZZ_SECONDS" -gt 0 ]; then
		args+=(-max_total_time="$FUZZ_SECONDS")
	else
		args+=(-runs=0)
	fi
	[ -f "$dict" ] && args+=(-dict="$dict")
	[ -f "tests/fuzz/$target.options" ] && read -r -a opt < "tests/fuzz/$target.options" &&
		args+=("${opt[@]}")
	echo "=== $name: ${FUZZ_SECONDS}s"
	# the first corpus folder is the one libFuzzer writes to
	"$bin" "${args[@]}" "$work/$target" "$seeds" > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if [ "$rc" -ne 0 ] || [ -z "$runs" ]; then
		failed=$((failed + 1))
		tail -n 40 "$log"
		art=$(ls "$out/$name"-* 2>/dev/null | grep -v '\.log$' | tr '\n' ' ')
		summary+=("$name: FAILED (exit $rc), log $log${art:+, input $art}")
	else
		summary+=("$name: ${runs}, ${cov:-cov: ?}, corpus $(ls "$work/$target" | wc -l) new inputs, ok")
	fi
done

echo "=== fuzz summary (${FUZZ_SECONDS}s per target)"
[ "${#summary[@]}" -gt 0 ] && printf '%s\n' "${summary[@]}"
if [ "${#summary[@]}" -eq 0 ]; then
	echo "no fuzz target was built in $out" >&2
	failed=1
fi
# the same last line as tests/run.sh, one "test" per target
echo "$(( ${#summary[@]} - (${#summary[@]} > 0 ? failed : 0) )) passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
