#!/bin/bash
# Crashes: kill -9 at random points while a profile is being written, by
# the store's locked update (tests/helpers/tp_storeloop.c), by a real login
# through PAM and by totpctl.  After every kill the profile must be exactly
# the old or the new version, never missing or torn; the only leftover
# allowed is one stale temp file, and the next write must clear it.  A
# login writes only its state record, in place: a killed login leaves the
# state before or after it, readable, and no temp file.
#
#   CRASH_STORE_KILLS   kills of the store loop (default 300)
#   CRASH_PAM_KILLS     kills of logins (default 200)
#   CRASH_CTL_KILLS     kills of totpctl (default 100)
source "$(dirname "$0")/lib.sh"

STORE_KILLS=${CRASH_STORE_KILLS:-300}
PAM_KILLS=${CRASH_PAM_KILLS:-200}
CTL_KILLS=${CRASH_CTL_KILLS:-100}
STORELOOP="$BUILD/tests/tp_storeloop"
NOW=1800000000
DIR="$TP_STORE/$CLUSTER_UUID"
F="$DIR/root.ini"

# root's profile, no lockout (lib.sh's root_config): every finished login
# with a wrong code adds exactly one failure
CCONF="$T/crash.conf"
root_config "$CCONF"
pam_service csvc config="$CCONF"

ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# killed_after MS CMD...: run CMD, SIGKILL it after MS milliseconds if it is
# still running (timeout re-raises the kill; the subshell keeps bash's
# "Killed" notice out of the output)
killed_after() {
	local ms=$1; shift
	# (not exec'd: bash reports the killed child on the subshell's stderr)
	( timeout -s KILL "$(ms_to_s "$ms")" "$@"; exit $? ) 2> /dev/null
}
# login_killed_after MS INPUT: pam_auth's login (lib.sh) at the frozen time,
# but pamtester itself gets the SIGKILL
login_killed_after() {
	local ms=$1 input=$2
	AT=${LOGIN_AT:-$NOW} pam_env_args
	printf '%s\n' "$input" | killed_after "$ms" "$PRIVATE_TMP" env "${PAM_ENV_ARGS[@]}" \
		pamtester -v csvc root authenticate > "$T/pam.out" 2>&1
}
# strays: anything in the owner folder but the profile, its lock and one
# temp file
strays() {
	local f
	for f in "$DIR"/.[!.]* "$DIR"/*; do
		[ -e "$f" ] || continue
		case "${f##*/}" in root.ini|.root.lock|.root.tmp) ;; *) echo "${f##*/}" ;; esac
	done
}
has_tmp() { [ -e "$DIR/.root.tmp" ]; }
state() { profile_state root 2> /dev/null; }
# keep the first few broken files for the report
BAD_SHOWN=0
report_bad() {
	[ "$BAD_SHOWN" -lt 3 ] || return 0
	BAD_SHOWN=$((BAD_SHOWN + 1))
	echo "# $1"
	{ ls -la "$DIR"; [ -e "$F" ] && head -c 600 "$F"; } 2>&1 | sed 's/^/#   /'
}
TOTAL_KILLS=0

# --- the store's locked update, killed ------------------------------------
"$STORELOOP" "$CCONF" "$CLUSTER_UUID" root print A > "$T/A.ini"
"$STORELOOP" "$CCONF" "$CLUSTER_UUID" root print B > "$T/B.ini"
# how long one process start and one write take here: kills land anywhere
# from start-up to a few writes in
t0=$(now_ms)
for i in 1 2 3 4 5; do "$STORELOOP" "$CCONF" "$CLUSTER_UUID" root once > /dev/null; done
once_ms=$(( ($(now_ms) - t0) / 5 + 1 ))
# flips: two writes, the second writes the other version, each file exact
flips() {
	local v1 v2
	v1=$("$STORELOOP" "$CCONF" "$CLUSTER_UUID" root once) && cmp -s "$F" "$T/$v1.ini" &&
		v2=$("$STORELOOP" "$CCONF" "$CLUSTER_UUID" root once) && cmp -s "$F" "$T/$v2.ini" &&
		[ "$v1" != "$v2" ]
}
check "the store loop writes version A and B in turn" flips
check "both versions parse" bash -c "'$MKPROFILE' --get '$CCONF' '$CLUSTER_UUID' root > /dev/null"

