#!/bin/bash
# A stolen SSH host against the fleet store's two-transaction login
# (sql/005_login_charge.sql): totp.login_charge pays for a guess, and
# totp.login_verdict judges only a charge whose transaction is committed
# and durable.  The host holds a role in totp_login, runs whatever
# transactions it likes, and reads every statistic, WAL position, error and
# timing its own session shows.  For each channel of the attacker's
# playbook this suite compares what the host sees with a right code and a
# wrong one (a TOTP code against a wrong 6-digit one, the emergency code
# against a wrong 8-digit one) while the charge is NOT committed, and asks
# that the two look the same and that no verdict comes out; then that the
# profile's failure count shows every guess that got a verdict as charged.
# max_failures = 3 (totp.set_policy(1, 3, 300)), RFC 4226's key.
#
# Noise: WAL positions move by a page header (24 bytes) when the WAL
# crosses a page, and a page prune, a B-tree split or a full-page image
# now and then adds a record that has nothing to do with the code.  So each
# probe runs K rounds, interleaved (wrong, right, wrong 8-digit, emergency),
# and what a right code shows must equal what a wrong one shows in at
# least one round of each: a leak that shows in every round (a decision's
# own UPDATE, a verdict) is still caught, noise in a few rounds is not
# taken for one; and each trial's own output must show the verdict's
# refusal (TP010), so a verdict that comes out in some rounds only is
# caught too.  The function probe also runs on COMMITTED charges (a
# positive control): there its observations must tell right from wrong,
# so the probe is known to see a decision when there is one.  Run time
# about 50 s; the slow parts are the lock waits (2 s lock_timeout) and the
# durability waits (1 s).  KEEP=1 keeps the attacker's scripts and outputs.
set -u
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root, Debian's postgresql and oathtool (scripts/install-deps.sh)" \
	"command -v oathtool"
# a quiet server: no autovacuum or timed checkpoint writing WAL between a
# probe's two readings of its position (noise, not a defence)
PG_SERVER_OPTS="-c autovacuum=off -c checkpoint_timeout=1d -c max_wal_size=1GB"
pg_suite_up
# no session of this suite waits for ever (a commit waiting for a standby
# that is not there included)
export PGOPTIONS="-c statement_timeout=30s"
pg_login_role host_a totp_login
pg_login_role host_b totp_login
pg_login_role ctl totp_admin

O=11111111-2222-4333-8444-555555555555
KEY_HEX=3132333435363738393031323334353637383930     # RFC 4226's key
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678          # the profile's one emergency code
EC_WRONG=87654321     # an 8-digit code that is not
WRONG=000000
K=4                   # rounds of each probe
W=$(mktemp -d /tmp/tp-pgstolen.XXXXXX)
# KEEP=1: keep the attacker's scripts and outputs (the folder is printed)
trap "trap '' INT TERM; "'[ "${KEEP:-0}" = 1 ] && echo "# kept $W" || rm -rf "$W"; pg_stop' EXIT

q() { pg_psql -c "$1"; }
mk() {   # mk ACCOUNT: a fresh profile, the RFC key, one emergency code
	q "DELETE FROM totp.profiles WHERE owner_uuid = '$O' AND account = '$1'" >/dev/null
	q "SELECT totp.admin_import('$O', '$1', '\\x$KEY_HEX', 'SHA1', 6, 30,
	   '', true, 1, -1, 0, 0, '\\x$SALT_HEX',
	   ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1')], '{f}')" >/dev/null
}
db_now() { q "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint"; }
code_now() { oathtool --totp -N "@$(db_now)" "$KEY_HEX"; }
# failures | locked now | a step accepted | emergency codes left
state() { pg_as ctl -c "SELECT failures, locked_until IS NOT NULL, last_step > -1,
	emergency_left FROM totp.admin_show('$O', '$1')"; }
nonce() { cat /proc/sys/kernel/random/uuid; }
# the attacker's session: errors with their SQLSTATE, CONTEXT and LOCATION
atk() { pg_as host_a -v ON_ERROR_STOP=0 -v VERBOSITY=verbose "$@" 2>&1 | sed '/^$/d'; }
# what differs between two runs whatever the code: nonces, temp schemas, pids
norm() { sed -E 's/^psql:[^:]*:[0-9]+: //; s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/NONCE/g;
	s/pg_temp_[0-9]+/pg_temp/g; s/(PID|process) [0-9]+/\1 P/g'; }
# a verdict in psql's output ("totp|0|1"), or the probes' "verdict=totp"
OUTCOMES='totp|emergency|replay|spent|wrong|locked|no_profile|disabled'
leaks() { grep -cE "^($OUTCOMES)\||verdict=($OUTCOMES)" "$@"; }
charge() {   # charge NONCE ACCOUNT CODES: the call, as SQL
	echo "SELECT totp.login_charge('$1', '$O', '$2', '{$3}');"
}
verdict() { echo "SELECT outcome, matched, emergency_left FROM totp.login_verdict('$1');"; }
say() { sed 's/^/#   /' | head -n "${2:-6}"; }
# Between its charge and its verdict the attacker waits for the other
# traffic (the flusher below) to commit a later transaction: then its own
# transaction is in the past of the verdict's snapshot (pg_current_snapshot
# leaves out the caller's own xid), and only the commit check
# (pg_xact_status) still stands between the two.
PAUSE="SELECT pg_sleep(0.03);"

q "SELECT totp.set_policy(1, 3, 300)" >/dev/null

# ---- the driver --------------------------------------------------------
# rounds NAME ACCOUNT TRIAL_FN: K rounds of four trials, interleaved, each
# trial's SQL printed by "TRIAL_FN CODE NONCE" and run in ONE attacker
# session (so caches are warm alike; a first round is run and dropped).
# Each trial's output, normalised and on one line, lands in
# $W/NAME.{W,R,X,E} (one line a round).
rounds() {
	local name=$1 acct=$2 fn=$3 r k c code script="$W/$1.sql"
	: >"$script"
	c=$(code_now)
	for r in $(seq 0 "$K"); do
		for k in W R X E; do
			case $k in W) code=$WRONG ;; R) code=$c ;; X) code=$EC_WRONG ;; E) code=$EC1 ;; esac
			echo "\\echo @@ $r $k"
			"$fn" "$code" "$(nonce)" "$acct"
		done
	done >>"$script"
	atk -f "$script" | norm >"$W/$name.out"
	for k in W R X E; do
		awk -v k="$k" '
			/^@@ / { if (cur != "") print cur; cur = ""; on = ($2 > 0 && $3 == k); next }
			on { cur = cur $0 " ¶ " }
			END { if (cur != "") print cur }' "$W/$name.out" >"$W/$name.$k"
	done
}
# alike NAME: right and wrong look the same in at least one round each, and
# the trials ran (each kind has K rounds of output)
alike() {
	local n=$1 k a b
	for k in W R X E; do
		[ "$(grep -c . "$W/$n.$k")" = "$K" ] ||
			{ echo "#   $n: $(grep -c . "$W/$n.$k") rounds of $k, not $K"; say <"$W/$n.out"; return 1; }
	done
	for pair in "W R" "X E"; do
		set -- $pair
		if [ -z "$(comm -12 <(sort -u "$W/$n.$1") <(sort -u "$W/$n.$2"))" ]; then
			echo "#   $n: a wrong code ($1) and a right one ($2) look different:"
			echo "#   $1: $(head -n 1 "$W/$n.$1" | cut -c1-600)"
			echo "#   $2: $(head -n 1 "$W/$n.$2" | cut -c1-600)"
			return 1
		fi
	done
}
# differ NAME: the positive control, right and wrong never look the same
differ() {
	local n=$1
	[ "$(grep -c . "$W/$n.W")" = "$K" ] && [ "$(grep -c . "$W/$n.R")" = "$K" ] &&
	[ -z "$(comm -12 <(sort -u "$W/$n.W") <(sort -u "$W/$n.R"))" ] ||
		{ echo "#   $n: the probe does not tell a committed right code from a wrong one"; say <"$W/$n.out"; return 1; }
}
# nothing_kept ACCOUNT FILE: no verdict in FILE, the profile untouched
nothing_kept() {
	local v
	v=$(leaks "$2")
	[ "$v" = 0 ] || { echo "#   $v verdicts leaked:"; grep -m 3 -E "$OUTCOMES" "$2" | say; return 1; }
	[ "$(state "$1")" = "0|f|f|1" ] || { echo "#   state of $1: $(state "$1")"; return 1; }
}
# every_trial NAME PATTERN: each trial's output matches PATTERN (the probe
# ran as meant in every round: a verdict that came out in one round, and
# so left out an error, is caught even where another round looks alike)
every_trial() {
	local k bad
	for k in W R X E; do
		bad=$(grep -vE -- "$2" "$W/$1.$k" | head -n 1)
		[ -z "$bad" ] || { echo "#   $1: a trial ($k) without \"$2\":"; echo "#   ${bad:0:600}"; return 1; }
	done
}
# uncommitted NAME ACCOUNT TRIAL_FN [PATTERN]: the usual channel check; each
# trial's output (on one line) must match PATTERN
uncommitted() {
	local name=$1 acct=$2 fn=$3 pat=${4:-.}
	mk "$acct"
	rounds "$name" "$acct" "$fn"
	nothing_kept "$acct" "$W/$name.out" && every_trial "$name" "$pat" && alike "$name"
}

