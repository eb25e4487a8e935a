#!/bin/bash
# Mutation testing: does the suite fail when the product is wrong?
#
# Each entry of tests/mutants.list is a one-line change to the source.  For
# each one, a scratch copy of the tree (sources plus the prebuilt $BUILD,
# mtimes kept, so only the mutated object and what links it rebuild) gets
# the change, is built with the normal flags, and the suites named by the
# entry run in order until one fails.
#
# Only an honest failure counts.  Before the mutants, every suite the
# selected entries name runs once, in full, on an unmutated copy (the
# pristine run).  A suite that fails there is reported on a "pristine:" line
# and in the score line (make check, which runs every suite, is where a
# check that fails on its own counts); the checks it failed ("not ok - NAME"
# of an integration or pg suite, cmocka's "[  FAILED  ] NAME" of a unit
# binary) judge no mutant, and a suite that fails there without naming a
# check (it hung, crashed or exited non-zero) judges none at all.  Then:
#     caught      a check that passed on the pristine tree failed, or the
#                 suite hung past SUITE_TIMEOUT seconds or crashed where the
#                 pristine run did not
#     survived    every trusted check passed: the bug would ship
#     unjudged    not caught, and a suite of the entry was not trusted
#     equivalent  the list says why the change alters no behaviour; not run
# An entry whose original line matches no line or several lines of its
# file "does not apply", and one that does not compile "does not build":
# both fail, so the list cannot rot silently when the code moves.
# Then a score line and "N passed, N failed, 0 skipped" (caught and
# equivalent pass; anything else fails: a mutant a pristine failure left
# unjudged fails as unjudged); exit 1 when anything failed.
#
#   tests/mutants.sh [NAME...]      only the entries whose name contains NAME
#   BUILD=build     the prebuilt tree (make all, unit tests, test helpers)
#   JOBS=2          mutants run at once
#   SUITE_TIMEOUT=300  seconds per suite
#   KEEP=1          keep the scratch copies (in the printed folder)
# Never touches the working tree.
set -u
# a make of our own per scratch copy, not a child of the caller's jobserver
unset MAKEFLAGS MFLAGS MAKELEVEL
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
LIST=${LIST:-$TOP/tests/mutants.list}
JOBS=${JOBS:-2}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}
KEEP=${KEEP:-0}

for f in "$BUILD/pam_totp_profile.so" "$BUILD/totpctl" "$BUILD/libtotpprofile.a"; do
	if [ ! -e "$f" ]; then
		echo "mutants: $f is missing: run make all and the test binaries first (make mutants does)" >&2
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
done

WORK=$(mktemp -d /tmp/tp-mutants.XXXXXX)
# the suites run programs of the copies as other users (totpd as the store
# user, totpctl as the caller): the way to them must be open, as a clone's is
chmod 0755 "$WORK"
cleanup() {
	jobs -p | xargs -r kill 2>/dev/null
	# the integration suites run in sessions of their own
	for f in "$WORK"/*.suite; do
		[ -e "$f" ] && kill -TERM -- "-$(cat "$f")" 2>/dev/null
	done
	if [ "$KEEP" = 1 ]; then echo "scratch copies kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The integration suites need these beside `make all`: the Makefile's
# HELPER_SO are shared objects, every other helper is a program.
HELPER_SO=" $(sed -n 's/^HELPER_SO *= *//p' Makefile) "
HELPERS=()
for h in tests/helpers/*.c; do
	n=$(basename "$h" .c)
	case "$HELPER_SO" in
	*" $n "*) HELPERS+=("build/tests/$n.so") ;;
	*) HELPERS+=("build/tests/$n") ;;
	esac
done

# ---- the list ---------------------------------------------------------
# name file original replacement suites description, tab-separated (runs
# of tabs are one separator, so columns may be aligned)
names=() files=() origs=() repls=() suites=() descs=()
lineno=0 bad_format=0
declare -A seen_name=()
while IFS= read -r raw || [ -n "$raw" ]; do
	lineno=$((lineno + 1))
	case "$raw" in ''|'#'*) continue ;; esac
	IFS=$'\t' read -r name file orig repl suite desc <<<"$raw"
	if [ -z "${desc:-}" ]; then
		echo "mutants.list:$lineno: needs 6 tab-separated fields: $raw" >&2
		bad_format=$((bad_format + 1))
		continue
	fi
	if [ -n "${seen_name[$name]:-}" ]; then
		echo "mutants.list:$lineno: the name $name is taken (line ${seen_name[$name]})" >&2
		bad_format=$((bad_format + 1))
		continue
	fi
	seen_name[$name]=$lineno
	if [ "$#" -gt 0 ]; then
		want=0
		for pat in "$@"; do case "$name" in *"$pat"*) want=1 ;; esac; done
		[ "$want" = 1 ] || continue
	fi
	names+=("$name") files+=("$file") origs+=("$orig") repls+=("$repl")
	suites+=("$suite") descs+=("$desc")
done < "$LIST"

# apply FILE ORIG REPL OUT: the file with the one line whose text (less its
# indentation and trailing blanks) is ORIG replaced by REPL, indentation
# kept; prints the number of matching lines.
apply() {
	ORIG="$2" REPL="$3" awk -v out="$4" '
		{
			t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t\r]+$/, "", t)
			if (t == ENVIRON["ORIG"]) {
				n++
				match($0, /^[ \t]*/)
				print substr($0, 1, RLENGTH) ENVIRON["REPL"] > out
			} else {
				print > out
			}
		}
		END { print n + 0 }' "$1"
}