torn=0 stray=0 stale=0 uncleared=0 seen_a=0 seen_b=0 selfexit=0
t0=$SECONDS
for ((i = 1; i <= STORE_KILLS; i++)); do
	killed_after $((RANDOM % (3 * once_ms) + 1)) "$STORELOOP" "$CCONF" "$CLUSTER_UUID" root loop
	[ $? -eq 137 ] || selfexit=$((selfexit + 1))   # it stops only on a bad record
	TOTAL_KILLS=$((TOTAL_KILLS + 1))
	if cmp -s "$F" "$T/A.ini"; then
		seen_a=$((seen_a + 1))
	elif cmp -s "$F" "$T/B.ini"; then
		seen_b=$((seen_b + 1))
	else
		torn=$((torn + 1))
		report_bad "store kill $i: the profile is neither version"
		"$STORELOOP" "$CCONF" "$CLUSTER_UUID" root print A > "$F"
	fi
	if [ -n "$(strays)" ]; then
		stray=$((stray + 1))
		report_bad "store kill $i: stray files: $(strays | tr '\n' ' ')"
	fi
	if has_tmp; then
		stale=$((stale + 1))
		v=$("$STORELOOP" "$CCONF" "$CLUSTER_UUID" root once)
		if has_tmp || ! cmp -s "$F" "$T/$v.ini"; then
			uncleared=$((uncleared + 1))
			report_bad "store kill $i: the next write did not replace the stale temp file"
		fi
	fi
done
echo "# $STORE_KILLS kills of the store loop ($((SECONDS - t0)) s, one write ~${once_ms} ms):" \
	"$seen_a left version A, $seen_b version B, $torn neither;" \
	"$stale left a stale temp file"
check "after $STORE_KILLS kills of a store update the profile is always the old or the new version" \
	test "$torn" -eq 0
check "the store loop never met a bad record" test "$selfexit" -eq 0
check "no file but the profile, its lock and one temp file piles up" test "$stray" -eq 0
check "kills landed in the middle of writes (stale temp files seen)" test "$stale" -gt 0
check "kills landed on both sides of the rename (both versions seen)" \
	test "$seen_a" -gt 0 -a "$seen_b" -gt 0
check "the next write replaces every stale temp file" test "$uncleared" -eq 0

# --- logins, killed -------------------------------------------------------
rm -f "$DIR"/root.ini "$DIR"/.root.*
"$MKPROFILE" "$CCONF" "$CLUSTER_UUID" root "$SECRET" codes=12345678,23456789
WRONG=000000
[ "$(code_at $NOW)" = 000000 ] && WRONG=000001
t0=$(now_ms)
AT=$NOW pam_auth csvc root "$WRONG"
login_ms=$(( $(now_ms) - t0 + 1 ))
check "a finished login with a wrong code adds one failure" test "$(state | cut -d' ' -f3)" = 1

# Odd kills: a right code of a new step (an acceptance, flushed before
# the login returns); even kills: a wrong code (a failure, not flushed).
# After each, the state is the one before the login or the one after it.
torn=0 stray=0 tmp=0 accepted=0 counted=0
t0=$SECONDS
for ((i = 1; i <= PAM_KILLS; i++)); do
	read -r _ step0 fail0 _ < <(state)
	LOGIN_AT=$((NOW + 30 * i)) code=$WRONG
	[ $((i % 2)) -eq 1 ] && code=$(code_at "$LOGIN_AT")
	[ "$code" = "$WRONG" ] && LOGIN_AT=$NOW
	login_killed_after $((RANDOM % (login_ms + login_ms / 5) + 1)) "$code"
	TOTAL_KILLS=$((TOTAL_KILLS + 1))
	free_stale_faketime_shm
	if ! read -r _ step1 fail1 _ < <(state) || [ -z "${step1:-}" ]; then
		torn=$((torn + 1))
		report_bad "login kill $i: the state is unreadable"
		"$MKPROFILE" "$CCONF" "$CLUSTER_UUID" root "$SECRET" codes=12345678,23456789
		continue
	fi
	if [ "$code" = "$WRONG" ]; then
		if [ "$step1" = "$step0" ] && [ "$fail1" = "$fail0" ]; then :
		elif [ "$step1" = "$step0" ] && [ "$fail1" -eq $((fail0 + 1)) ]; then counted=$((counted + 1))
		else torn=$((torn + 1)); report_bad "login kill $i: $step0/$fail0 became $step1/$fail1"
		fi
	else
		new=$((LOGIN_AT / 30))
		if [ "$step1" = "$step0" ] && [ "$fail1" = "$fail0" ]; then :
		elif [ "$step1" = "$new" ] && [ "$fail1" = 0 ]; then
			accepted=$((accepted + 1))
			# recorded: the same code is now a replay
			AT=$LOGIN_AT pam_auth csvc root "$code"
			if [ $? -eq 0 ]; then torn=$((torn + 1)); report_bad "login kill $i: accepted twice"; fi
		else torn=$((torn + 1)); report_bad "login kill $i: $step0/$fail0 became $step1/$fail1"
		fi
	fi
	[ -n "$(strays)" ] && { stray=$((stray + 1)); report_bad "login kill $i: stray files: $(strays | tr '\n' ' ')"; }
	has_tmp && tmp=$((tmp + 1))