# ---- the attacker's own function: every number its session shows -------
# pg_temp.probe(nonce, account, code, charge): the charge (unless charge
# is false: the caller made it), then the verdict with its error caught,
# and the WAL positions around both, the verdict's error (SQLSTATE,
# message, CONTEXT), every pg_stat_get_xact_* counter of every relation
# and function of schema totp (but the *_time ones), the rows of
# pg_stat_xact_user_tables, pg_stat_xact_user_indexes and
# pg_stat_xact_user_functions for them, and the EXPLAIN (ANALYZE, WAL) of
# both calls.
PROBE_FN=$(cat <<'EOF'
CREATE FUNCTION pg_temp.snap() RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE
	j jsonb := '{}';
	f record;
	rel record;
	v text;
BEGIN
	FOR rel IN SELECT c.oid, c.relname FROM pg_class c
		   WHERE c.relnamespace = 'totp'::regnamespace LOOP
		FOR f IN SELECT p.proname FROM pg_proc p
			 WHERE p.proname LIKE 'pg\_stat\_get\_xact\_%'
			   AND p.proname NOT LIKE '%time' AND p.proname NOT LIKE '%function%'
			   AND p.pronargs = 1 AND p.proargtypes[0] = 'oid'::regtype LOOP
			EXECUTE format('SELECT %I($1)::text', f.proname) INTO v USING rel.oid;
			j := j || jsonb_build_object(rel.relname || '.' || substr(f.proname, 18), v);
		END LOOP;
	END LOOP;
	FOR f IN SELECT p.oid, p.proname FROM pg_proc p
		 WHERE p.pronamespace = 'totp'::regnamespace LOOP
		j := j || jsonb_build_object('calls.' || f.oid::regprocedure::text,
					     coalesce(pg_stat_get_xact_function_calls(f.oid), 0)::text);
	END LOOP;
	FOR rel IN SELECT * FROM pg_stat_xact_user_tables t WHERE t.schemaname = 'totp' LOOP
		SELECT j || coalesce(jsonb_object_agg('view.' || rel.relname || '.' || e.key, e.value), '{}')
		INTO j FROM jsonb_each_text(to_jsonb(rel)) e
		WHERE e.key NOT IN ('relid', 'schemaname', 'relname');
	END LOOP;
	FOR rel IN SELECT * FROM pg_stat_xact_user_functions t WHERE t.schemaname = 'totp' LOOP
		j := j || jsonb_build_object('fview.' || rel.funcname, rel.calls::text);
	END LOOP;
	RETURN j;
END $f$;
CREATE FUNCTION pg_temp.probe(n uuid, acct text, code text, do_charge boolean)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	o uuid := '11111111-2222-4333-8444-555555555555';
	l0 pg_lsn; l1 pg_lsn; l2 pg_lsn; l3 pg_lsn;
	s0 jsonb; s1 jsonb;
	out text := '';
	line text;
	st text; msg text; ctx text;
	d text;
BEGIN
	s0 := pg_temp.snap();
	l0 := pg_current_wal_insert_lsn();
	IF do_charge THEN
		PERFORM totp.login_charge(n, o, acct, ARRAY[code]);
	END IF;
	l1 := pg_current_wal_insert_lsn();
	IF do_charge THEN
		PERFORM pg_sleep(0.03);       -- see PAUSE
	END IF;
	l2 := pg_current_wal_insert_lsn();
	BEGIN
		SELECT x.outcome::text INTO line FROM totp.login_verdict(n) x;
		out := out || 'verdict=' || line;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
					ctx = PG_EXCEPTION_CONTEXT;
		out := out || 'error=' || st || ' ' || msg || ' / ' || replace(ctx, E'\n', ' / ');
	END;
	l3 := pg_current_wal_insert_lsn();
	out := out || format(' wal_charge=%s wal_verdict=%s', l1 - l0, l3 - l2);
	s1 := pg_temp.snap();
	-- what changed, and by how much
	SELECT string_agg(format('%s=%s', e.key,
		CASE WHEN e.value ~ '^-?[0-9]+$' AND (s0 ->> e.key) ~ '^-?[0-9]+$'
		     THEN (e.value::numeric - (s0 ->> e.key)::numeric)::text
		     ELSE coalesce(s0 ->> e.key, '-') || '>' || e.value END), ' ' ORDER BY e.key)
	INTO d FROM jsonb_each_text(s1) e
	WHERE e.value IS DISTINCT FROM s0 ->> e.key;
	RETURN out || ' ' || coalesce(d, '');
END $f$;
EOF
)

# ---- other traffic: a session commits a write every 20 ms (the superuser,
# on a one-row table of its own, so the totp tables do not grow under the
# probes), and so flushes the WAL an uncommitted charge wrote within 20
# ms, as any busy server does.  Without it a verdict given inside the
# charge's own transaction would still wait for that WAL to be flushed
# (totp.durable, at most 1 s) and mostly fail: with it, what these checks
# see is the commit check alone.
flusher_start() {
	q "CREATE TABLE IF NOT EXISTS public.flush_t (x integer);
	   INSERT INTO public.flush_t VALUES (0)" >/dev/null
	while :; do
		echo "UPDATE public.flush_t SET x = x + 1;"
		echo "SELECT pg_sleep(0.02);"
	done | PGAPPNAME=tp-flusher pg_psql >/dev/null 2>&1 &
	FLUSHER=$!
}
flusher_stop() {
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	   WHERE application_name = 'tp-flusher'" >/dev/null
	kill "$FLUSHER" 2>/dev/null
	wait "$FLUSHER" 2>/dev/null
}
flusher_start

