#!/bin/bash
# The benchmark harness itself (bench/), at a scale of 50 users: the
# figures `make bench` prints are only worth something if its logins do
# what they claim.  Accepted logins must all succeed, rejected ones all
# fail, an emergency code must work once and never again, the floor
# module must write, and bench/report.py must read the lines into its
# table and targets.  Timing is not checked here (no timed assertions:
# the figures are bench/'s business).
source "$(dirname "$0")/lib.sh"

PAM_BENCH=$BUILD/bench/pam_bench
GEN=$BUILD/bench/gen_profiles
PRELOAD=$BUILD/bench/bench_preload.so
N=50
B=$T/bench
OWNER=$CLUSTER_UUID
mkdir -p "$B/pam.d"
RESULTS=$B/results.txt
: > "$RESULTS"

"$GEN" "$N" --ours "$B/store" "$OWNER" > "$B/gen.out" 2>&1
source "$TOP/bench/lib.sh"
bench_ours_service "$B" "$OWNER" "$MODULE"
bench_floor_service "$B" "$BUILD/bench/pam_floor.so"

DAY=$(( $(date +%s) / 86400 * 86400 + 86400 ))
# run NAME KIND [SLOT]: one in-process harness run over all N users, a
# day after the last; the RESULT line is kept in $RESULTS and $B/last.
# (--budget 30 would stop a run short, and the counts checked below with
# it; 50 in-process logins take well under 1 s, a loaded machine too)
run() {
	DAY=$((DAY + 86400))
	env LD_PRELOAD="$ASAN_LIB $PRELOAD" BENCH_CONFDIR="$B/pam.d" "$PAM_BENCH" \
		--users "$N" --kind "$2" --iters "$N" --budget 30 --time "$DAY" --seed 7 \
		--slot "${3:-0}" --module "$(sed -n 's/^auth required \([^ ]*\).*/\1/p' "$B/pam.d/$1")" \
		--label "module=$1 scale=$N seed=7" "$1" > "$B/last" 2> "$B/err"
	local rc=$?
	sed "s/ mode=[a-z]* / mode=inproc /" "$B/last" >> "$RESULTS"
	return $rc
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$B/last"; }

check "generator writes a profile and a laid-out lock file per user" \
	test "$(find "$B/store/$OWNER" -name 'u*.ini' | wc -l)" = "$N" -a \
	"$(find "$B/store/$OWNER" -name '.u*.lock' -size 576c | wc -l)" = "$N"
run ours accept
check "accepted logins: all $N succeed" \
	test "$(field logins)/$(field ok)/$(field errors)" = "$N/$N/0"
run ours reject
check "rejected logins: all $N refused, none by a PAM error" \
	test "$(field logins)/$(field ok)/$(field errors)" = "$N/0/0"
run ours emergency 0
check "emergency codes: the first use of each succeeds" \
	test "$(field logins)/$(field ok)" = "$N/$N"
# (the harness exits non-zero when logins meant to succeed fail)
run ours emergency 0 || true
check "emergency codes: a code used once is refused the next day" \
	test "$(field logins)/$(field ok)/$(field errors)" = "$N/0/0"
echo "auth required /usr/lib/$MULTIARCH/security/pam_permit.so" > "$B/pam.d/permit"
run permit accept
check "pam_permit stack: every login succeeds" test "$(field ok)" = "$N"
before=$(cat "$B/floor/0" "$B/floor/$((N - 1))" | tr -d '\0' | wc -c)
run floor accept
check "the floor module writes its records and succeeds" \
	test "$(field ok)" = "$N" -a "$before" = 0 -a \
	"$(cat "$B/floor/0" "$B/floor/$((N - 1))" | tr -d '\0' | wc -c)" -gt 0
"$BUILD/bench/floor" "$B/store/$OWNER" 800 20 | sed "s/^FLOOR /FLOOR scale=$N /" >> "$RESULTS"
check "floor: one line with both floors" \
	grep -Eq "^FLOOR scale=$N .*inplace_p50_us=[0-9.]+ .*perfile_p50_us=[0-9.]+ .*floor_p50_us=[0-9.]+" "$RESULTS"
check "floor: leaves no file of its own in the store" \
	test -z "$(find "$B/store/$OWNER" -name '.floor*')"
python3 "$TOP/bench/report.py" "$RESULTS" > "$B/report" 2>&1
check "report: a row for each module and kind" \
	test "$(grep -Ec '^(ours +50 +(accept|reject|emergency)|floor +50 +accept|permit +50 +accept) +inproc ' "$B/report")" = 5
check "report: the own-cost and floor targets are judged" \
	grep -q "rejected login: the module's own cost <= 50 us at 50: [0-9]* us - pam_permit stack" "$B/report"
check "report: the floor module beside the floor target" \
	grep -q "accepted login <= 1.3x floor at 50: .*the floor as a PAM module" "$B/report"
