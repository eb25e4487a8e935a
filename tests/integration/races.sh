#!/bin/bash
# Races: many logins at once through the real PAM stack against one
# profile, and totpctl changing, deleting and re-creating that profile
# while logins run.  A single-use code must be accepted exactly once, and
# the profile file must always be whole: absent, or a profile that parses,
# with no temp file left behind.
#
#   RACE_LOGINS  logins per single-code race (default 1000)
#   RACE_JOBS    logins in flight at once (default 20)
#   RACE_MIXED   logins racing with totpctl (default 300)
source "$(dirname "$0")/lib.sh"

RACE_LOGINS=${RACE_LOGINS:-1000}
RACE_JOBS=${RACE_JOBS:-20}
RACE_MIXED=${RACE_MIXED:-300}
NOW=1800000000
C0=$(code_at $NOW)
pam_service svc config="$TP_CONF"
W="$T/logins"

# login_bg N SERVICE USER CODE: login number N in the background, at the
# frozen time $NOW if FROZEN=1, with its own answer, output, log and exit
# status in $W/N.in, $W/N.out, $W/N.log, $W/N.rc.  No extra process per
# login: a thousand of them must fit in a minute.  The login is
# tests/helpers/tp_pamrun (pam_start_confdir on $T/pam.d), not pamtester
# under pam_wrapper: pam_wrapper copies the service files into one of 36
# /tmp/pam.X folders shared by every process on the machine, and racing
# logins that pick the same folder read each other's half-copied files
# ("illegal module type", a module line run twice).
PAMRUN="$BUILD/tests/tp_pamrun"
login_bg() {
	local n=$1 svc=$2 user=$3 input=$4
	if [ "${FROZEN:-1}" = 1 ]; then AT=$NOW pam_env_args; else AT="" pam_env_args; fi
	local -a env=("${PAM_ENV_ARGS[@]}")
	env[0]=${env[0]/$PAM_WRAPPER_LIB/}          # LD_PRELOAD without pam_wrapper
	printf '%s\n' "$input" > "$W/$n.in"
	# timeout: a watchdog, not a bound (a login takes well under 1 s, a
	# few s with RACE_JOBS of them on 2 loaded cores); a hung one ends in
	# 124, which all_ended_cleanly reports
	(
		printf '%s\n' "$input" | timeout 120 env "${env[@]}" PAM_WRAPPER=0 \
			TP_TEST_SYSLOG="$W/$n.log" \
			"$PAMRUN" "$T/pam.d" "$svc" "$user" > "$W/$n.out" 2>&1
		echo "$?" > "$W/$n.rc"
	) &
}
# run_logins COUNT SERVICE USER CODE_FN: COUNT logins, RACE_JOBS at a time;
# CODE_FN N sets CODE to the answer of login N.  Waits for its own logins
# only (a totpctl loop may be running beside them).
run_logins() {
	local count=$1 svc=$2 user=$3 code_fn=$4 running=0 n
	rm -rf "$W"
	mkdir -p "$W"
	for ((n = 1; n <= count; n++)); do
		$code_fn "$n"
		login_bg "$n" "$svc" "$user" "$CODE"
		running=$((running + 1))
		if [ "$running" -ge "$RACE_JOBS" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	for ((; running > 0; running--)); do wait -n; done
	cat "$W"/*.log >> "$TP_SYSLOG" 2> /dev/null
}
# count_rc RC: logins that ended with exit status RC
count_rc() { cat "$W"/*.rc | grep -cx "$1"; }
# every login ended: accepted (0) or refused (1), nothing
# crashed or hung
all_ended_cleanly() {
	[ "$(cat "$W"/*.rc 2> /dev/null | grep -cx '[01]')" -eq "$(ls "$W" | grep -c '\.in$')" ]
}
log_count() { grep -c -- "$1" "$TP_SYSLOG"; }
# other_lines PATTERN...: the logins' log lines matching none of the
# patterns (nor pam_wrapper's own notice), a few of them, for the report
other_lines() {
	local -a e=(-e '_pam_init_handlers')
	local p
	for p in "$@"; do e+=(-e "$p"); done
	grep -v "${e[@]}" "$TP_SYSLOG" | sort | uniq -c | head -n 5 | sed 's/^/#   other log line: /'
}
# the owner folder holds profiles and their locks, nothing half-written;
# ACCOUNT's own profile parses or is absent
store_clean() {
	local dir="$TP_STORE/${2:-$CLUSTER_UUID}" f
	for f in "$dir"/.[!.]* "$dir"/*; do
		[ -e "$f" ] || continue
		case "${f##*/}" in .*.lock|[!.]*.ini) ;; *) echo "# stray: ${f##*/}"; return 1 ;; esac
	done
	[ ! -e "$dir/$1.ini" ] || profile_state "$1" "${2:-$CLUSTER_UUID}" > /dev/null
}
no_store_faults() {
	! grep -q -e 'profile unreadable' -e 'cannot record the attempt' \
		-e 'store unavailable' "$TP_SYSLOG"
}