# ---- 1: the review's WAL probe -----------------------------------------
wal_explain() {   # CODE NONCE ACCOUNT
	local x="EXPLAIN (ANALYZE, WAL, COSTS OFF, TIMING OFF, SUMMARY OFF)"
	echo "BEGIN;"
	echo "$x $(charge "$2" "$3" "$1")"
	echo "$PAUSE"
	echo "$x SELECT * FROM totp.login_verdict('$2');"
	echo "ROLLBACK;"
	echo "BEGIN;"
	echo "$x SELECT totp.login_charge('$2', '$O', '$3', '{$1}'), pg_sleep(0.03), (totp.login_verdict('$2')).outcome;"
	echo "ROLLBACK;"
}
check "wal: EXPLAIN (ANALYZE, WAL) of login_charge and login_verdict, rolled back: right = wrong, no verdict" \
	uncommitted explain s_explain wal_explain "WAL: records=.*TP010.*TP010"
wal_lsn() {   # pg_current_wal_insert_lsn() deltas around the calls
	echo "BEGIN;"
	echo "SELECT pg_current_wal_insert_lsn() AS l0 \\gset"
	charge "$2" "$3" "$1"
	echo "SELECT pg_current_wal_insert_lsn() AS l1 \\gset"
	echo "$PAUSE"
	echo "SELECT pg_current_wal_insert_lsn() AS l2 \\gset"
	echo "SAVEPOINT v;"
	verdict "$2"
	echo "ROLLBACK TO v;"
	echo "SELECT 'lsn', pg_current_wal_insert_lsn() - :'l2', :'l1'::pg_lsn - :'l0';"
	echo "ROLLBACK;"
}
check "wal: pg_current_wal_insert_lsn() around the calls, rolled back: right = wrong, no verdict" \
	uncommitted lsn s_lsn wal_lsn "TP010.*lsn\|"

# ---- 2: the lock-state probe: one guess, max_failures - 1 empty attempts,
# one more, in one transaction (and in subtransactions)
lock_state() {
	local n1=$2 n2 n3 n4
	n2=$(nonce) n3=$(nonce) n4=$(nonce)
	local st="pg_stat_get_xact_tuples_updated('totp.profiles'::regclass) AS u,
	      pg_stat_get_xact_tuples_hot_updated('totp.profiles'::regclass) AS h,
	      pg_stat_get_xact_tuples_inserted('totp.charges'::regclass) AS i,
	      pg_stat_get_xact_tuples_fetched('totp.profiles'::regclass) AS f,
	      pg_stat_get_xact_numscans('totp.profiles_pkey'::regclass) AS s"
	echo "BEGIN;"
	echo "SELECT $st \\gset b_"
	charge "$n1" "$3" "$1"
	charge "$n2" "$3" ""
	echo "SAVEPOINT a;"
	charge "$n3" "$3" ""
	echo "RELEASE a;"
	echo "SELECT $st \\gset a_"
	echo "SELECT 'after3', :a_u - :b_u, :a_h - :b_h, :a_i - :b_i, :a_f - :b_f, :a_s - :b_s;"
	echo "SAVEPOINT b;"
	charge "$n4" "$3" ""
	echo "SELECT $st \\gset a_"
	echo "SELECT 'after4', :a_u - :b_u, :a_h - :b_h, :a_i - :b_i, :a_f - :b_f, :a_s - :b_s;"
	echo "ROLLBACK TO b;"
	echo "$PAUSE"
	for n in "$n1" "$n4"; do
		echo "SAVEPOINT c;"
		verdict "$n"
		echo "ROLLBACK TO c;"
	done
	echo "SELECT 'lock', (totp.login_begin('$O', '$3')).*, totp.login_profile('$O', '$3');"
	echo "ROLLBACK;"
}
check "lock: a guess, 2 empty attempts, one more, in one rolled-back transaction: right = wrong" \
	uncommitted lockstate s_lock lock_state "after4\|.*TP010.*TP010"

# ---- 3 and 4: the attacker's own function (pg_temp), in a transaction
# rolled back, in a subtransaction, in a DO block
own_fn() {
	echo "BEGIN;"
	echo "SELECT 'probe', pg_temp.probe('$2', '$3', '$1', true);"
	echo "ROLLBACK;"
}
own_fn_sub() {
	echo "BEGIN;"
	echo "SAVEPOINT s;"
	echo "SELECT 'probe', pg_temp.probe('$2', '$3', '$1', true);"
	echo "ROLLBACK TO s;"
	echo "ROLLBACK;"
}
probe_trial() {   # the probe function, made in the session's first trial
	if [ ! -e "$W/probe.made" ]; then echo "$PROBE_FN;"; : >"$W/probe.made"; fi
	"$PROBE_INNER" "$@"
}
own_channel() {   # own_channel NAME ACCOUNT TRIAL_FN
	local name=$1 acct=$2
	rm -f "$W/probe.made"
	PROBE_INNER=$3
	mk "$acct"
	rounds "$name" "$acct" probe_trial
	nothing_kept "$acct" "$W/$name.out" &&
		every_trial "$name" "error=TP010 .* profiles.tuples_updated=1 " && alike "$name"
}
check "stats: every pg_stat_get_xact_* counter, pg_stat_xact_user_* row, WAL delta and error of an uncommitted charge and verdict: right = wrong" \
	own_channel probe s_probe own_fn
check "stats: the same probe, charge and verdict in a SAVEPOINT rolled back: right = wrong" \
	own_channel probe_sub s_probesub own_fn_sub

# the positive control: the same probe after a COMMITTED charge sees the
# decision (the verdict's UPDATE, its WAL), so a leak would show in it
committed_fn() {
	echo "$(charge "$2" "$3" "$1")"
	echo "BEGIN;"
	echo "SELECT 'probe', pg_temp.probe('$2', '$3', '$1', false);"
	echo "ROLLBACK;"
}
control() {
	rm -f "$W/probe.made"
	PROBE_INNER=committed_fn
	mk s_control
	# each round's charge is committed: refunded by nothing (the verdicts
	# are rolled back), so keep the policy from locking the profile
	q "SELECT totp.set_policy(1, 0, 300)" >/dev/null
	rounds control s_control probe_trial
	q "SELECT totp.set_policy(1, 3, 300)" >/dev/null
	grep -q "verdict=totp" "$W/control.R" && grep -q "verdict=wrong" "$W/control.W" ||
		{ echo "#   no verdicts:"; say <"$W/control.out"; return 1; }
	# the verdict's own traces, without the verdict itself, still differ
	sed -E 's/verdict=[a-z_]+//' "$W/control.W" >"$W/control2.W"
	sed -E 's/verdict=[a-z_]+//' "$W/control.R" >"$W/control2.R"
	cp "$W/control.out" "$W/control2.out"
	differ control2
}
check "stats: control: the same probe on a committed charge tells right from wrong without the verdict" control

