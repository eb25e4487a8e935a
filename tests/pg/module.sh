#!/bin/bash
# The PAM module on the PostgreSQL store, against a real throwaway server:
# logins judged by the database, single use across hosts (each "host" is
# its own config, role and process), hosts racing one code, and failing
# closed (server down or not answering, schema missing or of another
# version, a role without the right) with PAM_AUTHINFO_UNAVAIL, one log
# line without the password, within connect_timeout + 1 s.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
pg_suite_up
for h in host_a host_b host_c host_d; do pg_login_role "$h" totp_login; done
pg_login_role admin1 totp_admin
pg_psql -c "CREATE DATABASE empty ENCODING 'UTF8' TEMPLATE template0" >/dev/null
# no lockout unless a case sets it: a case is judged on its codes alone
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null

KEY_HEX=3132333435363738393031323334353637383930     # $SECRET, in hex
SALT_HEX=000102030405060708090a0b0c0d0e0f
EC1=12345678 EC2=87654321 EC3=00000001
PAMRUN="$BUILD/tests/tp_pamrun"
TIMEOUT=2              # the hosts' connect_timeout

# host NAME ROLE [CONNINFO_EXTRA [DB]]: config $T/NAME.conf and PAM service
# NAME for one host of the fleet
host() {
	local name=$1 role=$2 extra=${3:-} db=${4:-$PG_DB}
	cat > "$T/$name.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=$PG_DIR port=$PG_PORT dbname=$db user=$role connect_timeout=$TIMEOUT $extra"; };
admin_group = "totpadmin";
issuer = "testhost";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
	chmod 0600 "$T/$name.conf"
	pam_service "$name" "config=$T/$name.conf"
}
for h in a b c d; do host "$h" "host_$h"; done

# pg_mk ACCOUNT: a profile with $SECRET and EC1..EC3, through the import
pg_mk() {
	pg_psql -c "DELETE FROM totp.profiles WHERE account = '$1'" >/dev/null
	pg_psql -c "SELECT totp.admin_import('$CLUSTER_UUID', '$1', '\\x$KEY_HEX', 'SHA1', 6,
		30, '', true, 1, -1, 0, 0, '\\x$SALT_HEX',
		ARRAY[totp.emergency_hash('\\x$SALT_HEX', '$EC1'),
		      totp.emergency_hash('\\x$SALT_HEX', '$EC2'),
		      totp.emergency_hash('\\x$SALT_HEX', '$EC3')], '{f,f,f}')" >/dev/null
}
db() { pg_psql -c "$1"; }
# auth HOST USER ANSWER: one login through that host's config
auth() { clear_log; pam_auth "$1" "$2" "$3"; }
unavailable() { grep -q "cannot retrieve authentication info" "$T/pam.out"; }
# one_line PATTERN: exactly one log line of the module's, and it matches
one_line() {
	[ "$(grep -vc '_pam_init_handlers' "$TP_SYSLOG")" -eq 1 ] && logged "$1"
}

# ---- logins ----

pg_mk alice
C=$(code)
check "accepted: a code judged by the database" auth a alice "$C"
check "accepted: logged as a TOTP acceptance" logged "user=alice owner=cluster1: accepted TOTP code"
check "accepted: the step is recorded in the database" \
	test "$(db "SELECT last_step FROM totp.profiles WHERE account = 'alice'")" -ge \
	     "$(( $(date +%s) / 30 - 1 ))"
check "replay through the same host is refused" fails auth a alice "$C"
check "replay: logged" logged "refused: replayed TOTP code"
pg_mk alice
check "a code accepted through host A ..." auth a alice "$C"
check "... is refused through host B" fails auth b alice "$C"
check "... as a replay" logged "refused: replayed TOTP code"
check "emergency code through host C is accepted" auth c alice "$EC1"
check "emergency code: the user is told how many are left" grep -q "2 emergency codes left" "$T/pam.out"
check "the same emergency code through host D is refused" fails auth d alice "$EC1"
check "... as spent" logged "refused: emergency code already used"
check "emergency codes left in the database" \
	test "$(db "SELECT totp.emergency_left(ec_spent) FROM totp.profiles WHERE account = 'alice'")" = 2