# single_use_race WHAT USER CODE_FN ACCEPTED REFUSED AS: RACE_LOGINS logins
# of USER, all answering with the one code CODE_FN gives.  Exactly one gets
# in (logged "ACCEPTED"), every other is refused and logged as "REFUSED"
# (described as AS) or as the lock the refusals caused.
single_use_race() {
	local what=$1 user=$2 code_fn=$3 accepted=$4 refused_log=$5 as=$6 ok refused t0
	clear_log
	t0=$SECONDS
	run_logins "$RACE_LOGINS" svc "$user" "$code_fn"
	ok=$(count_rc 0) refused=$(count_rc 1)
	echo "# raced $RACE_LOGINS logins with one $what, $RACE_JOBS at a time:" \
		"$ok accepted, $refused refused ($((SECONDS - t0)) s)"
	check "every login with the same $what ended (no crash, no hang)" all_ended_cleanly
	check "the $what is accepted by exactly one of $RACE_LOGINS racing logins" test "$ok" -eq 1
	check "the other $((RACE_LOGINS - 1)) are refused" test "$refused" -eq $((RACE_LOGINS - 1))
	check "one acceptance is logged" \
		test "$(log_count "user=$user owner=cluster1: $accepted")" -eq 1
	check "every refusal is logged as $as or the lock it caused" \
		test "$(( $(log_count "$refused_log") + \
			$(log_count 'refused: profile locked') ))" -eq $((RACE_LOGINS - 1))
	other_lines "$refused_log" 'refused: profile locked' "$accepted"
	check "no login met a store fault" no_store_faults
}

# --- one emergency code, many logins --------------------------------------
EC=24681357
mkprofile alice codes=12345678,$EC,87654321,11223344,99887766
same_ec() { CODE=$EC; }
# the real clock: emergency codes do not depend on it
FROZEN=0 single_use_race "emergency code" alice same_ec "accepted emergency code" \
	'refused: emergency code already used' "a reuse"
state=$(profile_state alice)
check "the profile parses after the race" test -n "$state"
check "the code is spent in the file: 4 of 5 emergency codes left" \
	test "$(cut -d' ' -f5 <<<"$state")" = 4
check "no temp file is left after the emergency-code race" store_clean alice
write_config "lockout = { max_failures = 0; };"
AT=$NOW pam_auth svc alice "$EC"
check "the spent code is refused afterwards" test $? -ne 0
write_config

# --- one TOTP code, many logins ---------------------------------------------
mkprofile bob
same_totp() { CODE=$C0; }
single_use_race "TOTP code" bob same_totp "accepted TOTP code" \
	'refused: replayed TOTP code' "a replay"