do_block() {
	echo "BEGIN;"
	echo "DO \$\$ BEGIN PERFORM totp.login_charge('$2', '$O', '$3', '{$1}'); PERFORM pg_sleep(0.03);
	      RAISE NOTICE 'v=%', (SELECT outcome FROM totp.login_verdict('$2')); END \$\$;"
	echo "ROLLBACK;"
	echo "BEGIN;"
	echo "DO \$\$ DECLARE v text; BEGIN PERFORM totp.login_charge('$2', '$O', '$3', '{$1}'); PERFORM pg_sleep(0.03);
	      BEGIN SELECT outcome INTO v FROM totp.login_verdict('$2');
	      EXCEPTION WHEN OTHERS THEN v := SQLSTATE || ' ' || SQLERRM; END;
	      RAISE NOTICE 'v=%', v; END \$\$;"
	echo "ROLLBACK;"
}
check "tx: DO blocks (the verdict's error caught or not), rolled back: right = wrong" \
	uncommitted do s_do do_block "TP010.*v=TP010"

sql_fn() {   # SQL and plpgsql functions of the attacker's own, in pg_temp
	echo "BEGIN;"
	echo "CREATE FUNCTION pg_temp.guess(c text) RETURNS totp.login_outcome LANGUAGE sql AS
	      \$\$ SELECT totp.login_charge('$2', '$O', '$3', ARRAY[c]); SELECT pg_sleep(0.03);
		  SELECT outcome FROM totp.login_verdict('$2') \$\$;"
	echo "SELECT pg_temp.guess('$1');"
	echo "ROLLBACK;"
}
check "tx: a SQL function of the attacker's own (pg_temp) charging and asking, rolled back: right = wrong" \
	uncommitted sqlfn s_sqlfn sql_fn "TP010"

cursor() {
	echo "BEGIN;"
	charge "$2" "$3" "$1"
	echo "$PAUSE"
	echo "DECLARE c CURSOR FOR SELECT outcome FROM totp.login_verdict('$2');"
	echo "FETCH c;"
	echo "ROLLBACK;"
	# a holdable cursor runs its query at COMMIT, inside the transaction
	echo "BEGIN;"
	charge "$2" "$3" "$1"
	echo "$PAUSE"
	echo "DECLARE h CURSOR WITH HOLD FOR SELECT outcome FROM totp.login_verdict('$2');"
	echo "COMMIT;"
	echo "FETCH h;"
	echo "CLOSE h;"
}
check "tx: a cursor on login_verdict, and one WITH HOLD committed: right = wrong, nothing kept" \
	uncommitted cursor s_cursor cursor "TP010.*TP010"

multi_c() {   # several statements in one query string, as psql -c sends them
	local c n code out="" form
	mk s_multic
	c=$(code_now)
	for form in 1 2 3; do
		for code in $WRONG "$c" $EC_WRONG $EC1; do
			n=$(nonce)
			case $form in
			1) q1="SELECT totp.login_charge('$n', '$O', 's_multic', '{$code}');
				SELECT outcome FROM totp.login_verdict('$n')" ;;
			2) q1="BEGIN; SELECT totp.login_charge('$n', '$O', 's_multic', '{$code}');
				SELECT outcome FROM totp.login_verdict('$n'); ROLLBACK" ;;
			3) q1="SELECT totp.login_charge('$n', '$O', 's_multic', '{$code}');
				SELECT outcome FROM totp.login_verdict('$n'); SELECT 1/0" ;;
			esac
			out="$out$form: $(atk -c "$q1" | norm | tr '\n' ' ')
"
		done
	done
	printf '%s' "$out" >"$W/multic.out"
	[ "$(sort -u <<<"$out" | grep -c .)" = 3 ] && [ "$(grep -c TP010 <<<"$out")" = 12 ] ||
		{ echo "#   outputs:"; say <<<"$out" 12; return 1; }
	nothing_kept s_multic "$W/multic.out"
}
check "tx: charge and verdict in one query string (implicit transaction, BEGIN..ROLLBACK, a; b; c): right = wrong" multi_c

read_only() {
	echo "BEGIN READ ONLY;"
	charge "$2" "$3" "$1"
	verdict "$2"
	echo "ROLLBACK;"
	echo "SET default_transaction_read_only = on;"
	charge "$2" "$3" "$1"
	verdict "$2"
	echo "RESET default_transaction_read_only;"
}
check "tx: a read-only transaction: one error for right and wrong, CONTEXT included" \
	uncommitted ro s_ro read_only "25006"

tiny_timeout() {
	echo "BEGIN;"
	charge "$2" "$3" "$1"
	echo "SET LOCAL statement_timeout = 1;"
	echo "SELECT outcome FROM totp.login_verdict('$2') CROSS JOIN pg_sleep(0.002);"
	echo "ROLLBACK;"
}
check "tx: statement_timeout interrupting the verdict: right = wrong" \
	uncommitted timeout s_timeout tiny_timeout "57014|TP010"