before=$(db "SELECT failures FROM totp.profiles WHERE account = 'alice'")
check "a wrong code is refused" fails auth a alice 000000
check "... and counted once in the database" \
	test "$(db "SELECT failures FROM totp.profiles WHERE account = 'alice'")" = $((before + 1))
check "an answer that is no code (not UTF-8) is a wrong code, not an outage" \
	eval 'clear_log; fails pam_auth a alice "$(printf "\xff\xfe\"{},\\\\")" && ! unavailable && logged "refused: wrong code"'
check "no profile: refused after the prompt" eval 'fails auth a bob 123456 && prompted'
check "no profile: logged" logged "user=bob owner=cluster1: refused: no TOTP profile"
pam_stack a_nullok "auth required $MODULE config=$T/a.conf nullok" \
	"auth required pam_permit.so" "account required pam_permit.so"
check "no profile with nullok: ignored (PAM_IGNORE; the next module decides)" auth a_nullok bob ""
check "nullok: logged" logged "no TOTP profile (nullok)"
db "SELECT totp.admin_modify('$CLUSTER_UUID', 'alice', NULL, false)" >/dev/null
check "a disabled profile: no prompt, second factor skipped (disabled_profile allow)" \
	eval 'auth a alice "" && ! prompted && logged "profile disabled by an admin: second factor skipped"'
db "SELECT totp.admin_modify('$CLUSTER_UUID', 'alice', NULL, true)" >/dev/null

# lockout is the database's policy, not the host's config
pg_mk alice
db "SELECT totp.set_policy(1, 3, 300)" >/dev/null
for i in 1 2 3; do auth b alice 000000; done
check "lockout counted in the database across hosts: the right code is refused" \
	eval 'fails auth c alice "$(code)" && logged "refused: profile locked after repeated failures"'
db "SELECT totp.set_policy(1, 0, 300)" >/dev/null

# a host's own window or lockout does not apply: the login says so
host w host_a
echo 'lockout = { max_failures = 1; seconds = 60; };' >> "$T/w.conf"
pg_mk alice
check "a host config with lockout: the database's policy still decides" \
	eval 'fails auth w alice 000000 && auth w alice "$(code)"'
check "... and the module warns that lockout does not apply" \
	logged "totp.window and lockout do not apply with store.backend = \"postgresql\""

# ---- racing hosts ----