# ---- a pristine copy: sources and the prebuilt tree -------------------
PRISTINE="$WORK/pristine"
mkdir -p "$PRISTINE"
tar -C "$TOP" --exclude=./.git --exclude=./build --exclude=./build-asan \
	--exclude=./build-fuzz --exclude='./build-*' -cf - . | tar -C "$PRISTINE" -xf -
cp -a "$BUILD" "$PRISTINE/build"

# failed_checks SUITE LOG: the names of the checks LOG reports failed, one
# a line, each once
failed_checks() {
	case "$1" in
	unit:*) sed -n 's/^\[  FAILED  \] //p' "$2" | grep -v '^[0-9][0-9]* test(s)' ;;
	*) sed -n 's/^not ok - //p' "$2" ;;
	esac | awk '!seen[$0]++'        # in the order reported: why() names the first
}

# new_failures SUITE LOG KNOWN: the failed checks of LOG not listed in the
# file KNOWN (those that failed on the pristine tree)
new_failures() {
	failed_checks "$1" "$2" | grep -vxF -f "$3"
}

# run_suite DIR SUITE LOG KNOWN [full]: runs SUITE; an integration or pg
# suite is stopped at its first failed check not listed in KNOWN, unless
# "full".  Returns 0 when no check outside KNOWN failed, 1 when one did,
# 2 when the suite timed out, 3 when it exited non-zero with no failed
# check to show for it (KNOWN empty: nothing else explains the status)
run_suite() {
	local dir=$1 suite=$2 log=$3 known=$4 full=${5:-} pid rc
	case "$suite" in
	unit:*)
		(cd "$dir" && exec timeout "$SUITE_TIMEOUT" "build/tests/test_${suite#unit:}") > "$log" 2>&1
		rc=$?
		;;
	*)
		# an integration script (pg:NAME: tests/pg/NAME.sh)
		local script="tests/integration/$suite.sh"
		case "$suite" in pg:*) script="tests/pg/${suite#pg:}.sh" ;; esac
		: > "$log"              # read by the loop below from the start
		(cd "$dir" && BUILD=build exec setsid timeout "$SUITE_TIMEOUT" \
			bash "$script") > "$log" 2>&1 &
		pid=$!
		echo "$pid" > "$log.suite"
		while kill -0 "$pid" 2>/dev/null; do
			if [ -z "$full" ] && [ -n "$(new_failures "$suite" "$log" "$known")" ]; then
				kill -TERM -- "-$pid" 2>/dev/null
				break
			fi
			sleep 0.5
		done
		wait "$pid"
		rc=$?
		rm -f "$log.suite"
		;;
	esac
	[ -n "$(new_failures "$suite" "$log" "$known")" ] && return 1
	[ "$rc" -eq 124 ] && return 2
	[ "$rc" -eq 0 ] && return 0
	[ -s "$known" ] && return 0
	return 3
}