# ---- cancel, from a second session of the attacker, while the statement
# with the verdict runs (a pg_sleep in front keeps it running)
cancel_one() {   # cancel_one ACCOUNT CODE: the attacker's output
	local n bg out
	n=$(nonce)
	# the cancel lands within the verdict's 5 s sleep: a psql or two after
	# it began, well under 1 s on a loaded machine (bound: 100 tries)
	(
		for _ in $(seq 100); do
			r=$(pg_as host_a -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
				WHERE usename = 'host_a' AND pid <> pg_backend_pid()
				AND query LIKE '%login_verdict%' AND wait_event = 'PgSleep'" 2>/dev/null)
			[ "$r" = 1 ] && exit 0
			sleep 0.05
		done
		echo "# cancel_one: no verdict statement found to cancel in 100 tries" >&2
	) &
	bg=$!
	# the verdict runs after the sleep, unless the cancel comes first
	out=$({ echo "BEGIN;"; charge "$n" "$1" "$2"
		echo "SELECT (SELECT outcome FROM totp.login_verdict('$n')) FROM pg_sleep(5);"
		echo "ROLLBACK;"; } | atk | norm)
	wait "$bg"
	echo "$out"
}
cancelled() {
	local c right wrong
	mk s_cancel
	wrong=$(cancel_one s_cancel $WRONG)
	c=$(code_now)
	right=$(cancel_one s_cancel "$c")
	printf '%s\n' "$right" "$wrong" >"$W/cancel.out"
	grep -q 57014 <<<"$right" && [ "$right" = "$wrong" ] ||
		{ echo "#   right:"; say <<<"$right"; echo "#   wrong:"; say <<<"$wrong"; return 1; }
	nothing_kept s_cancel "$W/cancel.out"
}
check "tx: the statement with the verdict cancelled from a second session: right = wrong" cancelled

# ---- PREPARE TRANSACTION, disabled (the default)
prepared_off() {
	echo "BEGIN;"
	charge "$2" "$3" "$1"
	echo "PREPARE TRANSACTION 'g$2';"
	verdict "$2"
	echo "ROLLBACK PREPARED 'g$2';"
}
check "tx: PREPARE TRANSACTION with max_prepared_transactions = 0: it fails, right = wrong" \
	uncommitted prep0 s_prep0 prepared_off "disabled.*TP010"

# ---- 5: errors.  TP010 for an uncommitted, a rolled-back, another role's
# and an expired charge: one message, SQLSTATE, CONTEXT and LOCATION for
# right and wrong codes, and for all four
errors() {
	local c n kind code out a
	mk s_err
	c=$(code_now)
	: >"$W/errors.out"
	for code in $WRONG "$c" $EC_WRONG $EC1; do
		n=$(nonce)
		a=$({ echo "BEGIN;"; charge "$n" s_err "$code"; echo "$PAUSE"; verdict "$n"; echo "ROLLBACK;"; } | atk | norm)
		echo "uncommitted $code: $(grep -v '^$' <<<"$a" | tr '\n' ' ')" >>"$W/errors.out"
		n=$(nonce)
		a=$({ echo "BEGIN;"; charge "$n" s_err "$code"; echo "ROLLBACK;"; verdict "$n"; } | atk | norm)
		echo "rolledback $code: $(grep -v '^$' <<<"$a" | tr '\n' ' ')" >>"$W/errors.out"
	done
	[ "$(state s_err)" = "0|f|f|1" ] || { echo "#   state: $(state s_err)"; return 1; }
	# committed charges, asked by host_b
	for code in $WRONG "$c" $EC_WRONG $EC1; do
		mk s_err
		n=$(nonce)
		atk -c "$(charge "$n" s_err "$code")" >/dev/null
		a=$(pg_as host_b -v VERBOSITY=verbose -c "$(verdict "$n")" 2>&1 | norm)
		echo "otherrole $code: $(tr '\n' ' ' <<<"$a")" >>"$W/errors.out"
		[ "$(state s_err)" = "1|f|f|1" ] || { echo "#   state after $code: $(state s_err)"; return 1; }
		# the nonce was good: its own host gets the verdict
		a=$(atk -c "$(verdict "$n")")
		case $code in
		"$c") [ "$a" = "totp|0|1" ] ;; "$EC1") [ "$a" = "emergency|0|0" ] ;; *) [ "$a" = "wrong||1" ] ;;
		esac || { echo "#   host_a's own verdict for $code: $a"; return 1; }
	done
	# expired: charges made 61 s ago (as the superuser), committed, durable
	mk s_err
	local then=$(( $(db_now) - 61 )) old
	old=$(oathtool --totp -N "@$then" "$KEY_HEX")
	for code in $WRONG "$old" $EC_WRONG $EC1; do
		n=$(nonce)
		q "INSERT INTO totp.charges (role, nonce, xid, at, owner_uuid, account, generation,
			outcome, totp_hashes, ec_hashes)
		   SELECT 'host_a', '$n', pg_current_xact_id(), to_timestamp($then), owner_uuid, account,
			generation, NULL, ARRAY[sha256('$code')],
			ARRAY[CASE WHEN '$code' ~ '^[0-9]{8}\$' THEN totp.emergency_hash(ec_salt, '$code')
			      ELSE '\\x'::bytea END]
		   FROM totp.profiles WHERE owner_uuid = '$O' AND account = 's_err'" >/dev/null
		a=$(atk -c "$(verdict "$n")" | norm)
		echo "expired $code: $(tr '\n' ' ' <<<"$a")" >>"$W/errors.out"
	done
	[ "$(leaks "$W/errors.out")" = 0 ] || { echo "#   verdicts:"; grep -E "$OUTCOMES" "$W/errors.out" | say; return 1; }
	# one error text (but the case and the code in front) for all 16
	out=$(sed -E 's/^[a-z]+ [0-9]+: //; s/^.*(ERROR:)/\1/' "$W/errors.out" | sort -u)
	[ "$(grep -c . <<<"$out")" = 1 ] && grep -q "TP010" <<<"$out" ||
		{ echo "#   not one TP010 error:"; say <"$W/errors.out" 16; return 1; }
}
check "errors: a verdict on an uncommitted, rolled-back, other host's or expired charge: one TP010, right = wrong" errors
flusher_stop

# ---- 5: lock waits.  The attacker's second session holds the profile's
# row (an uncommitted charge of its own) while the first asks a verdict.
hold_row() {   # hold_row ACCOUNT SECONDS: a background session holding the row
	{ echo "BEGIN;"; charge "$(nonce)" "$1" ""; echo "SELECT pg_sleep($2);"; echo "ROLLBACK;"; } |
		pg_as host_b >/dev/null 2>&1 &
	HOLDER=$!
	for _ in $(seq 100); do
		[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_b'
			AND wait_event = 'PgSleep'")" = 1 ] && return 0
		sleep 0.05
	done
	return 1
}
release_row() {
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'host_b'" >/dev/null
	wait "$HOLDER" 2>/dev/null
}
lock_wait_uncommitted() {
	local c n code out=""
	mk s_wait
	hold_row s_wait 30 || { echo "#   the holder did not start"; release_row; return 1; }
	c=$(code_now)
	for code in $WRONG "$c"; do
		n=$(nonce)
		# the charge waits for the row (2 s, lock_timeout), then the verdict
		out="$out$({ echo "BEGIN;"; charge "$n" s_wait "$code"; verdict "$n"; echo "ROLLBACK;"; } |
			atk | norm | tr '\n' ' ')
"
	done
	release_row
	printf '%s' "$out" >"$W/wait.out"
	[ "$(sort -u <<<"$out" | grep -c .)" = 1 ] && grep -q 55P03 <<<"$out" ||
		{ echo "#   outputs:"; say <<<"$out"; return 1; }
	nothing_kept s_wait "$W/wait.out"
}
check "lock: a charge waiting on the attacker's own held row: one lock error for right and wrong" \
	lock_wait_uncommitted
lock_wait_committed() {
	# a committed (paid) guess, its verdict asked while the row is held:
	# whatever the answer (the right code's acceptance waits, 55P03, a
	# wrong code's refusal does not), the guess is charged, and asking
	# again once the row is free gives the verdict
	local c nw nr a b
	mk s_wait
	c=$(code_now)
	nw=$(nonce) nr=$(nonce)
	atk -c "$(charge "$nw" s_wait $WRONG)" -c "$(charge "$nr" s_wait "$c")" >/dev/null
	[ "$(state s_wait)" = "2|f|f|1" ] || { echo "#   state: $(state s_wait)"; return 1; }
	hold_row s_wait 30 || { echo "#   the holder did not start"; release_row; return 1; }
	a=$(atk -c "$(verdict "$nw")" -c "$(verdict "$nr")")
	release_row
	[ "$(state s_wait)" = "2|f|f|1" ] || { echo "#   state while held: $(state s_wait) ($a)"; return 1; }
	b=$(atk -c "$(verdict "$nr")")
	[ "$b" = "totp|0|1" ] && [ "$(state s_wait)" = "0|f|t|1" ] ||
		{ echo "#   then: $b, state $(state s_wait)"; return 1; }
}
check "lock: a committed guess's verdict while the row is held: charged whatever it says" lock_wait_committed

