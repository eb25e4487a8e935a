#!/bin/bash
# The PAM module on the PostgreSQL store, what a login holds and for how
# long: no server connection while the user is at the prompt (nor any for
# a name that cannot have a profile), and one deadline of connect_timeout
# + 1 s for the connection and the probe before the prompt, one for the
# attempt after it, against a server that answers every statement slowly.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
PG_SERVER_OPTS="-c log_connections=on"
pg_suite_up
pg_login_role host_a totp_login
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null

KEY_HEX=3132333435363738393031323334353637383930     # $SECRET, in hex
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678
TIMEOUT=2              # the hosts' connect_timeout
# process start and exit around the bound (pamtester, libpam, the config;
# some 0.1 s idle, 0.2-0.3 s at load 10-16 on 2 cores).  It stays below
# what a bound per statement instead of per phase adds to each case (1 s
# for s3: 2 s + connect_timeout, not connect_timeout + 1 s; 2.2 s for s2),
# so a login with that bug fails the check whatever its own start costs
SLACK_MS=800

host() {   # host NAME ROLE [DB]
	cat > "$T/$1.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=$PG_DIR port=$PG_PORT dbname=${3:-$PG_DB} user=$2 connect_timeout=$TIMEOUT"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
	chmod 0600 "$T/$1.conf"
	pam_service "$1" "config=$T/$1.conf"
}
pg_mk() {   # pg_mk ACCOUNT [DB]
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "${2:-$PG_DB}" \
		-c "DELETE FROM totp.profiles WHERE account = '$1'" \
		-c "SELECT totp.admin_import('$CLUSTER_UUID', '$1', '\\x$KEY_HEX', 'SHA1', 6,
		30, '', true, 1, -1, 0, 0, '\\x$SALT_HEX',
		ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1')], '{f}')" >/dev/null
}
db() { pg_psql -c "$1"; }
unavailable() { grep -q "cannot retrieve authentication info" "$T/pam.out"; }
host a host_a

# ---- nothing held at the prompt

# at_prompt USER: start a login whose answer is not typed yet; $PAM_PID,
# and the answer goes to the fifo $T/answer
at_prompt() {
	rm -f "$T/answer"
	mkfifo "$T/answer"
	clear_log
	pam_env_args
	( timeout 60 "$PRIVATE_TMP" env "${PAM_ENV_ARGS[@]}" pamtester -v a "$1" authenticate \
		< "$T/answer" > "$T/pam.out" 2>&1; echo $? > "$T/pam.rc" ) &
	PAM_PID=$!
	exec 7>"$T/answer"          # the fifo opens; nothing typed yet
	for _ in $(seq 100); do prompted && return 0; sleep 0.05; done
	echo "#   no prompt came"
	return 1
}
answer() {   # answer CODE: type it, wait for the verdict
	echo "$1" >&7
	exec 7>&-
	wait "$PAM_PID"
	return "$(cat "$T/pam.rc")"
}
host_sessions() {
	db "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'"
}
pg_mk alice
idle_at_prompt() {
	local n
	at_prompt alice || return 1
	# a connection kept across the prompt is opened before it, so it is
	# in pg_stat_activity already; the pause only gives a late one time
	# to show (a loaded machine makes the check see less, not fail)
	sleep 0.3
	n=$(host_sessions)
	answer "$(code)" || { echo "#   the login was refused: $(tail -n 2 "$TP_SYSLOG")"; return 1; }
	[ "$n" = 0 ] || { echo "#   $n connections of host_a while the user was at the prompt"; return 1; }
}
check "prompt: no connection of the host's role while a user is at the prompt; then accepted" \
	idle_at_prompt
connections() { grep -c "connection authorized: user=host_a" "$PG_DIR/server.log"; }
no_connection_for_impossible_name() {
	local before after
	before=$(connections)
	at_prompt "bad..name" || return 1
	answer 123456 && { echo "#   accepted"; return 1; }
	after=$(connections)
	[ "$after" = "$before" ] || { echo "#   $((after - before)) connections for a name that cannot have a profile"; return 1; }
}
check "prompt: a name that cannot have a profile opens no connection (asked, then refused)" \
	no_connection_for_impossible_name

# ---- one deadline per phase, against a server that answers slowly

