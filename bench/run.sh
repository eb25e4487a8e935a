#!/bin/bash
# Side-by-side benchmark: pam_totp_profile vs pam_google_authenticator vs
# pam_oath, at each scale given (number of enrolled users), REPS times.
#
#   bench/run.sh [SCALE...]          default: 1000 100000
#
# Environment: BUILD (build), BENCH_DIR (/var/tmp/tp-bench: needs a few GB
# at 1M), REPS (5), KEEP=1 to keep the generated stores, PG=0 to leave out
# the PostgreSQL store (bench/pg_bench.sh), PG_REPS (3) its runs.  Raw RESULT and
# FLOOR lines go to $BENCH_DIR/results.txt; the table is printed by
# bench/report.py from them.  See bench/README.md for the method.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
source "$TOP/bench/lib.sh"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
BENCH_DIR=${BENCH_DIR:-/var/tmp/tp-bench}
REPS=${REPS:-5}
SCALES=${*:-1000 100000}
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PAM_WRAPPER_LIB=/usr/lib/$MULTIARCH/libpam_wrapper.so
PRELOAD=$BUILD/bench/bench_preload.so
PAM_BENCH=$BUILD/bench/pam_bench
OURS=$BUILD/pam_totp_profile.so
OWNER=11111111-2222-4333-8444-555555555555

module_path() {
	local p
	p=$(dpkg -L "$1" 2>/dev/null | grep "/security/$2\$" | head -n 1)
	[ -n "$p" ] || { echo "run.sh: $2 not found (package $1); run scripts/install-deps.sh --test --bench as root" >&2; exit 1; }
	echo "$p"
}
GA=$(module_path libpam-google-authenticator pam_google_authenticator.so)
OATH=$(module_path libpam-oath pam_oath.so)
# the PAM framework's own cost: a stack of pam_permit alone, timed in the
# same run (its "accept" logins never prompt); a rejected login's cost to
# the module is ours minus this
PERMIT=$(module_path libpam-modules pam_permit.so)
# the floor as a module: the least any module keeping a durable record pays
FLOORMOD=$BUILD/bench/pam_floor.so
LIBCRYPTO=$(ldd "$OURS" | awk '/libcrypto/ {print $3}')
# libcrypto loaded and initialised before main, as in sshd (see the file)
CRYPTO_WARM=$BUILD/bench/crypto_warm.so
command -v pamtester >/dev/null || { echo "run.sh: pamtester missing" >&2; exit 1; }

mkdir -p "$BENCH_DIR"
chmod 0755 "$BENCH_DIR"
RESULTS=$BENCH_DIR/results.txt
: > "$RESULTS"
: > "$BENCH_DIR/errors.txt"
{
	echo "MACHINE nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\"" \
	     "fs=\"$(df -T "$BENCH_DIR" | awk 'NR==2 {print $2" on "$1}')\"" \
	     "kernel=$(uname -r) date=$(date -u +%Y-%m-%dT%H:%MZ)"
} >> "$RESULTS"

# The fake clock: every harness run starts a day after the previous one,
# so no run sees a step, rate limit or lockout left by an earlier run.
CLOCK=$(( $(date +%s) / 86400 * 86400 + 86400 ))
next_clock() { CLOCK=$((CLOCK + 86400)); }

WRAPPERS="$PAM_WRAPPER_LIB $PRELOAD"
export PAM_WRAPPER=1
# pam_wrapper's own folder, away from other pam_wrapper users' /tmp/pam.X
export PAM_WRAPPER_RUNTIME_DIR=$BENCH_DIR/pam_wrapper
mkdir -p "$PAM_WRAPPER_RUNTIME_DIR"