# ---- 4, committed charges the attacker plays with
# synchronous_commit = off for the charge: a verdict, when it comes, is of
# a charge that is durable and counted
async_commit() {
	local c n a b i
	for i in 1 2 3; do
		mk s_async
		c=$(code_now)
		n=$(nonce)
		a=$(atk -c "SET synchronous_commit = off" -c "BEGIN" -c "$(charge "$n" s_async $WRONG)" \
			-c "COMMIT" -c "$(verdict "$n")")
		case $a in
		"wrong||1") ;;
		*TP010*) a=$(atk -c "$(verdict "$n")") ;;   # not durable yet: ask again
		*) echo "#   $a"; return 1 ;;
		esac
		[ "$a" = "wrong||1" ] && [ "$(state s_async)" = "1|f|f|1" ] ||
			{ echo "#   wrong code: $a, state $(state s_async)"; return 1; }
		n=$(nonce)
		b=$(atk -c "SET synchronous_commit = off" -c "BEGIN" -c "$(charge "$n" s_async "$c")" \
			-c "COMMIT" -c "$(verdict "$n")")
		[ "$b" = "totp|0|1" ] || b=$(atk -c "$(verdict "$n")")
		[ "$b" = "totp|0|1" ] && [ "$(state s_async)" = "0|f|t|1" ] ||
			{ echo "#   right code: $b, state $(state s_async)"; return 1; }
	done
	# and what the verdict waits for: a WAL position not flushed yet is not durable
	[ "$(q "SELECT totp.durable(pg_current_wal_insert_lsn() + 1000000)")" = f ] &&
	[ "$(q "SELECT totp.durable(pg_current_wal_flush_lsn())")" = t ] ||
		{ echo "#   totp.durable() says a position not written yet is durable"; return 1; }
}
check "durable: charges committed with synchronous_commit = off: verdicts only of counted charges" async_commit

# the same, with nothing flushing the WAL for a while: the WAL writer
# flushes every 10 s, the background writer writes no buffer, and the
# flusher is gone.  A charge committed with synchronous_commit = off then
# stays unflushed for the second its verdict waits: no verdict (TP010).
# (The WAL writer may still wake within that second: one try in three
# must see the refusal.)  Once the WAL is flushed, the verdict comes.
async_unflushed() {
	local i n a tp010=0 out=""
	q "ALTER SYSTEM SET wal_writer_delay = '10s'" >/dev/null
	q "ALTER SYSTEM SET bgwriter_lru_maxpages = 0" >/dev/null
	# the postmaster has re-read them (pg_reload), and the WAL writer,
	# woken by its SIGHUP, too: 0.5 s for it to run (one try in three
	# is enough, below)
	pg_reload
	sleep 0.5
	for i in 1 2 3; do
		mk s_unflushed
		q "CHECKPOINT" >/dev/null
		n=$(nonce)
		a=$(atk -c "SET synchronous_commit = off" -c "BEGIN" -c "$(charge "$n" s_unflushed $WRONG)" \
			-c "COMMIT" -c "$(verdict "$n")" | norm)
		out="$out$i: $(tr '\n' ' ' <<<"$a")
"
		case $a in
		*"TP010: login_verdict: the charge is not durable"*) tp010=$((tp010 + 1)) ;;
		"wrong||1") ;;
		*) tp010=-9 ;;
		esac
		q "CHECKPOINT" >/dev/null
		[ "$(atk -c "$(verdict "$n")")" = "wrong||1" ] && [ "$(state s_unflushed)" = "1|f|f|1" ] ||
			{ out="$out$i: then $(atk -c "$(verdict "$n")"), $(state s_unflushed)
"; tp010=-9; }
	done
	q "ALTER SYSTEM RESET wal_writer_delay" >/dev/null
	q "ALTER SYSTEM RESET bgwriter_lru_maxpages" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	printf '%s' "$out" >"$W/unflushed.out"
	[ "$tp010" -ge 1 ] || { echo "#   no refusal of an unflushed charge:"; say <<<"$out"; return 1; }
}
check "durable: a charge committed with synchronous_commit = off, not flushed: no verdict until it is" async_unflushed

# a synchronous standby that is not there: a charge committed locally
# (synchronous_commit = local, or the commit's wait for the standby
# cancelled) is not durable, so no verdict; one answer for right and wrong
standby_gone() {
	local c nw nr a b out
	mk s_sync
	q "ALTER SYSTEM SET synchronous_standby_names = 'nobody'" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 100); do
		[ "$(pg_as host_a -c "SHOW synchronous_standby_names")" = nobody ] && break
		sleep 0.05
	done
	[ "$(pg_as host_a -c "SHOW synchronous_standby_names")" = nobody ] ||
		echo "#   a new session did not see synchronous_standby_names after 100 tries"
	c=$(code_now)
	nw=$(nonce) nr=$(nonce)
	a=$(atk -c "SET synchronous_commit = local" -c "BEGIN" -c "$(charge "$nw" s_sync $WRONG)" \
		-c "COMMIT" -c "$(verdict "$nw")" | norm)
	b=$(atk -c "SET synchronous_commit = local" -c "BEGIN" -c "$(charge "$nr" s_sync "$c")" \
		-c "COMMIT" -c "$(verdict "$nr")" | norm)
	out="local: $a
local: $b"
	# synchronous_commit = on: the COMMIT waits for the standby, the
	# attacker's other session cancels the wait (committed locally)
	# (every wait is cancelled while the attacker's psql runs: a verdict
	# given by mistake then commits too, and the check fails, not hangs)
	local ncw ncr apid
	ncw=$(nonce) ncr=$(nonce)
	for n in "$ncw" "$ncr"; do
		code=$WRONG; [ "$n" = "$ncr" ] && code=$(code_now)
		atk -c "BEGIN" -c "$(charge "$n" s_sync "$code")" -c "COMMIT" -c "$(verdict "$n")" \
			>"$W/cancelled.$n" &
		apid=$!
		while kill -0 "$apid" 2>/dev/null; do
			pg_as host_a -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
				WHERE usename = 'host_a' AND pid <> pg_backend_pid()
				AND wait_event = 'SyncRep'" >/dev/null 2>&1
			sleep 0.05
		done
		wait "$apid"
		out="$out
cancelled: $(norm <"$W/cancelled.$n" | tr '\n' ' ')"
	done
	q "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
	q "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 100); do
		[ -z "$(pg_as host_a -c "SHOW synchronous_standby_names")" ] && break
		sleep 0.05
	done
	# still set, every later commit would wait for the standby (30 s)
	[ -z "$(pg_as host_a -c "SHOW synchronous_standby_names")" ] ||
		echo "#   synchronous_standby_names still set after 100 tries"
	printf '%s\n' "$out" >"$W/sync.out"
	[ "$(leaks "$W/sync.out")" = 0 ] || { echo "#   verdicts:"; say <"$W/sync.out"; return 1; }
	[ "$a" = "$b" ] && grep -q TP010 <<<"$a" && [ "$(grep -c 'cancelled:.*TP010' <<<"$out")" = 2 ] &&
		[ "$(grep '^cancelled' <<<"$out" | sort -u | grep -c .)" = 1 ] ||
		{ echo "#   no one TP010 for right and wrong:"; say <"$W/sync.out"; return 1; }
	# all four charges counted (the third failure locked the profile)
	[ "$(state s_sync)" = "0|t|f|1" ] || { echo "#   state: $(state s_sync)"; return 1; }
	# once the standby requirement is gone, the same nonces give verdicts
	a=$(atk -c "$(verdict "$nw")") b=$(atk -c "$(verdict "$nr")")
	[ "$a" = "wrong||1" ] && [ "$b" = "totp|0|1" ] && [ "$(state s_sync)" = "0|f|t|1" ] ||
		{ echo "#   then: $a, $b, state $(state s_sync)"; return 1; }
}
check "durable: a synchronous standby missing (commit local, or its wait cancelled): no verdict, one TP010" standby_gone

