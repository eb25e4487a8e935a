#!/bin/bash
# How long a refusal takes, for the three cases an attacker would like to
# tell apart: a wrong code for an account with a profile, an account
# without a profile, and an unknown account.  Each login is one pamtester
# process (under pam_wrapper and nss_wrapper, in a throwaway world built by
# tests/integration/lib.sh); the wall time of each is recorded and the
# distribution printed per case, first with `nodelay` (the module's own
# cost) then with the fail delay.
#
#   bench/refusal_times.sh [LOGINS_PER_CASE [DELAY_MS]]   default: 20 500
set -u
N=${1:-20}
DELAY_MS=${2:-500}
source "$(dirname "$0")/../tests/integration/lib.sh"
mkprofile alice
pam_stack quick "auth required $MODULE config=$TP_CONF"
pam_stack delayed "auth required $MODULE config=$TP_CONF fail_delay=$DELAY_MS"

# times SERVICE USER: N refusals, one wall time (ms) per line
times() {
	local t0 t1
	for _ in $(seq "$N"); do
		t0=$(date +%s%N)
		pam_auth "$1" "$2" 000000
		t1=$(date +%s%N)
		echo "scale=2; ($t1 - $t0) / 1000000" | bc
	done
}
# dist: min p50 p90 max of the numbers on stdin
dist() {
	sort -n | awk '{ v[NR] = $1 } END {
		printf "min %8.1f  p50 %8.1f  p90 %8.1f  max %8.1f ms\n",
		       v[1], v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR] }'
}
echo "refusal times, $N logins per case, one pamtester process each"
for svc in quick delayed; do
	[ "$svc" = quick ] && echo "== nodelay (the module's own cost, plus starting pamtester)" ||
		echo "== fail_delay=$DELAY_MS"
	for who in "alice wrong code, profile" "dave no profile" "mallory unknown account"; do
		printf '  %-26s ' "${who#* }:"
		times "$svc" "${who%% *}" | dist
	done
done
