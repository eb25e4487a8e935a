#!/bin/bash
# High availability: a primary and a streaming standby with synchronous
# replication (synchronous_standby_names, synchronous_commit = on: a login's
# commit returns only once the standby has it), hosts with a two-host
# conninfo and target_session_attrs=read-write.  The primary dies; until
# the standby is promoted a login fails closed (no read-write server);
# after, logins resume through the same conninfo, and no accepted step or
# spent emergency code comes back.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

if ! pg_available || [ ! -x "$PG_BIN/pg_basebackup" ]; then
	skip "postgresql-ha" "needs root and Debian's postgresql"
	exit 0
fi
PORT2=$((PG_PORT + 1))
STANDBY=""
# the standby lives inside PG_DIR: stop it before lib.sh removes the folder
eval "pg_stop_primary() $(declare -f pg_stop | tail -n +2)"
pg_stop() {
	if [ -n "$STANDBY" ] && [ -f "$STANDBY/postmaster.pid" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STANDBY" -m immediate -t 20 stop \
			>/dev/null 2>&1
	fi
	pg_stop_primary
}
# synchronous_standby_names only once the standby streams: before that,
# every commit (the set-up's too) would wait for it
PG_SERVER_OPTS="-c wal_level=replica -c max_wal_senders=4 -c synchronous_commit=on"
pg_start || { echo "not ok - postgresql: a throwaway primary starts"; exit 1; }
pg_migrate || { echo "not ok - postgresql: the migrations apply"; exit 1; }
pg_login_role host_a totp_login
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null
KEY_HEX=3132333435363738393031323334353637383930
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678 EC2=87654321 EC3=11223344
pg_psql -c "SELECT totp.admin_import('$CLUSTER_UUID', 'alice', '\\x$KEY_HEX', 'SHA1', 6, 30,
	'', true, 1, -1, 0, 0, '\\x$SALT_HEX',
	ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1'),
	      totp.emergency_hash('\\x$SALT_HEX', '$EC2'),
	      totp.emergency_hash('\\x$SALT_HEX', '$EC3')], '{f,f,f}')" >/dev/null

# the standby: a base backup of the primary, streaming from it by name
STANDBY="$PG_DIR/standby"
if ! runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PG_PORT" -U postgres \
	-D "$STANDBY" -X stream -R -c fast >"$PG_DIR/basebackup.log" 2>&1; then
	echo "not ok - a standby is made from the primary"
	sed 's/^/#   /' "$PG_DIR/basebackup.log"
	exit 1
fi
echo "primary_conninfo = 'host=$PG_DIR port=$PG_PORT user=postgres application_name=standby1'" \
	| runuser -u postgres -- tee -a "$STANDBY/postgresql.auto.conf" >/dev/null
standby_start() {
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STANDBY" -l "$PG_DIR/standby.log" -w -t 30 \
		-o "-c port=$PORT2 -c listen_addresses='' -c unix_socket_directories='$PG_DIR'" \
		start >/dev/null 2>&1
}
if ! standby_start; then
	echo "not ok - the standby starts"
	tail -n 20 "$PG_DIR/standby.log" | sed 's/^/#   /'
	exit 1
fi
sync_state() { pg_psql -d postgres -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'"; }
# each wait for the standby: 10 s (it connects, then catches up on a few
# WAL records); a standby that is late fails the check after it
for _ in $(seq 100); do [ -n "$(sync_state)" ] && break; sleep 0.1; done
pg_psql -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 100); do [ "$(sync_state)" = sync ] && break; sleep 0.1; done
check "the standby streams synchronously" test "$(sync_state)" = sync

cat > "$T/ha.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=$PG_DIR,$PG_DIR port=$PG_PORT,$PORT2 dbname=$PG_DB user=host_a target_session_attrs=read-write connect_timeout=2"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
chmod 0644 "$T/ha.conf"
pam_service ha "config=$T/ha.conf"
unavailable() { grep -q "cannot retrieve authentication info" "$T/pam.out"; }
auth() { clear_log; pam_auth "$@"; }
standby_sql() {
	psql -X -q -At -h "$PG_DIR" -p "$PORT2" -U postgres -d "$PG_DB" -c "$1"
}

# the same code is replayed after failover, and must still be in the
# window then to be refused as a replay (else it is only a wrong code):
# the next step's code (window 1) stays in it for 60 s at least, and the
# failover below takes under 20 s on a loaded machine
C=$(code 1)
C_AT=$SECONDS
check "through the primary: a TOTP code is accepted" auth ha alice "$C"
check "through the primary: an emergency code is accepted" auth ha alice "$EC1"
check "the standby already has both (synchronous commit)" \
	test "$(standby_sql "SELECT last_step >= 0, ec_spent[1] FROM totp.profiles WHERE account = 'alice'")" = "t|t"

