#!/bin/bash
# The module on the PostgreSQL store through pgbouncer in transaction mode
# (docs/fleet.md): each login is one function call in one transaction, so
# pooled server connections carry nothing from one login to the next.  A
# code accepted through the pooler is refused directly and the other way
# round; hosts racing one code through the pooler get one acceptance; the
# pooler's own outage fails closed.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql-pgbouncer "needs root, Debian's postgresql and pgbouncer" "command -v pgbouncer"
pg_suite_up
pg_login_role host_a totp_login
pg_login_role host_b totp_login
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null
KEY_HEX=3132333435363738393031323334353637383930
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678
pg_mk() {
	pg_psql -c "DELETE FROM totp.profiles WHERE account = '$1'" >/dev/null
	pg_psql -c "SELECT totp.admin_import('$CLUSTER_UUID', '$1', '\\x$KEY_HEX', 'SHA1', 6, 30,
		'', true, 1, -1, 0, 0, '\\x$SALT_HEX',
		ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1')], '{f}')" >/dev/null
}

# pgbouncer (it refuses to run as root) on a unix socket of its own; the
# module's `options` startup parameter (statement_timeout) is one it must
# be told to ignore
B="$T/pgbouncer"
BPORT=$((PG_PORT + 2))
mkdir -m 0700 "$B"
cat > "$B/pgbouncer.ini" <<INI
[databases]
totp = host=$PG_DIR port=$PG_PORT dbname=$PG_DB
[pgbouncer]
listen_addr =
unix_socket_dir = $B
listen_port = $BPORT
auth_type = trust
auth_file = $B/users.txt
pool_mode = transaction
default_pool_size = 4
ignore_startup_parameters = options
logfile = $B/pgbouncer.log
pidfile = $B/pgbouncer.pid
INI
printf '"host_a" ""\n"host_b" ""\n' > "$B/users.txt"
chown -R postgres: "$B"
if ! runuser -u postgres -- pgbouncer -d "$B/pgbouncer.ini" >/dev/null 2>&1; then
	echo "not ok - pgbouncer starts"
	exit 1
fi
BOUNCER_PID=""
# the daemon writes its pid file once it runs; bound 10 s
for _ in $(seq 100); do
	[ -s "$B/pgbouncer.pid" ] && BOUNCER_PID=$(cat "$B/pgbouncer.pid") && break
	sleep 0.1
done
[ -n "$BOUNCER_PID" ] || echo "# pgbouncer wrote no pid file within 10 s"
stop_bouncer() { [ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID" 2>/dev/null; BOUNCER_PID=""; }
eval "pg_stop_server() $(declare -f pg_stop | tail -n +2)"
pg_stop() { stop_bouncer; pg_stop_server; }

host() {   # host NAME ROLE SOCKET_DIR PORT
	cat > "$T/$1.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=$3 port=$4 dbname=$PG_DB user=$2 connect_timeout=2"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
	chmod 0644 "$T/$1.conf"
	pam_service "$1" "config=$T/$1.conf"
}
host pooled host_a "$B" "$BPORT"
host direct host_b "$PG_DIR" "$PG_PORT"
unavailable() { grep -q "cannot retrieve authentication info" "$T/pam.out"; }
auth() { clear_log; pam_auth "$@"; }

pg_mk alice
C=$(code)
check "through pgbouncer (transaction mode): a code is accepted" auth pooled alice "$C"
check "... the same code directly: a replay" eval 'fails auth direct alice "$C" && logged replayed'
check "... and through pgbouncer again: a replay" eval 'fails auth pooled alice "$C" && logged replayed'
check "an emergency code directly, then through pgbouncer: once" \
	eval 'auth direct alice "$EC1" && fails auth pooled alice "$EC1" && logged "already used"'
check "pgbouncer kept server connections between logins" \
	test "$(pg_psql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'host_a'")" -ge 1

# 200 logins with one code, 8 at a time, through the pooler
PAMRUN="$BUILD/tests/tp_pamrun"
W="$T/race"
mkdir -p "$W"
pg_mk alice
# the next step's code: in the window (1) for 60 s at least, so a slow
# race on a loaded machine still ends in replays, not in wrong codes
C=$(code 1)
running=0
for ((n = 1; n <= 200; n++)); do
	(
		printf '%s\n' "$C" | timeout 60 env LD_PRELOAD="$ASAN_LIB $SYSLOG_SHIM $NSS_WRAPPER_LIB" \
			TP_TEST_SYSLOG="$W/$n.log" "$PAMRUN" "$T/pam.d" pooled alice > "$W/$n.out" 2>&1
		echo "$?" > "$W/$n.rc"
	) &
	running=$((running + 1))
	if [ "$running" -ge 8 ]; then wait -n; running=$((running - 1)); fi
done
for ((; running > 0; running--)); do wait -n; done
check "200 logins with one code through pgbouncer: exactly 1 accepted" \
	test "$(cat "$W"/*.rc | grep -cx 0)" -eq 1
check "... 199 replays" test "$(cat "$W"/*.log | grep -c 'refused: replayed TOTP code')" -eq 199

# down means gone: wait for the process to end (bound 10 s; a fixed
# pause raced with a loaded machine)
bouncer_pid=$BOUNCER_PID
stop_bouncer
for _ in $(seq 100); do kill -0 "$bouncer_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$bouncer_pid" 2>/dev/null && echo "# pgbouncer still runs 10 s after its TERM"
check "pgbouncer down: PAM_AUTHINFO_UNAVAIL" eval 'auth pooled alice "$(code)"; unavailable'
check "... one log line with the cause" logged "refusing login: postgresql store: cannot connect"