# bench_one MODULE_NAME MODULE_PATH N KIND MODE ITERS BUDGET SEED [SLOT]
bench_one() {
	local name=$1 path=$2 n=$3 kind=$4 mode=$5 iters=$6 budget=$7 seed=$8 slot=${9:-0}
	# in-process: libpam reads the services from $W/pam.d itself
	# (pam_start_confdir); pam_wrapper only for pamtester
	local extra=(--module "$path") env=(env LD_PRELOAD="$PRELOAD" BENCH_CONFDIR="$W/pam.d") tag=$mode
	# whole-process: the harness itself runs without the wrappers, so only
	# pamtester creates pam_wrapper state
	[ "$mode" = process ] && extra=(--exec pamtester --out "$W/pamtester.out") &&
		env=(env BENCH_EXEC_PRELOAD="$WRAPPERS")
	# as under sshd, which links libcrypto itself: the module's use of it
	# then costs no loading
	[ "$mode" = process+libcrypto ] && extra=(--exec pamtester --out "$W/pamtester.out") &&
		env=(env BENCH_EXEC_PRELOAD="$WRAPPERS $LIBCRYPTO")
	# and as under sshd, which has also used it (config, host keys) before
	# PAM runs: libcrypto's one-time set-up is done
	[ "$mode" = process+sshd ] && extra=(--exec pamtester --out "$W/pamtester.out") &&
		env=(env BENCH_EXEC_PRELOAD="$WRAPPERS $CRYPTO_WARM")
	[ "$iters" -gt "$n" ] && iters=$n
	# In-process runs time a second visit: an untimed pass of rejected
	# logins over the same users (same seed) comes first, so each module's
	# files are in memory, whichever module's store the kernel happened to
	# keep cached after the generator wrote them all (at 1M users it does
	# not keep them all: a login then pays for reading them from the disk).
	# The first pass is kept as mode=inproc-first for the reject runs.
	if [ "$mode" = inproc ] && [ "$name" != permit ] && [ "$name" != floor ]; then
		next_clock
		nice -n 10 "${env[@]}" "$PAM_BENCH" --users "$n" --kind reject --iters "$iters" \
			--budget "$((budget * 4))" --time "$CLOCK" --seed "$seed" "${extra[@]}" \
			--label "module=$name scale=$n seed=$seed" "$name" 2>>"$BENCH_DIR/errors.txt" |
			if [ "$kind" = reject ]; then
				sed "s/ mode=[a-z]* / mode=inproc-first /" | tee -a "$RESULTS" | sed 's/^RESULT /  /'
			else
				cat > /dev/null
			fi
	fi
	next_clock
	nice -n 10 "${env[@]}" "$PAM_BENCH" --users "$n" --kind "$kind" --iters "$iters" --budget "$budget" \
		--time "$CLOCK" --seed "$seed" --slot "$slot" "${extra[@]}" \
		--label "module=$name scale=$n seed=$seed" "$name" 2>>"$BENCH_DIR/errors.txt" \
		| sed "s/ mode=[a-z]* / mode=$tag /" | tee -a "$RESULTS" | sed 's/^RESULT /  /'
}

# setup <N>: the three stores and the PAM services for N users in $BENCH_DIR/N
setup() {
	local n=$1 W=$BENCH_DIR/$1 start
	rm -rf "$W"
	mkdir -p "$W/pam.d"
	chmod 0755 "$W"
	echo "== $n users: generating stores"
	start=$(date +%s%N)
	nice -n 10 "$BUILD/bench/gen_profiles" "$n" --ours "$W/store" "$OWNER" \
		--ga "$W/ga" --oath "$W/oath.users"
	bench_ours_service "$W" "$OWNER" "$OURS"
	bench_floor_service "$W" "$FLOORMOD"
	# on disk before any login, as enrolment leaves a profile (totpctl
	# flushes both files): otherwise the first timed login of each user
	# pays the block allocation of a file the generator left in the page
	# cache (ext4 delayed allocation), a cost no real login has
	sync
	echo "   done in $(( ($(date +%s%N) - start) / 1000000 )) ms"
	# each peer with its defaults, plus what it needs to find its state
	# in one root-owned folder (google: secret= and user=root, the
	# documented way to keep the files out of $HOME)
	echo "auth required $PERMIT" > "$W/pam.d/permit"
	echo "auth required $GA secret=$W/ga/\${USER} user=root" > "$W/pam.d/google"
	echo "auth required $OATH usersfile=$W/oath.users window=1" > "$W/pam.d/oath"
}

for n in $SCALES; do
	setup "$n"