W="$T/race"
# race COUNT ANSWER: COUNT logins of alice with one answer, spread over
# hosts a..d (each its own process, config and role), 8 at a time
race() {
	local count=$1 answer=$2 n running=0 hosts=(a b c d)
	rm -rf "$W"
	mkdir -p "$W"
	for ((n = 1; n <= count; n++)); do
		(
			printf '%s\n' "$answer" | timeout 60 env LD_PRELOAD="$ASAN_LIB $SYSLOG_SHIM $NSS_WRAPPER_LIB" \
				TP_TEST_SYSLOG="$W/$n.log" "$PAMRUN" "$T/pam.d" "${hosts[n % 4]}" alice \
				> "$W/$n.out" 2>&1
			echo "$?" > "$W/$n.rc"
		) &
		running=$((running + 1))
		if [ "$running" -ge 8 ]; then wait -n; running=$((running - 1)); fi
	done
	for ((; running > 0; running--)); do wait -n; done
}
count_rc() { cat "$W"/*.rc | grep -cx "$1"; }
pg_mk alice
# the race takes 30-45 s on 2 cores (48 s at load 16): with a window of
# 1 the code, taken once at the start, falls out of it meanwhile and the
# late logins are refused as wrong, not as replays.  A window of 8 steps
# keeps it valid for at least 240 s.
pg_psql -c "SELECT totp.set_policy(8, 0, 300)" >/dev/null
start=$SECONDS
race 1000 "$(code)"
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null
check "1,000 logins with one TOTP code through 4 hosts: exactly 1 accepted" test "$(count_rc 0)" -eq 1
check "... 999 refused, none failed otherwise" test "$(count_rc 1)" -eq 999
check "... the refusals are replays" eval 'n=$(cat "$W"/*.log | grep -c "refused: replayed TOTP code"); [ "$n" -eq 999 ] || { echo "#   $n replays; the rest:"; cat "$W"/*.log | grep -v "replayed\\|accepted\\|_pam_init\\|do not apply" | sed "s/^/#   /" | sort | uniq -c | head -5; false; }'
echo "# 1,000 TOTP logins through 4 hosts: $((SECONDS - start)) s"
start=$SECONDS
race 1000 "$EC2"
check "1,000 logins with one emergency code through 4 hosts: exactly 1 accepted" test "$(count_rc 0)" -eq 1
check "... 999 refused as spent" test "$(cat "$W"/*.log | grep -c 'refused: emergency code already used')" -eq 999
echo "# 1,000 emergency-code logins through 4 hosts: $((SECONDS - start)) s"

# ---- the connection: the conninfo and nothing else ----

pg_mk alice
check "PG* variables of the caller (su, sudo) do not steer the connection" \
	eval 'PAM_ENV="PGHOSTADDR=127.0.0.1 PGPORT=1 PGSSLMODE=require PGDATABASE=empty" auth a alice "$(code)"'
host remote host_a "host=db.example.com sslmode=require sslrootcert=/etc/ssl/certs/ca-certificates.crt"
check "a remote host without verify-full: the config is refused, PAM_AUTHINFO_UNAVAIL" \
	eval 'auth remote alice 123456; unavailable && logged "configuration error, refusing login: $T/remote.conf:2: store.conninfo: names a host" && logged "sslmode=verify-full"'
host big host_a "connect_timeout=4294967"
pg_mk alice
check "connect_timeout beyond the bound (4294967 s, x1000 overflows an int): the login works" \
	auth big alice "$(code)"
SCHEMA_VERSION_SQL="LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS \$\$ SELECT max(version) FROM totp.schema_version \$\$"
pg_psql -c "CREATE OR REPLACE FUNCTION totp.schema_version() RETURNS integer
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
	BEGIN RAISE WARNING 'a server warning for the terminal';
	      RETURN (SELECT max(version) FROM totp.schema_version); END \$\$" >/dev/null
pg_mk alice
check "a server WARNING is not printed on the user's terminal" \
	eval 'auth a alice "$(code)" && ! grep -q "server warning" "$T/pam.out"'
pg_psql -c "CREATE OR REPLACE FUNCTION totp.schema_version() RETURNS integer
	$SCHEMA_VERSION_SQL" >/dev/null

# ---- failing closed ----

# timed HOST USER ANSWER: the login's wall time in ms in $MS
timed() {
	local t0 t1
	t0=$(date +%s%N)
	auth "$@"
	local rc=$?
	t1=$(date +%s%N)
	MS=$(( (t1 - t0) / 1000000 ))
	return $rc
}
# The bounds below are wall times of a whole login: the wait itself plus
# pamtester's start and exit (some 0.1 s, 0.2 s at load 16 on 2 cores).
# within_bound: the waits here are connect_timeout (2 s) or nothing, so
# 1 s is left for the rest; a login that ignored connect_timeout would
# wait for ever (pam_auth's 30 s)
within_bound() { [ "$MS" -le $(( (TIMEOUT + 1) * 1000 )) ] || { echo "#   took $MS ms"; return 1; }; }

host e host_a "" empty
check "schema missing: PAM_AUTHINFO_UNAVAIL" eval 'timed e alice 123456; unavailable'
check "schema missing: one log line saying what to apply" \
	one_line "profile store unavailable, refusing login: postgresql store: .*schema is missing; apply sql/\*.sql"

# a database left at migration 001: no totp.login_begin, which the
# login's first statement calls; the check behind it names the migration
pg_psql -c "CREATE DATABASE v1 ENCODING 'UTF8' TEMPLATE template0" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d v1 \
	-f "$PG_TOP/sql/001_schema.sql" >/dev/null
host v host_a "" v1
check "schema at 001 only: PAM_AUTHINFO_UNAVAIL" eval 'timed v alice 123456; unavailable'
check "... one log line, the store's, naming migration 002" \
	one_line "profile store unavailable, refusing login: postgresql store: .*schema is version 1, this build needs [0-9]*: apply sql/002_\*.sql"

host f admin1
check "a role without totp_login: PAM_AUTHINFO_UNAVAIL" eval 'timed f alice 123456; unavailable'
check "... one log line naming the role and the grant" \
	one_line 'role "admin1" may not execute totp.login_charge(uuid, uuid, text, text\[\]): grant it totp_login'

# the build speaks the version of the last migration in sql/
built=$(LC_ALL=C ls "$PG_TOP"/sql/*.sql | wc -l)
db "INSERT INTO totp.schema_version (version, name) VALUES ($((built + 1)), 'future')" >/dev/null
check "schema newer than the build: PAM_AUTHINFO_UNAVAIL" eval 'timed a alice 123456; unavailable'
check "... logged with both versions" \
	one_line "schema is version $((built + 1)), newer than this build knows ($built"
db "DELETE FROM totp.schema_version WHERE version = $((built + 1))" >/dev/null
last_name=$(db "SELECT name FROM totp.schema_version WHERE version = $built")
db "DELETE FROM totp.schema_version WHERE version = $built" >/dev/null
check "schema older than the build: PAM_AUTHINFO_UNAVAIL" eval 'timed a alice 123456; unavailable'
check "... logged with the migration to apply" \
	one_line "schema is version $((built - 1)), this build needs $built: apply sql/$(printf %03d "$built")_\\*.sql"
db "INSERT INTO totp.schema_version (version, name) VALUES ($built, '$last_name')" >/dev/null
check "schema back to the build's: logins work again" auth a alice "$EC3"

# a server that takes the connection and never answers (a hung host, a
# black-holed route): the login gives up after connect_timeout
pg_hung_server "$T/port" 120
cat > "$T/g.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=127.0.0.1 port=$(cat "$T/port") dbname=totp user=host_a password=Sup3rSecretPw connect_timeout=$TIMEOUT"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
chmod 0600 "$T/g.conf"
pam_service g "config=$T/g.conf"
check "a server that never answers: PAM_AUTHINFO_UNAVAIL" eval 'timed g alice 123456; unavailable'
check "... within connect_timeout + 1 s" within_bound
check "... one log line, without the password" \
	eval 'one_line "profile store unavailable, refusing login: postgresql store: cannot connect" && ! grep -q Sup3rSecretPw "$TP_SYSLOG"'
# several servers, the first ones hung: libpq would give each the whole
# connect_timeout; shared out, the login still ends within the bound
HANG=$(cat "$T/port")
cat > "$T/h2.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=127.0.0.1,127.0.0.1 port=$HANG,$HANG dbname=totp user=host_a connect_timeout=4"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
chmod 0644 "$T/h2.conf"
pam_service h2 "config=$T/h2.conf"
# 4 s shared out, and 1 s for the rest; each server given the whole 4 s
# would take 8 s
check "two servers that never answer: PAM_AUTHINFO_UNAVAIL within connect_timeout + 1 s" \
	eval 'timed h2 alice 123456; unavailable && [ "$MS" -le 5000 ] || { echo "#   took $MS ms"; false; }'
cat > "$T/h3.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=127.0.0.1,$PG_DIR port=$HANG,$PG_PORT dbname=$PG_DB user=host_a connect_timeout=4"; };
admin_group = "totpadmin";
issuer = "testhost";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
chmod 0644 "$T/h3.conf"
pam_service h3 "config=$T/h3.conf"
check "the first server hung, the second up: the login goes on through the second" \
	eval 'timed h3 alice 123456; prompted && ! unavailable'
# the phase before the prompt waits for the hung one its share (2 s of
# 4); the phase after it tries first the server that answered, so 2 s in
# all, not twice 2 s, nor twice 4 s with the whole timeout per server
# (3.5 s: 2 s, the login through the second, and 1.3 s for the rest,
# below the 4 s of waiting twice)
check "... having waited for the first its share of connect_timeout (2 of 4 s) once, not per phase" \
	eval '[ "$MS" -ge 1500 ] && [ "$MS" -le 3500 ] || { echo "#   took $MS ms"; false; }'
kill "$HANG_PID" 2>/dev/null
wait "$HANG_PID" 2>/dev/null

chmod 0644 "$T/g.conf"
check "a world-readable config with a password is refused" \
	eval 'auth g alice 123456; unavailable && logged "holds a password" && ! grep -q Sup3rSecretPw "$TP_SYSLOG"'

runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
check "server stopped: PAM_AUTHINFO_UNAVAIL" eval 'timed a alice "$EC2"; unavailable'
check "... within connect_timeout + 1 s" within_bound
check "... one log line" one_line "profile store unavailable, refusing login: postgresql store: cannot connect to the profile database"