read_only_committed() {
	local c n a
	mk s_rov
	c=$(code_now)
	for code in $WRONG "$c"; do
		n=$(nonce)
		atk -c "$(charge "$n" s_rov "$code")" >/dev/null
		a=$(atk -c "SET default_transaction_read_only = on" -c "$(verdict "$n")")
		echo "$code: $a"
	done >"$W/rov.out"
	[ "$(state s_rov)" = "2|f|f|1" ] || { echo "#   state: $(state s_rov)"; say <"$W/rov.out"; return 1; }
}
check "tx: a read-only verdict of committed guesses: whatever it says, both are charged" read_only_committed

# ---- 6: timing.  400 uncommitted attempts (a subtransaction each, rolled
# back), right and wrong interleaved, timed inside the server by the
# attacker's own function around the charge and around the verdict.
# The bound: the probability that a right attempt is slower than a wrong
# one (the Mann-Whitney U statistic over n*n pairs) must lie in
# [0.25, 0.75]; with 200 of each its standard deviation when the two are
# alike is about 0.03, so noise does not reach the bound, while a
# difference that shows in most attempts (an UPDATE of the profile's row,
# a judged code: tens of microseconds on ~200) does.  And the medians
# may not differ by more than a third.
timing() {
	local c out
	mk s_time
	c=$(code_now)
	out=$(pg_as host_a -v ON_ERROR_STOP=1 <<EOF 2>&1
CREATE TEMP TABLE t (k text, part text, us double precision);
DO \$\$
DECLARE
	t0 timestamptz; t1 timestamptz; t2 timestamptz;
	n uuid;
	k text;
BEGIN
	FOR i IN 1 .. 400 LOOP
		k := CASE WHEN i % 2 = 0 THEN 'R' ELSE 'W' END;
		n := gen_random_uuid();
		BEGIN
			t0 := clock_timestamp();
			PERFORM totp.login_charge(n, '$O', 's_time',
				ARRAY[CASE k WHEN 'R' THEN '$c' ELSE '$WRONG' END]);
			t1 := clock_timestamp();
			BEGIN
				PERFORM totp.login_verdict(n);
				RAISE EXCEPTION 'a verdict';
			EXCEPTION WHEN sqlstate 'TP010' THEN
				NULL;
			END;
			t2 := clock_timestamp();
			-- the subtransaction's own rows must go: an error rolls it back
			RAISE EXCEPTION USING ERRCODE = 'P0009', MESSAGE = format('%s %s',
				extract(epoch FROM t1 - t0) * 1e6, extract(epoch FROM t2 - t1) * 1e6);
		EXCEPTION WHEN sqlstate 'P0009' THEN
			INSERT INTO t VALUES (k, 'charge', split_part(SQLERRM, ' ', 1)::double precision),
					     (k, 'verdict', split_part(SQLERRM, ' ', 2)::double precision);
		END;
	END LOOP;
END \$\$;
-- drop the first 20 (caches, the first page touched)
DELETE FROM t WHERE ctid IN (SELECT ctid FROM t LIMIT 40);
SELECT part, n, round(auc::numeric, 3), round(mr::numeric, 1), round(mw::numeric, 1),
       auc BETWEEN 0.25 AND 0.75 AND abs(mr - mw) <= greatest(mr, mw) / 3
FROM (SELECT part,
	     (SELECT count(*) FROM t r WHERE r.part = p.part AND r.k = 'R') AS n,
	     (SELECT (count(*) FILTER (WHERE r.us > w.us) + 0.5 * count(*) FILTER (WHERE r.us = w.us))
		     / count(*)::double precision
	      FROM t r, t w WHERE r.part = p.part AND w.part = p.part AND r.k = 'R' AND w.k = 'W') AS auc,
	     (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FROM t WHERE part = p.part AND k = 'R') AS mr,
	     (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FROM t WHERE part = p.part AND k = 'W') AS mw
      FROM (VALUES ('charge'), ('verdict')) AS p(part)) s
ORDER BY part;
EOF
)
	echo "$out" >"$W/timing.out"
	# part|n|P(right slower)|median right us|median wrong us|within bounds
	[ "$(grep -cE '^(charge|verdict)\|[0-9]+\|[0-9.]+\|[0-9.]+\|[0-9.]+\|t$' <<<"$out")" = 2 ] ||
		{ echo "#   part|n|P(right slower)|median right|median wrong (us)|ok:"; say <<<"$out"; return 1; }
	[ "$(state s_time)" = "0|f|f|1" ] || { echo "#   state: $(state s_time)"; return 1; }
}
check "timing: 200 right and 200 wrong uncommitted attempts: charge and verdict times alike" timing