# timed HOST USER ANSWER: the login's wall time in ms in $MS
timed() {
	local t0 t1 rc
	t0=$(date +%s%N)
	clear_log
	pam_auth "$@"
	rc=$?
	t1=$(date +%s%N)
	MS=$(( (t1 - t0) / 1000000 ))
	return $rc
}
within_bound() {
	[ "$MS" -le $(( (TIMEOUT + 1) * 1000 + SLACK_MS )) ] || { echo "#   took $MS ms"; return 1; }
}
# a database whose every statement of one phase answers after 0.9 of
# connect_timeout: each within its own bound, together beyond the phase's
slow() {   # slow DB SQL: as the owner, in DB
	psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "$1" \
		-c "SET ROLE totp_owner" -c "$2" >/dev/null
}
S=$(awk -v t="$TIMEOUT" 'BEGIN { print t * 0.9 }')
# before the prompt: one statement (totp.login_begin: the version and the
# probe together) that answers only after twice connect_timeout
db "CREATE DATABASE slow1 ENCODING 'UTF8' TEMPLATE template0" >/dev/null
pg_migrate slow1
slow slow1 "ALTER FUNCTION totp.login_begin(uuid, text) RENAME TO login_begin_now"
slow slow1 "CREATE FUNCTION totp.login_begin(p_owner uuid, p_account text)
	RETURNS totp.login_begin_info
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
	BEGIN PERFORM pg_sleep($TIMEOUT * 2); RETURN totp.login_begin_now(p_owner, p_account); END \$\$"
psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d slow1 \
	-c "GRANT EXECUTE ON FUNCTION totp.login_begin(uuid, text) TO totp_login" >/dev/null
pg_mk alice slow1
host s1 host_a slow1
check "deadline: the probe before the prompt does not answer: PAM_AUTHINFO_UNAVAIL" \
	eval 'timed s1 alice "$(code)"; unavailable && ! prompted'
check "... within connect_timeout + 1 s" within_bound
check "... logged as no answer in time" \
	eval 'logged "no answer from the profile database within $((TIMEOUT + 1)) s" ||
	      logged "canceling statement due to statement timeout"'

# before the prompt, the connection and the probe share one bound: a hung
# first server costs its share of connect_timeout (2 s, libpq's floor),
# then the probe that does not answer gets only what is left
pg_hung_server "$T/hang.port" 60
cat > "$T/s3.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=127.0.0.1,$PG_DIR port=$(cat "$T/hang.port"),$PG_PORT dbname=slow1 user=host_a connect_timeout=$TIMEOUT"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
chmod 0600 "$T/s3.conf"
pam_service s3 "config=$T/s3.conf"
check "deadline: a hung first server, then a probe that does not answer: PAM_AUTHINFO_UNAVAIL" \
	eval 'timed s3 alice "$(code)"; unavailable && ! prompted'
check "... within connect_timeout + 1 s in all, not a bound per step" within_bound
kill "$HANG_PID" 2>/dev/null
wait "$HANG_PID" 2>/dev/null

# after the prompt: the charge and the verdict (one query string, two
# transactions), each late but within connect_timeout, together beyond.
# This host's connect_timeout is 4 s: together the two take 7.2 s, 2.2 s
# beyond the phase's bound (with 2 s, 0.6 s: less than a loaded machine
# adds to a login's own start and exit)
TIMEOUT=4
S=$(awk -v t="$TIMEOUT" 'BEGIN { print t * 0.9 }')
db "CREATE DATABASE slow2 ENCODING 'UTF8' TEMPLATE template0" >/dev/null
pg_migrate slow2
slow slow2 "ALTER FUNCTION totp.login_charge(uuid, uuid, text, text[]) RENAME TO login_charge_now"
slow slow2 "CREATE FUNCTION totp.login_charge(p_nonce uuid, p_owner uuid, p_account text,
	p_codes text[]) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
	BEGIN PERFORM pg_sleep($S);
	PERFORM totp.login_charge_now(p_nonce, p_owner, p_account, p_codes); END \$\$"