# why SUITE LOG KNOWN: the first failure a suite reported that the pristine
# run did not
why() {
	local first
	first=$(failed_checks "$1" "$2" | grep -vxF -f "$3" | head -n 1)
	case "$first:$1" in
	:*) tail -n 1 "$2" ;;
	*:unit:*) echo "[  FAILED  ] $first" ;;
	*) echo "not ok - $first" ;;
	esac
}

# the file names of SUITE's pristine results: $WORK/base.TAG.*
suite_tag() { local t=${1//:/_}; echo "$WORK/base.$t"; }

# pooled FUNC ARG...: FUNC ARG for each ARG, $JOBS at a time
pooled() {
	local fn=$1 running=0 x
	shift
	for x in "$@"; do
		if [ "$running" -ge "$JOBS" ]; then
			wait -n
			running=$((running - 1))
		fi
		"$fn" "$x" &
		running=$((running + 1))
	done
	wait
}

# base_one SUITE: the pristine run of SUITE, in a copy of its own; leaves
# the failed checks in .known and "trusted", "known-failures" or
# "untrusted" in .state, and prints a line when the suite failed
base_one() {
	local s=$1 b dir start=$SECONDS rc names
	b=$(suite_tag "$s")
	dir="$b.dir"
	cp -a "$PRISTINE" "$dir"
	: > "$b.empty"
	run_suite "$dir" "$s" "$b.log" "$b.empty" full
	rc=$?
	failed_checks "$s" "$b.log" > "$b.known"
	names=$(paste -sd';' "$b.known" | sed 's/;/; /g')
	case $rc in
	0) echo trusted > "$b.state" ;;
	1) echo known-failures > "$b.state"
	   printf 'pristine: %-12s %4ds  fails without a mutant; these checks judge no mutant: %s\n' \
		"$s" $((SECONDS - start)) "$names" ;;
	2) echo untrusted > "$b.state"
	   printf 'pristine: %-12s %4ds  hung past %ss without a mutant: judges no mutant\n' \
		"$s" $((SECONDS - start)) "$SUITE_TIMEOUT" ;;
	*) echo untrusted > "$b.state"
	   printf 'pristine: %-12s %4ds  exited non-zero without a mutant (%s): judges no mutant\n' \
		"$s" $((SECONDS - start)) "$(tail -n 1 "$b.log")" ;;
	esac
	[ "$KEEP" = 1 ] || rm -rf "$dir"
}

# one I: runs entry I, prints its line, leaves "VERDICT" in $WORK/I.verdict
one() {
	local i=$1 name=${names[$1]} file=${files[$1]} dir="$WORK/m$1"
	local start=$SECONDS n verdict detail="" s log targets=()
	local -a list
	IFS=',' read -r -a list <<<"${suites[$i]}"
	if [ ! -f "$TOP/$file" ]; then
		verdict="does-not-apply" detail="$file: no such file"
	else
		n=$(apply "$TOP/$file" "${origs[$i]}" "${repls[$i]}" "$WORK/m$1.src")
		if [ "$n" -ne 1 ]; then
			verdict="does-not-apply" detail="$file: the original line matches $n lines, not 1"
		elif [ "${suites[$i]}" = equivalent ]; then
			verdict="equivalent" detail="${descs[$i]}"
		fi
	fi
	if [ -z "${verdict:-}" ]; then
		cp -a "$PRISTINE" "$dir"
		cp "$WORK/m$1.src" "$dir/$file"         # a new mtime: it rebuilds
		targets=(all)
		for s in "${list[@]}"; do
			case "$s" in
			unit:*) targets+=("build/tests/test_${s#unit:}") ;;
			*) targets+=("${HELPERS[@]}") ;;
			esac
		done
		if ! make -s -C "$dir" BUILD=build "${targets[@]}" > "$WORK/m$1.make" 2>&1; then
			verdict="does-not-build" detail=$(grep -m1 -e 'error' "$WORK/m$1.make")
		fi
	fi
	if [ -z "${verdict:-}" ]; then
		verdict="survived" detail="${suites[$i]} all passed: $file: ${descs[$i]}"
		local untrusted=()
		for s in "${list[@]}"; do
			b=$(suite_tag "$s")
			if [ "$(cat "$b.state")" = untrusted ]; then
				untrusted+=("$s")
				continue
			fi
			log="$WORK/m$1.$s.log"
			log=${log//:/_}
			run_suite "$dir" "$s" "$log" "$b.known"
			case $? in
			1) verdict="caught" detail="by $s: $(why "$s" "$log" "$b.known")"; break ;;
			2) verdict="caught" detail="by $s: hung past ${SUITE_TIMEOUT}s (timeout)"; break ;;
			3) verdict="caught" detail="by $s: exited non-zero: $(tail -n 1 "$log")"; break ;;
			esac
		done
		if [ "$verdict" = survived ] && [ "${#untrusted[@]}" -gt 0 ]; then
			verdict="unjudged"
			detail="not caught, and ${untrusted[*]} failed on the pristine tree: $file: ${descs[$i]}"
		fi
	fi
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	echo "$verdict" > "$WORK/$1.verdict"
	printf '%-15s %-28s %4ds  %s\n' "$verdict" "$name" $((SECONDS - start)) "$detail"
}

