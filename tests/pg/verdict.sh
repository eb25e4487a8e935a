#!/bin/bash
# A login's verdict never reaches a host before the attempt's effects (the
# failure count, the lock, the accepted step, the spent code) are
# committed: a stolen host's credentials give no guess that is not
# counted, whatever it does with its transactions.  The review's three
# tricks (roll back; turn a refusal into an error in the same statement;
# a read-only transaction) with max_failures = 3, and a host holding a
# profile's row locked makes the others fail closed, quickly.
set -u
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
pg_suite_up
pg_login_role host_a totp_login
pg_login_role host_b totp_login
pg_login_role ctl totp_admin

O=11111111-2222-4333-8444-555555555555
KEY_HEX=3132333435363738393031323334353637383930     # RFC 4226's key
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678
W=$(mktemp -d /tmp/tp-pgverdict.XXXXXX)
trap 'rm -rf "$W"; pg_stop' EXIT

q() { pg_psql -c "$1"; }
mk() {
	q "DELETE FROM totp.profiles WHERE owner_uuid = '$O' AND account = '$1'" >/dev/null
	q "SELECT totp.admin_import('$O', '$1', '\\x$KEY_HEX', 'SHA1', 6, 30,
	   '', true, 1, -1, 0, 0, '\\x$SALT_HEX',
	   ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1')], '{f}')" >/dev/null
}
code_now() {
	oathtool --totp -N "@$(q "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint")" "$KEY_HEX"
}
state() { pg_as ctl -c "SELECT failures, locked_until IS NOT NULL, last_step > -1,
	emergency_left FROM totp.admin_show('$O', '$1')"; }
# verdicts in psql's unaligned output: lines that are an outcome's name
verdicts() { grep -cxE '(totp|emergency|replay|spent|wrong|locked)' "$@"; }

# The calls a host makes for one login, as store_pg.c makes them: the
# attempt, then its result in a later transaction.  (Against a schema
# without login_result -- migration 001 alone -- the one call it had, so
# these cases show what they guard against there.)
TWO_PHASE=$(q "SELECT to_regprocedure('totp.login_result(uuid)') IS NOT NULL")
attempt_sql() {   # attempt_sql ACCOUNT CODE
	if [ "$TWO_PHASE" = t ]; then
		echo "SELECT totp.login_attempt('$O', '$1', '{$2}') AS id \\gset"
	else
		echo "SELECT outcome FROM totp.login_attempt('$O', '$1', '{$2}');"
	fi
}
if [ "$TWO_PHASE" = t ]; then
	result_sql='SELECT outcome FROM totp.login_result(:'"'"'id'"'"');'
else
	result_sql=""
fi
verdict_expr() {   # verdict_expr ACCOUNT CODE: the outcome in one expression
	if [ "$TWO_PHASE" = t ]; then
		echo "(SELECT outcome FROM totp.login_result(totp.login_attempt('$O', '$1', '{$2}')))"
	else
		echo "(totp.login_attempt('$O', '$1', '{$2}')).outcome"
	fi
}

q "SELECT totp.set_policy(1, 3, 300)" >/dev/null

# ---- what a host does get: a committed attempt, then its verdict
ordinary() {   # ordinary CODE: one guess the host's way
	{ attempt_sql mallory "$1"; echo "$result_sql"; } | pg_as host_a 2>&1
}
counted() {
	local i out=""
	for i in $(seq 1 20); do out="$out $(ordinary "$(printf '%06d' "$i")")"; done
	[ "$(grep -o wrong <<<"$out" | wc -l)" = 3 ] && [ "$(grep -o locked <<<"$out" | wc -l)" = 17 ] ||
		{ echo "#   got:$out"; return 1; }
	[ "$(state mallory)" = "0|t|f|1" ] || { echo "#   state: $(state mallory)"; return 1; }
}

# ---- 1: BEGIN; attempt; result; ROLLBACK
mk mallory
rollback_trick() {
	local i out=0
	for i in $(seq 1 20); do
		{
			echo "BEGIN;"
			attempt_sql mallory "$(printf '%06d' "$i")"
			echo "$result_sql"
			echo "ROLLBACK;"
		} | pg_as host_a >>"$W/rollback.out" 2>&1
	done
	out=$(verdicts "$W/rollback.out")
	[ "$out" = 0 ] || { echo "#   $out verdicts leaked: $(sort "$W/rollback.out" | uniq -c | head -n 3)"; return 1; }
	# nothing committed, nothing tried; the host's own guesses then count
	[ "$(state mallory)" = "0|f|f|1" ] || { echo "#   state: $(state mallory)"; return 1; }
	counted
}
check "verdict: 20 guesses rolled back give no verdict; 20 more committed: 3 wrong, then locked" \
	rollback_trick

# ---- 2: autocommit, the refusal made an error in the same statement
# (the divisor is a sub-select: a constant 1/0 is folded, and fails, when
# the statement is planned, whatever the verdict)
mk mallory
error_trick() {   # error_trick CODE: the output of one such guess
	pg_as host_a -c "SELECT CASE WHEN $(verdict_expr mallory "$1") <> 'totp' THEN 1/(SELECT 0) END" 2>&1
}
one_error() {
	local i c right wrong
	: >"$W/error.out"
	for i in $(seq 1 19); do error_trick "$(printf '%06d' "$i")" >>"$W/error.out"; done
	c=$(code_now)
	right=$(error_trick "$c")
	echo "$right" >>"$W/error.out"
	wrong=$(error_trick 999999)
	[ "$right" = "$wrong" ] || { echo "#   right code: $right"; echo "#   wrong code: $wrong"; return 1; }
	[ "$(verdicts "$W/error.out")" = 0 ] && ! grep -q "division by zero" "$W/error.out" ||
		{ echo "#   $(sort "$W/error.out" | uniq -c | head -n 3)"; return 1; }
	[ "$(state mallory)" = "0|f|f|1" ] || { echo "#   state: $(state mallory)"; return 1; }
}
check "verdict: 20 guesses whose refusal divides by zero: one error for right and wrong, nothing kept" \
	one_error

# ---- 3: a read-only transaction
mk mallory
read_only() {   # read_only CODE: the error of one guess, CONTEXT included
	pg_as host_a -v VERBOSITY=verbose -c "SET default_transaction_read_only = on" \
		-c "SELECT totp.login_attempt('$O', 'mallory', '{$1}')" 2>&1
}
read_only_trick() {
	local i right wrong ec
	: >"$W/ro.out"
	for i in $(seq 1 18); do read_only "$(printf '%06d' "$i")" >>"$W/ro.out"; done
	right=$(read_only "$(code_now)")
	ec=$(read_only "$EC1")
	wrong=$(read_only 999999)
	[ "$right" = "$wrong" ] && [ "$ec" = "$wrong" ] ||
		{ echo "#   right code: $right" | head -n 4; echo "#   wrong code: $wrong" | head -n 4; return 1; }
	[ "$(verdicts "$W/ro.out")" = 0 ] || { echo "#   $(head -n 3 "$W/ro.out")"; return 1; }
	[ "$(state mallory)" = "0|f|f|1" ] || { echo "#   state: $(state mallory)"; return 1; }
}
check "verdict: 20 guesses in read-only transactions: one error, CONTEXT included, for right and wrong" \
	read_only_trick

# ---- 4: the transaction's own statistics (pg_stat_xact_user_tables)
mk stats
stats_of() {   # stats_of CODE: what an uncommitted attempt shows of the profiles table
	{
		echo "BEGIN;"
		attempt_sql stats "$1"
		echo "SELECT 'stats', seq_scan, idx_scan, idx_tup_fetch, n_tup_upd, n_tup_hot_upd
		      FROM pg_stat_xact_user_tables WHERE relname = 'profiles';"
		echo "ROLLBACK;"
	} | pg_as host_a 2>&1 | grep '^stats|'
}
committed() { { attempt_sql stats "$1"; echo "$result_sql"; } | pg_as host_a 2>&1; }
same_stats() {
	local c wrong right replay ec spent
	wrong=$(stats_of 000000)
	c=$(code_now)
	right=$(stats_of "$c")
	[ "$(committed "$c")" = totp ] || { echo "#   the right code was refused"; return 1; }
	replay=$(stats_of "$c")
	ec=$(stats_of "$EC1")
	[ "$(committed "$EC1")" = emergency ] || { echo "#   the emergency code was refused"; return 1; }
	spent=$(stats_of "$EC1")
	[ -n "$wrong" ] && [ "$right" = "$wrong" ] && [ "$replay" = "$wrong" ] &&
		[ "$ec" = "$wrong" ] && [ "$spent" = "$wrong" ] ||
		{ echo "#   wrong $wrong, right $right, replay $replay, emergency $ec, spent $spent"; return 1; }
}
check "verdict: an uncommitted attempt's statistics are the same for wrong, right, replay, emergency, spent" \
	same_stats

# ---- an id from a rolled-back transaction, another role's, used twice
mk mallory
rolled_back_id() {
	local out
	out=$({ echo "BEGIN;"; attempt_sql mallory 000000; echo "ROLLBACK;"; echo "$result_sql"; } |
		pg_as host_a -v VERBOSITY=verbose 2>&1)
	[ "$(verdicts <<<"$out")" = 0 ] && grep -q "TP010" <<<"$out" || { echo "#   $out"; return 1; }
	[ "$(state mallory)" = "0|f|f|1" ]
}
check "verdict: login_result on the id of a rolled-back attempt reveals nothing (TP010)" rolled_back_id
other_role() {
	local id
	id=$(pg_as host_a -c "SELECT totp.login_attempt('$O', 'mallory', '{000000}')")
	! pg_as host_b -c "SELECT outcome FROM totp.login_result('$id')" >/dev/null 2>&1 &&
	[ "$(pg_as host_a -c "SELECT outcome FROM totp.login_result('$id')")" = wrong ] &&
	! pg_as host_a -c "SELECT outcome FROM totp.login_result('$id')" >/dev/null 2>&1
}
check "verdict: a result is its host's only, and given once" other_role
check "verdict: the admin role cannot ask for a result" \
	eval '! out=$(pg_as ctl -c "SELECT totp.login_result(gen_random_uuid())" 2>&1) &&
	      grep -q "permission denied" <<<"$out"'
expired() {
	local before after
	q "INSERT INTO totp.pending (id, xid, role, created)
	   SELECT gen_random_uuid(), pg_current_xact_id(), 'host_a',
		  clock_timestamp() - interval '11 minutes' FROM generate_series(1, 40)" >/dev/null
	before=$(q "SELECT count(*) FROM totp.pending")
	pg_as host_a -c "SELECT totp.login_attempt('$O', 'mallory', '{000000}')" >/dev/null
	pg_as host_a -c "SELECT totp.login_attempt('$O', 'mallory', '{000000}')" >/dev/null
	after=$(q "SELECT count(*) FROM totp.pending")
	[ "$after" -le $(( before + 2 - 30 )) ] || { echo "#   pending rows: $before, then $after"; return 1; }
}
check "verdict: uncollected attempts expire: each attempt removes older ones than it adds" expired

# ---- a host holding a row lock: the others fail closed, quickly
mk victim
hold_lock() {
	local t0 ms out
	# a stolen host's open transaction with an attempt in it
	{ echo "BEGIN;"; attempt_sql victim 000000; echo "SELECT pg_sleep(20);"; } |
		pg_as host_a >/dev/null 2>&1 &
	local holder=$!
	for _ in $(seq 100); do
		[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'
			AND state = 'active' AND query LIKE '%pg_sleep%'")" = 1 ] && break
		sleep 0.05
	done
	t0=$(date +%s%N)
	out=$({ attempt_sql victim "$(code_now)"; echo "$result_sql"; } | pg_as host_b -v VERBOSITY=verbose 2>&1)
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	kill "$holder" 2>/dev/null
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'host_a'" >/dev/null
	wait "$holder" 2>/dev/null
	grep -q "55P03" <<<"$out" && [ "$(verdicts <<<"$out")" = 0 ] && [ "$ms" -lt 4000 ] ||
		{ echo "#   after $ms ms: $out" | head -n 3; return 1; }
	# once that host is gone the right code is accepted
	out=$({ attempt_sql victim "$(code_now)"; echo "$result_sql"; } | pg_as host_b 2>&1)
	[ "$out" = totp ] || { echo "#   then: $out"; return 1; }
}
check "lock: a host holding a profile's row locked: another host's login fails closed within 4 s" hold_lock