# The synchronous standby stops: a commit waits for it for ever.  A login
# fails closed within its bound; the module cancels what it gave up on, so
# no server session stays waiting, holding alice's row and a slot; the
# verdict is never given on a charge the standby does not have.
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STANDBY" -m fast -t 20 stop >/dev/null 2>&1
failures_before=$(pg_psql -c "SELECT failures FROM totp.profiles WHERE account = 'alice'")
t0=$(date +%s%N)
check "synchronous standby down: the login fails closed" eval 'auth ha alice "$EC3"; unavailable'
# (3 s, and 1 s for pamtester's start and exit on a loaded machine; a
# login left waiting for the standby waits for ever: pam_auth's 30 s)
check "... within connect_timeout + 1 s" \
	eval 'ms=$(( ($(date +%s%N) - t0) / 1000000 )); [ "$ms" -le 4000 ] || { echo "#   took $ms ms"; false; }'
check "... logged as the store's, the documented line" \
	logged "profile store unavailable, refusing login: postgresql store: .*no answer"
# what the server may still do for it after the bound: the verdict waits
# at most 1 s for a durable charge, then fails; 10 s allows for the
# module's cancel and a loaded machine.  A session waiting for the
# standby would wait for ever.
no_session_left() {
	for _ in $(seq 100); do
		[ "$(pg_psql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'")" = 0 ] &&
			return 0
		sleep 0.1
	done
	pg_psql -c "SELECT state, wait_event FROM pg_stat_activity WHERE usename = 'host_a'" | sed 's/^/#   /'
	return 1
}
check "... no server session of the host is left, waiting or otherwise" no_session_left
check "... the charge stands on the primary, the code was not judged" \
	test "$(pg_psql -c "SELECT failures - $failures_before, ec_spent[3] FROM totp.profiles WHERE account = 'alice'")" = "1|f"
# a stolen host does it by hand: cancels its own charge's wait for the
# standby, keeps its session, and asks the verdict; none is given (the
# charge is not on the standby: a failover would take it back)
stolen_cancel() {
	local n out
	n=$(pg_psql -c "SELECT gen_random_uuid()")
	printf '%s\n' "BEGIN;" \
		"SELECT totp.login_charge('$n', '$CLUSTER_UUID', 'alice', '{$EC3}');" \
		"COMMIT;" "SELECT outcome FROM totp.login_verdict('$n');" |
		pg_as host_a -v VERBOSITY=verbose > "$T/stolen.out" 2>&1 &
	local psql_pid=$!
	# its COMMIT waits for the standby, bound 10 s; not found, it would
	# wait for ever once there: end it
	syncrep() {
		[ "$(pg_psql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'
			AND wait_event = 'SyncRep'")" = 1 ]
	}
	for _ in $(seq 200); do syncrep && break; sleep 0.05; done
	if ! syncrep; then
		echo "#   no session of host_a waited for the standby within 10 s"
		pg_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE usename = 'host_a'" >/dev/null
		kill "$psql_pid" 2>/dev/null; wait "$psql_pid"
		return 1
	fi
	pg_psql -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'host_a'
		AND wait_event = 'SyncRep'" >/dev/null
	wait "$psql_pid"
	out=$(cat "$T/stolen.out")
	grep -q "canceling wait for synchronous replication" <<<"$out" &&
		grep -q "TP010" <<<"$out" && ! grep -qx "emergency" <<<"$out" ||
		{ echo "$out" | sed 's/^/#   /' | head -n 8; return 1; }
}
check "... a host that cancels its own wait for the standby gets no verdict (TP010)" stolen_cancel
check "... and its code is still unspent" \
	test "$(pg_psql -c "SELECT ec_spent[3] FROM totp.profiles WHERE account = 'alice'")" = f
standby_start || echo "# the standby did not start again"
for _ in $(seq 100); do [ "$(sync_state)" = sync ] && break; sleep 0.1; done
[ "$(sync_state)" = sync ] || echo "# the standby was not synchronous again within 10 s"
check "the standby back: the code refused meanwhile was never spent, it logs in" auth ha alice "$EC3"

runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -t 20 stop >/dev/null 2>&1
check "primary dead, standby read-only: the login fails closed" \
	eval 'auth ha alice "$EC2"; unavailable'
check "... logged: no read-write server" logged "refusing login: postgresql store: cannot connect"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STANDBY" -w -t 30 promote >/dev/null 2>&1
check "the standby is promoted" test "$(standby_sql "SELECT pg_is_in_recovery()")" = f
check "after failover, the same conninfo: the code accepted before is a replay" \
	eval 'fails auth ha alice "$C" && logged "refused: replayed TOTP code"'
echo "# the replayed code was $((SECONDS - C_AT)) s old (60 s at least in the window)"
check "... the emergency code spent before is still spent" \
	eval 'fails auth ha alice "$EC1" && logged "refused: emergency code already used"'
check "... and logins resume: an unspent emergency code is accepted" auth ha alice "$EC2"