done
# Scales and modules take turns inside each run, so a change in the
# machine's load (other jobs, the disk) hits every figure alike.
for rep in $(seq 1 "$REPS"); do
	for n in $SCALES; do
		W=$BENCH_DIR/$n
		export PAM_WRAPPER_SERVICE_DIR=$W/pam.d
		bytes=$(stat -c %s "$W/store/$OWNER/u0000000.ini")
		echo "== $n users: floor, run $rep of $REPS"
		nice -n 10 "$BUILD/bench/floor" "$W/store/$OWNER" "$bytes" 300 \
			| sed "s/^FLOOR /FLOOR scale=$n /" | tee -a "$RESULTS" | sed 's/^FLOOR /  /'
		bench_one permit "$PERMIT" "$n" accept inproc 1000 3 "$((rep * 10 + 7))"
		bench_one floor "$FLOORMOD" "$n" accept inproc 1000 3 "$((rep * 10 + 8))"
		for m in ours:$OURS google:$GA oath:$OATH; do
			name=${m%%:*} path=${m#*:}
			seed=$((rep * 10))
			echo "== $n users: $name, run $rep of $REPS"
			bench_one "$name" "$path" "$n" accept inproc 1000 3 "$seed"
			bench_one "$name" "$path" "$n" reject inproc 1000 3 "$((seed + 1))"
			# pam_oath has no emergency codes; each user has 5, one per run
			[ "$name" != oath ] && [ "$rep" -le 5 ] &&
				bench_one "$name" "$path" "$n" emergency inproc 1000 3 "$((seed + 2))" "$((rep - 1))"
			bench_one "$name" "$path" "$n" accept process 100 3 "$((seed + 3))"
			bench_one "$name" "$path" "$n" reject process 100 3 "$((seed + 4))"
			bench_one "$name" "$path" "$n" accept process+libcrypto 100 3 "$((seed + 5))"
			bench_one "$name" "$path" "$n" reject process+libcrypto 100 3 "$((seed + 6))"
			bench_one "$name" "$path" "$n" accept process+sshd 100 3 "$((seed + 7))"
			bench_one "$name" "$path" "$n" reject process+sshd 100 3 "$((seed + 8))"
		done
	done
done
# The PostgreSQL store beside them, at the same scales (bench/pg_bench.sh:
# its own throwaway server; about a minute per scale and run).  PG=0
# skips it; PG_REPS runs per figure (default 3).
if [ "${PG:-1}" != 0 ]; then
	echo "== the PostgreSQL store (bench/pg_bench.sh)"
	set +e
	REPS=${PG_REPS:-3} BUILD="$BUILD" "$TOP/bench/pg_bench.sh" $SCALES > "$BENCH_DIR/pg.txt" 2>>"$BENCH_DIR/errors.txt"
	rc=$?
	set -e
	grep -E '^(MACHINE|RESULT|PGHOSTS|PGSTEP)' "$BENCH_DIR/pg.txt" >> "$RESULTS" || true
	grep -E '^(RESULT|PGHOSTS|PGSTEP|#)' "$BENCH_DIR/pg.txt" | sed 's/^RESULT /  /' || true
	if [ "$rc" = 2 ]; then
		echo "PGNOTE not measured: PostgreSQL is not available (needs root and the Debian package postgresql, which scripts/install-deps.sh --test installs)" >> "$RESULTS"
	elif [ "$rc" != 0 ]; then
		echo "PGNOTE not measured: bench/pg_bench.sh failed (exit $rc; see $BENCH_DIR/errors.txt)" >> "$RESULTS"
	fi
else
	echo "PGNOTE not measured (PG=0)" >> "$RESULTS"
fi
if [ "${KEEP:-0}" != 1 ]; then
	echo "== removing the stores"
	for n in $SCALES; do nice -n 10 rm -rf "${BENCH_DIR:?}/$n"; done
fi
if [ -s "$BENCH_DIR/errors.txt" ]; then
	echo "== harness errors (see $BENCH_DIR/errors.txt):"
	grep -v PWRAP "$BENCH_DIR/errors.txt" | sort | uniq -c | head -n 20
fi
echo
python3 "$TOP/bench/report.py" "$RESULTS"