# the slowest first (suites that build and install a copy of their own, then
# the other integration suites, then unit tests only), so that no long one
# is left running alone at the end
order=()
for pass in slow integration unit; do
	for i in "${!names[@]}"; do
		kind=unit
		IFS=',' read -r -a list <<<"${suites[$i]}"
		for s in "${list[@]}"; do
			case "$s" in
			totpctl|hostile) kind=slow ;;
			unit:*|equivalent) ;;
			*) [ "$kind" = unit ] && kind=integration ;;
			esac
		done
		[ "$kind" = "$pass" ] && order+=("$i")
	done
done

echo "mutants: ${#names[@]} from ${LIST#"$TOP"/}, $JOBS at a time, scratch in $WORK"

# the pristine run: each distinct suite of the selected entries once, the
# slowest first as below
base_suites=()
for pass in slow integration unit; do
	for i in "${order[@]}"; do
		[ "${suites[$i]}" = equivalent ] && continue
		IFS=',' read -r -a list <<<"${suites[$i]}"
		for s in "${list[@]}"; do
			kind=integration
			case "$s" in totpctl|hostile) kind=slow ;; unit:*) kind=unit ;; esac
			[ "$kind" = "$pass" ] || continue
			case " ${base_suites[*]} " in *" $s "*) ;; *) base_suites+=("$s") ;; esac
		done
	done
done
pooled base_one "${base_suites[@]}"
base_failed=0
for s in "${base_suites[@]}"; do
	[ "$(cat "$(suite_tag "$s").state" 2>/dev/null)" = trusted ] || base_failed=$((base_failed + 1))
done
echo "pristine: ${#base_suites[@]} suites, $((${#base_suites[@]} - base_failed)) passed, $base_failed failed, ${SECONDS}s"

pooled one "${order[@]}"

caught=0 survived=0 unjudged=0 equivalent=0 broken=0
for i in "${!names[@]}"; do
	v=$(cat "$WORK/$i.verdict" 2>/dev/null || echo lost)
	case "$v" in
	caught) caught=$((caught + 1)) ;;
	survived) survived=$((survived + 1)) ;;
	unjudged) unjudged=$((unjudged + 1)) ;;
	equivalent) equivalent=$((equivalent + 1)) ;;
	*) broken=$((broken + 1)) ;;
	esac
done
broken=$((broken + bad_format))
run=$((caught + survived))
echo "mutation score: $caught of $run caught${run:+ ($(( run ? 100 * caught / run : 0 ))%)}," \
	"$survived survived, $unjudged unjudged, $equivalent equivalent," \
	"$broken not applied or not built, $base_failed suites failed on the pristine tree," \
	"$((SECONDS))s"
failed=$((survived + unjudged + broken))
echo "$((caught + equivalent)) passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