state=$(profile_state bob)
check "the profile parses after the race" test -n "$state"
check "the accepted step is recorded once, as the last accepted step" \
	test "$(cut -d' ' -f2 <<<"$state")" -eq $((NOW / 30))
check "no temp file is left after the TOTP race" store_clean bob

# --- totpctl changing the profile while logins run ---------------------------
# totpctl runs from the build tree as root with --config (root is an admin,
# and creates its own profile), outside nss_wrapper, so the account is root
# (lib.sh's root_config, no lockout)
RCONF="$T/race.conf"
root_config "$RCONF"
pam_service rsvc config="$RCONF"
MIX_CODES="12345678 23456789 34567890 45678901 56789012"
"$MKPROFILE" "$RCONF" "$CLUSTER_UUID" root "$SECRET" codes="${MIX_CODES// /,}"
# $T/current: the codes of the live profile, "TOTP_AT_NOW EC1 ... EC5",
# replaced (atomically) by the totpctl loop after each create.  Login N
# answers with one of them, or with a wrong code.
echo "$C0 $MIX_CODES" > "$T/current"
mixed_code() {
	local -a c
	read -r -a c < "$T/current"
	case $(( $1 % 7 )) in 6) CODE=000000 ;; *) CODE=${c[$1 % 7]} ;; esac
}
# remember_created: the new profile's codes from `totpctl --json create`
remember_created() {
	python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))["records"][0]
print(r["secret_key"], " ".join(r["emergency_codes"]))' "$T/ctl.out" > "$T/created" || return 1
	local secret codes
	read -r secret codes < "$T/created"
	echo "$(code_at $NOW "$secret") $codes" > "$T/current.new"
	mv "$T/current.new" "$T/current"
}

# ctl_op OP: one totpctl call; prints "OP WANT GOT" where WANT is the
# outcome the profile's state before the call requires (ok or an error
# code) and GOT what totpctl did.  Logins never create, delete, enable or
# disable, so this one loop knows the state before each of its calls.
exists=1 enabled=1
ctl_op() {
	local op=$1 want got rc
	local -a args
	case $op in
	comment)  args=(modify --owner cluster1 --account root --comment "race $RANDOM")
		  want=$([ $exists = 1 ] && echo ok || echo 144834566) ;;
	disable)  args=(modify --owner cluster1 --account root --enabled false)
		  want=$([ $exists = 1 ] && echo ok || echo 144834566) ;;
	enable)   args=(modify --owner cluster1 --account root --enabled true)
		  want=$([ $exists = 1 ] && echo ok || echo 144834566) ;;
	delete)   args=(delete --owner cluster1 --account root)
		  want=$([ $exists = 1 ] && echo ok || echo 4) ;;
	create)   args=(create --no-qr)
		  want=$([ $exists = 1 ] && [ $enabled = 1 ] && echo 1 || echo ok) ;;
	esac
	"$TOTPCTL" --config "$RCONF" --json "${args[@]}" > "$T/ctl.out" 2> "$T/ctl.err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		got=ok
		if [ "$op" = create ] && ! remember_created; then
			got=unreadable-create-output
		fi
	else
		got=$(sed -n '1s/^totpctl: error \([0-9]*\):.*/\1/p' "$T/ctl.err")
		got=${got:-"exit$rc"}
	fi
	if [ "$got" = ok ]; then
		case $op in
		disable) enabled=0 ;;
		enable)  enabled=1 ;;
		delete)  exists=0 ;;
		create)  exists=1 enabled=1 ;;
		esac
	fi
	echo "$op $want $got"
}
OPS=(comment disable comment create delete create enable delete disable create comment delete)
ctl_loop() {
	local i=0
	while [ ! -e "$T/logins.done" ] || [ "$i" -lt "${#OPS[@]}" ]; do
		ctl_op "${OPS[i % ${#OPS[@]}]}"
		i=$((i + 1))
		sleep 0.05          # spread the calls over the whole run
	done > "$T/ops"
	echo "$exists $enabled" > "$T/ops.final"
}