# ---- 7: the honest path -------------------------------------------------
login() {   # login ACCOUNT CODES...: the module's way, one round trip; the outcome line
	local n=$(nonce) a=$1; shift
	local IFS=,
	pg_as host_a -c "BEGIN; $(charge "$n" "$a" "$*") COMMIT; $(verdict "$n")" 2>&1 | sed '/^$/d'
}
honest() {
	local c
	mk h1
	c=$(code_now)
	[ "$(login h1 $WRONG)" = "wrong||1" ] && [ "$(state h1)" = "1|f|f|1" ] || { echo "#   wrong: $(state h1)"; return 1; }
	[ "$(login h1 "$c")" = "totp|0|1" ] && [ "$(state h1)" = "0|f|t|1" ] || { echo "#   totp: $(state h1)"; return 1; }
	[ "$(login h1 "$c")" = "replay||1" ] && [ "$(state h1)" = "1|f|t|1" ] || { echo "#   replay: $(state h1)"; return 1; }
	[ "$(login h1 $EC_WRONG)" = "wrong||1" ] && [ "$(state h1)" = "2|f|t|1" ] || { echo "#   wrong 8: $(state h1)"; return 1; }
	[ "$(login h1 $EC1)" = "emergency|0|0" ] && [ "$(state h1)" = "0|f|t|0" ] || { echo "#   emergency: $(state h1)"; return 1; }
	[ "$(login h1 $EC1)" = "spent||0" ] && [ "$(state h1)" = "1|f|t|0" ] || { echo "#   spent: $(state h1)"; return 1; }
	# two candidates, one failure: the 8-digit one is the emergency code
	mk h2
	[ "$(login h2 $WRONG $EC1)" = "emergency|1|0" ] && [ "$(state h2)" = "0|f|f|0" ] ||
		{ echo "#   two candidates: $(state h2)"; return 1; }
}
check "honest: committed charges then verdicts: totp, replay, wrong, emergency, spent; a success refunds" honest
lockout() {
	local i out=""
	mk h3
	for i in 1 2 3; do out="$out $(login h3 "$(printf '%06d' "$i")")"; done
	[ "$out" = " wrong||1 wrong||1 wrong||1" ] && [ "$(state h3)" = "0|t|f|1" ] ||
		{ echo "#   $out; state $(state h3)"; return 1; }
	out="$(login h3 "$(code_now)") $(login h3 $EC1)"
	[ "$out" = "locked||0 locked||0" ] && [ "$(state h3)" = "0|t|f|1" ] ||
		{ echo "#   locked: $out; state $(state h3)"; return 1; }
	# the lock is over: the right code again
	q "UPDATE totp.profiles SET lock_until = clock_timestamp() - interval '1 s'
	   WHERE owner_uuid = '$O' AND account = 'h3'" >/dev/null
	out=$(login h3 "$(code_now)")
	[ "$out" = "totp|0|1" ] && [ "$(state h3)" = "0|f|t|1" ] || { echo "#   after: $out, $(state h3)"; return 1; }
}
check "honest: 3 wrong committed guesses lock; a locked profile judges nothing; after the lock, the code" lockout
lock_lifted() {
	# the third guess locks, and is still judged: right, it lifts the lock
	mk h4
	local out
	out="$(login h4 1) $(login h4 2) $(login h4 "$(code_now)")"
	[ "$out" = "wrong||1 wrong||1 totp|0|1" ] && [ "$(state h4)" = "0|f|t|1" ] ||
		{ echo "#   $out; state $(state h4)"; return 1; }
}
check "honest: the right code as the third guess: accepted, the lock its charge set lifted" lock_lifted
again() {
	local c n a b d
	mk h5
	c=$(code_now)
	n=$(nonce)
	atk -c "$(charge "$n" h5 "$c")" >/dev/null
	a=$(atk -c "BEGIN" -c "$(verdict "$n")" -c "ROLLBACK")
	[ "$(state h5)" = "1|f|f|1" ] || { echo "#   rolled back: $(state h5)"; return 1; }
	b=$(atk -c "BEGIN" -c "$(verdict "$n")" -c "ROLLBACK")
	d=$(atk -c "$(verdict "$n")")
	[ "$a" = "totp|0|1" ] && [ "$b" = "$a" ] && [ "$d" = "$a" ] && [ "$(state h5)" = "0|f|t|1" ] ||
		{ echo "#   $a / $b / $d, state $(state h5)"; return 1; }
	# judged at the same instant again: the step is taken now, a replay
	[ "$(atk -c "$(verdict "$n")")" = "replay||1" ] && [ "$(state h5)" = "0|f|t|1" ] ||
		{ echo "#   then: $(atk -c "$(verdict "$n")"), $(state h5)"; return 1; }
	# a wrong code asked three times: one failure
	mk h5
	n=$(nonce)
	atk -c "$(charge "$n" h5 $WRONG)" >/dev/null
	a="$(atk -c "$(verdict "$n")") $(atk -c "$(verdict "$n")") $(atk -c "$(verdict "$n")")"
	[ "$a" = "wrong||1 wrong||1 wrong||1" ] && [ "$(state h5)" = "1|f|f|1" ] ||
		{ echo "#   $a, $(state h5)"; return 1; }
}
check "honest: a verdict asked again (after a rollback, or twice) gives the same answer and charges nothing" again
clock() {
	# the charge's instant is the clock's, not its transaction's start
	local t0 n
	mk h6
	n=$(nonce)
	t0=$(q "SELECT clock_timestamp()")
	atk -c "BEGIN" -c "SELECT pg_sleep(1.2)" -c "$(charge "$n" h6 $WRONG)" -c "COMMIT" >/dev/null
	[ "$(q "SELECT at >= '$t0'::timestamptz + interval '1.2 s' FROM totp.charges WHERE nonce = '$n'")" = t ] ||
		{ echo "#   the charge was judged at its transaction's start"; return 1; }
}
check "honest: a charge's instant is the clock's, not its transaction's start" clock
bounded() {
	local before after
	q "INSERT INTO totp.charges (role, nonce, xid, at, owner_uuid, account, generation,
		outcome, totp_hashes, ec_hashes)
	   SELECT 'host_a', gen_random_uuid(), pg_current_xact_id(),
		  clock_timestamp() - interval '11 minutes', '$O', 'h6', NULL, 'locked', '{}', '{}'
	   FROM generate_series(1, 40)" >/dev/null
	before=$(q "SELECT count(*) FROM totp.charges")
	login h6 $WRONG >/dev/null
	login h6 $WRONG >/dev/null
	after=$(q "SELECT count(*) FROM totp.charges")
	[ "$after" -le $(( before + 2 - 30 )) ] || { echo "#   charges: $before, then $after"; return 1; }
}
check "honest: old charges go: each charge removes more expired ones than it adds" bounded
rights() {
	local f
	f=$(q "SELECT string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.proname) FROM pg_proc p
	       WHERE p.pronamespace = 'totp'::regnamespace
		 AND has_function_privilege('host_a', p.oid, 'EXECUTE')")
	[ "$f" = "totp.login_begin(uuid,text) totp.login_charge(uuid,uuid,text,text[]) totp.login_profile(uuid,text) totp.login_verdict(uuid) totp.schema_version()" ] ||
		{ echo "#   host_a may execute: $f"; return 1; }
	[ "$(q "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'totp'::regnamespace
		AND (has_table_privilege('host_a', c.oid, 'SELECT') OR has_table_privilege('host_a', c.oid, 'INSERT')
		     OR has_table_privilege('host_a', c.oid, 'UPDATE') OR has_table_privilege('host_a', c.oid, 'DELETE'))
		AND c.relkind IN ('r', 'v', 'm', 'p')")" = 0 ] || { echo "#   host_a reads or writes a table"; return 1; }
}
check "rights: a totp_login role executes only schema_version, login_begin, login_profile, login_charge, login_verdict" rights

# ---- PREPARE TRANSACTION allowed: a prepared charge is not committed
prepared_on() {
	local c n a
	# the server's own options kept (postmaster.opts), this one added
	q "ALTER SYSTEM SET max_prepared_transactions = 2" >/dev/null
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 restart >/dev/null 2>&1 ||
		{ echo "#   the server did not restart"; return 1; }
	[ "$(q "SHOW max_prepared_transactions")" = 2 ] || { echo "#   not on"; return 1; }
	uncommitted prep2 s_prep2 prepared_off "TP010" || return 1
	grep -q "prepared transactions are disabled" "$W/prep2.out" && { echo "#   still disabled"; return 1; }
	# committed afterwards: then, and only then, a verdict, and it is charged
	mk s_prep2
	c=$(code_now)
	n=$(nonce)
	a=$(atk -c "BEGIN" -c "$(charge "$n" s_prep2 $WRONG)" -c "PREPARE TRANSACTION 'p1'" \
		-c "$(verdict "$n")" -c "COMMIT PREPARED 'p1'" -c "$(verdict "$n")" | norm)
	grep -q TP010 <<<"$a" && [ "$(leaks <<<"$a")" = 1 ] && grep -qx "wrong||1" <<<"$a" &&
		[ "$(state s_prep2)" = "1|f|f|1" ] || { echo "#   $a; state $(state s_prep2)"; return 1; }
}
check "tx: PREPARE TRANSACTION with max_prepared_transactions = 2: no verdict until COMMIT PREPARED" prepared_on