done
echo "# $PAM_KILLS kills of pamtester logins ($((SECONDS - t0)) s, one login ~${login_ms} ms):" \
	"$accepted of $(( (PAM_KILLS + 1) / 2 )) right codes had been recorded, $counted of" \
	"$((PAM_KILLS / 2)) wrong codes counted, $torn neither"
check "after $PAM_KILLS killed logins the state is always the one before or after the login" \
	test "$torn" -eq 0
check "a killed login leaves no temp file and nothing else" test "$stray" -eq 0 -a "$tmp" -eq 0
check "some killed logins had recorded their code, some had not" \
	test "$accepted" -gt 0 -a "$accepted" -lt $(( (PAM_KILLS + 1) / 2 ))
AT=$((NOW + 30 * PAM_KILLS + 60)) pam_auth csvc root "$(code_at $((NOW + 30 * PAM_KILLS + 60)))"
check "the profile still takes a right code after the kills" test $? -eq 0

# --- totpctl writes, killed -----------------------------------------------
ctl() { "$TOTPCTL" --config "$CCONF" "$@"; }
comment_of() { sed -n 's/^comment = "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$F" 2> /dev/null; }
t0=$(now_ms)
ctl modify --owner cluster1 --account root --comment "start" > /dev/null
ctl_ms=$(( $(now_ms) - t0 + 1 ))
check "totpctl modify writes the comment" test "$(comment_of)" = start

torn=0 stray=0 stale=0 uncleared=0 done_=0 deletes=0 deleted=0
t0=$SECONDS
for ((i = 1; i <= CTL_KILLS; i++)); do
	before=$(comment_of)
	ms=$((RANDOM % (ctl_ms + ctl_ms / 5) + 1))
	if [ $((i % 10)) -eq 0 ]; then
		# a killed delete: the profile stays whole or is gone
		deletes=$((deletes + 1))
		cp "$F" "$T/before.ini"
		killed_after "$ms" "$TOTPCTL" --config "$CCONF" delete --owner cluster1 \
			--account root > /dev/null
		TOTAL_KILLS=$((TOTAL_KILLS + 1))
		if [ ! -e "$F" ]; then
			deleted=$((deleted + 1))
			"$MKPROFILE" "$CCONF" "$CLUSTER_UUID" root "$SECRET"
			ctl modify --owner cluster1 --account root --comment "$before" > /dev/null
		elif ! cmp -s "$F" "$T/before.ini"; then
			torn=$((torn + 1))
			report_bad "totpctl delete kill $i: the profile changed"
		fi
	else
		killed_after "$ms" "$TOTPCTL" --config "$CCONF" modify --owner cluster1 \
			--account root --comment "kill-$i" > /dev/null
		TOTAL_KILLS=$((TOTAL_KILLS + 1))
		after=$(comment_of)
		if [ "$after" = "kill-$i" ] && state > /dev/null; then
			done_=$((done_ + 1))
		elif [ "$after" != "$before" ] || ! state > /dev/null; then
			torn=$((torn + 1))
			report_bad "totpctl modify kill $i: comment went from '$before' to '$after'"
			"$MKPROFILE" "$CCONF" "$CLUSTER_UUID" root "$SECRET"
		fi
	fi
	if [ -n "$(strays)" ]; then
		stray=$((stray + 1))
		report_bad "totpctl kill $i: stray files: $(strays | tr '\n' ' ')"
	fi
	if has_tmp; then
		stale=$((stale + 1))
		ctl modify --owner cluster1 --account root --comment "after-$i" > /dev/null
		if has_tmp || [ "$(comment_of)" != "after-$i" ]; then
			uncleared=$((uncleared + 1))
			report_bad "totpctl kill $i: the next write did not replace the stale temp file"
		fi
	fi
done
echo "# $CTL_KILLS kills of totpctl ($((SECONDS - t0)) s, one call ~${ctl_ms} ms):" \
	"$done_ of $((CTL_KILLS - deletes)) modifies had written, $deleted of $deletes deletes" \
	"had removed, $torn torn; $stale left a stale temp file"
check "after $CTL_KILLS killed totpctl calls the profile is always the old or the new version" \
	test "$torn" -eq 0
check "no file but the profile, its lock and one temp file piles up (totpctl)" test "$stray" -eq 0
check "the next totpctl write replaces every stale temp file" test "$uncleared" -eq 0
check "totpctl show reads the profile after the kills" \
	bash -c '"$0" --config "$1" show --owner cluster1 --account root > /dev/null' "$TOTPCTL" "$CCONF"
echo "# $TOTAL_KILLS kill -9 in all"
check "every planned kill was made" test "$TOTAL_KILLS" -ge $((STORE_KILLS + PAM_KILLS + CTL_KILLS))