slow slow2 "ALTER FUNCTION totp.login_verdict(uuid) RENAME TO login_verdict_now"
slow slow2 "CREATE FUNCTION totp.login_verdict(p_nonce uuid) RETURNS totp.login_result
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
	BEGIN PERFORM pg_sleep($S); RETURN totp.login_verdict_now(p_nonce); END \$\$"
psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d slow2 \
	-c "GRANT EXECUTE ON FUNCTION totp.login_charge(uuid, uuid, text, text[]),
	    totp.login_verdict(uuid) TO totp_login" >/dev/null
pg_mk alice slow2
host s2 host_a slow2
LOG_AT=$(wc -l < "$PG_DIR/server.log")
check "deadline: the charge and the verdict each late but in their bound: PAM_AUTHINFO_UNAVAIL" \
	eval 'timed s2 alice "$(code)"; unavailable && prompted'
check "... within connect_timeout + 1 s after the answer" within_bound
check "... logged as the store's, the same line as before the prompt" \
	logged "profile store unavailable, refusing login: postgresql store: .*no answer from the profile database"
# the verdict given up on was cancelled on the server (it does not go on
# to accept the code without us), and the charge stands
# (the server says so in its log; the cancel is sent by a grandchild after
# the module gave up: up to 5 s for it and the server.  Left alone, the
# verdict would end by itself about 2.2 s after the module gave up, so the
# session's end alone proves nothing)
slow2_sessions() {
	psql -X -q -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d slow2 \
		-c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'"
}
# the login's own session (log_connections: "[pid] LOG:  connection
# authorized: user=host_a database=slow2"), not a cancel left over from the
# checks before, whose grandchildren may still be at work
login_cancelled() {
	local pid
	for pid in $(tail -n +"$((LOG_AT + 1))" "$PG_DIR/server.log" |
		sed -n 's/.*\[\([0-9]*\)\] LOG:  connection authorized: user=host_a database=slow2.*/\1/p'); do
		tail -n +"$((LOG_AT + 1))" "$PG_DIR/server.log" |
			grep -q "\[$pid\] ERROR:  canceling statement due to user request" && return 0
	done
	return 1
}
cancelled_on_server() {
	for _ in $(seq 100); do
		login_cancelled && [ "$(slow2_sessions)" = 0 ] && return 0
		sleep 0.05
	done
	echo "#   no cancel of the login's session in the server's log, or $(slow2_sessions) sessions of host_a left"
	return 1
}
check "... the server's session was cancelled, not left running" cancelled_on_server
check "... the charge was committed (a failure counted), the code not accepted" \
	test "$(psql -X -q -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d slow2 \
		-c "SELECT failures, last_step FROM totp.profiles WHERE account = 'alice'")" = "1|-1"

# ---- a stolen host holding a profile's row locked: another host's
# login fails closed quickly (login_charge's lock_timeout), not after its
# whole bound, and works again once that host is gone
TIMEOUT=2              # host a's
pg_login_role host_z totp_login
pg_mk alice
hold_lock() {
	local holder
	printf '%s\n' "BEGIN;" \
		"SELECT totp.login_charge(gen_random_uuid(), '$CLUSTER_UUID', 'alice', '{000000}');" \
		"SELECT pg_sleep(20);" | pg_as host_z >/dev/null 2>&1 &
	holder=$!
	# the holder's charge done and its sleep begun; bound 10 s
	holding() {
		[ "$(db "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_z'
			AND state = 'active' AND query LIKE '%pg_sleep%'")" = 1 ]
	}
	for _ in $(seq 200); do holding && break; sleep 0.05; done
	holding || echo "#   host_z did not hold the row within 10 s"
	timed a alice "$(code)"
	local rc=$? ms=$MS
	db "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'host_z'" >/dev/null
	wait "$holder" 2>/dev/null
	[ "$rc" -ne 0 ] && unavailable && [ "$ms" -le $(( (TIMEOUT + 1) * 1000 + SLACK_MS )) ] &&
		{ logged "profile store unavailable, refusing login: .*lock timeout" ||
		  logged "profile store unavailable, refusing login: .*statement timeout"; } ||
		{ echo "#   rc $rc after $ms ms"; return 1; }
}
check "lock: a host holding a profile's row: another host's login fails closed within the bound" hold_lock
check "... and once that host is gone the right code is accepted" eval 'timed a alice "$(code)"'
