#!/bin/bash
# Instructions per login in pam_sm_authenticate (callgrind), for a
# rejected and an accepted login: a measure the machine's load does not
# move.  One store of 50 users (bench/gen_profiles) in $CG_DIR, 20 logins
# of each kind in-process through libpam (pam_bench, fake clock and users
# from bench_preload.so, as bench/run.sh); prints the inclusive count per
# login of pam_sm_authenticate and of its main parts.
#
#   bench/callgrind.sh            BUILD (build), CG_DIR (/tmp/tp-callgrind)
# Needs make all and the bench binaries (make build/bench/pam_bench
# build/bench/gen_profiles build/bench/bench_preload.so), valgrind.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
source "$TOP/bench/lib.sh"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
W=${CG_DIR:-/tmp/tp-callgrind}
OWNER=11111111-2222-4333-8444-555555555555
LOGINS=20
rm -rf "$W"
mkdir -p "$W/pam.d"
chmod 0755 "$W"
"$BUILD/bench/gen_profiles" 50 --ours "$W/store" "$OWNER" --ga "$W/ga" --oath "$W/oath.users" > /dev/null
bench_ours_service "$W" "$OWNER" "$BUILD/pam_totp_profile.so"
# a day apart: the accepted run's steps are all new
clock=$(( $(date +%s) / 86400 * 86400 + 86400 ))
for kind in reject accept; do
	clock=$((clock + 86400))
	out="$W/callgrind.$kind"
	env LD_PRELOAD="$BUILD/bench/bench_preload.so" BENCH_CONFDIR="$W/pam.d" \
		valgrind --tool=callgrind --toggle-collect=pam_sm_authenticate \
		--callgrind-out-file="$out" "$BUILD/bench/pam_bench" --users 50 --kind "$kind" \
		--iters "$LOGINS" --budget 1000 --time "$clock" --seed 3 \
		--module "$BUILD/pam_totp_profile.so" ours 2>/dev/null | sed 's/^RESULT /  /'
	callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v n="$LOGINS" -v kind="$kind" '
		/\[/ && $1 ~ /^[0-9,]+$/ {
			v = $1; gsub(",", "", v); f = $0; sub(/ \[.*/, "", f); sub(/.*:/, "", f)
			if (f ~ /^(pam_sm_authenticate|tp_config_load|read_profile|tp_profile_from_fd|iniparser_load|attempt_locked|profile_binding|tp_store_files_open)$/ && !(f in seen)) {
				seen[f] = 1; printf "  %s %-22s %8.1fk per login\n", kind, f, v / n / 1000
			}
		}'
done