clear_log
rm -f "$T/logins.done"
ctl_loop &
CTL_PID=$!
t0=$SECONDS
run_logins "$RACE_MIXED" rsvc root mixed_code
touch "$T/logins.done"
wait "$CTL_PID"
nops=$(wc -l < "$T/ops")
# per login: its answer, its exit status and what the module logged for it:
# "accepted" (a code matched) or "disabled" (an admin disabled the profile,
# before the prompt or between the prompt and the locked re-read, and the
# user got in on the first factor) or "refused"
for ((n = 1; n <= RACE_MIXED; n++)); do
	how=refused
	if grep -q ': accepted ' "$W/$n.log"; then
		how=accepted
	elif grep -q 'profile disabled by an admin: second factor skipped' "$W/$n.log"; then
		how=disabled
	fi
	echo "$(< "$W/$n.in") $(< "$W/$n.rc") $how"
done > "$T/verdicts"
ok=$(grep -c ' 0 accepted$' "$T/verdicts")
skipped=$(grep -c ' 0 disabled$' "$T/verdicts")
echo "# raced $RACE_MIXED logins with $nops totpctl calls (modify, delete, create):" \
	"$ok accepted a code, $skipped let in on a disabled profile," \
	"$((RACE_MIXED - ok - skipped)) refused ($((SECONDS - t0)) s)"
check "every login racing with totpctl ended (no crash, no hang)" all_ended_cleanly
bad_ops() { awk '$2 != $3' "$T/ops"; }
check "every totpctl call had the outcome of the state before it (none of $nops failed otherwise)" \
	test -z "$(bad_ops)"
bad_ops | head -n 5 | sed 's/^/#   op want got: /'
# each answer is accepted at most once: every profile (the starting one and
# each one created) has its own secret and emergency codes, and only its
# own codes are ever sent
reused() { awk '$2 == 0 && $3 == "accepted" { n[$1]++ } END { for (c in n) if (n[c] > 1) print c }' "$T/verdicts"; }
check "no code was accepted twice across modify, delete and re-create" test -z "$(reused)"
check "the wrong code was never accepted" fails grep -q '^000000 0 accepted$' "$T/verdicts"
check "every login that got in was logged as accepted or let in on a disabled profile" \
	test "$(grep -c ' 0 ' "$T/verdicts")" -eq $((ok + skipped))
check "logins let in on a disabled profile only if a disable happened" \
	bash -c "[ $skipped -eq 0 ] || grep -q '^disable ok ok$' '$T/ops'"
check "acceptances in the log match the logins that got in" \
	test "$(( $(log_count 'user=root owner=cluster1: accepted') + \
		$(log_count 'user=root owner=cluster1: profile disabled by an admin: second factor skipped') ))" \
	-eq $((ok + skipped))
check "no login found the profile file unreadable" fails logged 'profile unreadable'
check "store faults are only logins whose profile was deleted under them" \
	fails grep -v 'cannot record the attempt: not found' <(grep -e 'cannot record the attempt' \
		-e 'store unavailable' "$TP_SYSLOG")
read -r want_exists want_enabled < "$T/ops.final"
rstate() { "$MKPROFILE" --get "$RCONF" "$CLUSTER_UUID" root 2> /dev/null; }
if [ "$want_exists" = 1 ]; then
	check "after the race the profile is whole, as the last totpctl call left it" \
		test "$(rstate | cut -d' ' -f1)" = "$want_enabled"
	check "totpctl show reads it" bash -c '"$0" --config "$1" show --owner cluster1 --account root > /dev/null' \
		"$TOTPCTL" "$RCONF"
else
	check "after the race the profile is absent, as the last totpctl call left it" \
		test ! -e "$TP_STORE/$CLUSTER_UUID/root.ini"
fi
check "no temp file or stray file is left after the race with totpctl" store_clean root
