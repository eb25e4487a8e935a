#!/bin/bash
# The PostgreSQL store's figures: the module in-process (pam_bench, as
# bench/run.sh measures the file store) against a throwaway server
# (tests/pg/lib.sh, fsync on) at each scale given (default 1000 100000
# profiles), REPS times (default 3), over three connections:
#   unix  the server's unix socket (trust), one connection per login
#   tls   TCP to 127.0.0.1 with TLS, sslmode=verify-full, the host's role
#         proven by a client certificate (pg_hba `cert`), as a fleet runs
#         it; one connection (and one handshake) per login
#   pool  pgbouncer in transaction mode on a unix socket, if installed:
#         warm server connections
# Accepted and rejected logins on each; emergency codes and 8 hosts at
# once (8 pam_bench processes) on the unix socket.  Then where a login's
# time goes, with pgbench: the connection (unix, plain TCP, TCP+TLS) and
# each of the module's two statements in a fresh server process and in a
# warm one.  Needs root (initdb runs as postgres); exits 2 when PostgreSQL
# is not installed.
#
#   bench/pg_bench.sh [SCALE...]     RESULT and PGSTEP lines on stdout
#   REPS=N                           runs per figure (default 3)
#   PG_PRELOAD=                      without shared_preload_libraries
#                                    (default plpgsql,pgcrypto, as
#                                    docs/fleet.md recommends)
#   PG_SHARED_BUFFERS=               the server's shared_buffers (default
#                                    512MB: 1M profiles and their index,
#                                    about 400 MB, stay in it)
#   SYNC=off                         commits without waiting for the WAL
#                                    flush (diagnostic only)
#
# The database judges codes on its own clock, so pam_bench's fake clock
# (bench_preload.so, which also supplies the fake users) is started at the
# real time.  A TOTP step is accepted once per user, so the accepted-login
# runs take consecutive slices of one shuffled user list; when the list
# runs out, the next run waits for the next 30 s step.  Emergency codes
# likewise, one slot (code) after the other.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
. "$TOP/tests/pg/lib.sh"
SCALES=${*:-1000 100000}
REPS=${REPS:-3}
PG_PRELOAD=${PG_PRELOAD-plpgsql,pgcrypto}
PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-512MB}
OWNER=11111111-2222-4333-8444-555555555555
PRELOAD=$BUILD/bench/bench_preload.so
PAM_BENCH=$BUILD/bench/pam_bench
OURS=$BUILD/pam_totp_profile.so

pg_available || { echo "pg_bench: PostgreSQL is not available (needs root and Debian's postgresql)" >&2; exit 2; }
# a free TCP port on 127.0.0.1 (the socket file is named after it too)
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_SERVER_OPTS="-c listen_addresses=127.0.0.1 -c shared_buffers=$PG_SHARED_BUFFERS ${PG_PRELOAD:+-c shared_preload_libraries=$PG_PRELOAD}"
W=$(mktemp -d /tmp/tp-pgbench.XXXXXX)
chmod 0755 "$W"
BOUNCER_PID=""
trap "trap '' INT TERM; "'[ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID"; pg_stop; rm -rf "$W"' EXIT
pg_start || exit 1
pg_migrate || exit 1
pg_login_role host_bench totp_login
# no lockout: the rejected runs must not lock their users
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null
# diagnostic only (where the time goes): SYNC=off makes the host's commits
# return before their WAL is flushed.  Never in production: a crash of
# the server would then lose accepted steps and spent codes.
[ "${SYNC:-on}" = off ] && pg_psql -c "ALTER ROLE host_bench SET synchronous_commit = off" >/dev/null

# ---- TLS: a CA, the server's certificate, the host's (tests/pg/lib.sh) ----
K=$W/pki
TLS=""
if command -v openssl >/dev/null && pg_tls_on "$K" host_bench; then
	# certificate logins for the hosts; plain TCP (trust) only for
	# pgbench's breakdown row, on this throwaway server
	cat > "$PG_DIR/data/pg_hba.conf" <<HBA
local   all   all                         trust
hostssl totp  +totp_login  127.0.0.1/32   cert
hostnossl totp +totp_login 127.0.0.1/32   trust
host    all   all          127.0.0.1/32   reject
HBA
	chown postgres: "$PG_DIR/data/pg_hba.conf"
	pg_psql -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
	TLS="host=localhost hostaddr=127.0.0.1 port=$PG_PORT sslmode=verify-full sslrootcert=$K/ca.crt sslcert=$K/host.crt sslkey=$K/host.key"
else
	echo "# pg_bench: no openssl, or the certificates could not be made: no TLS rows" >&2
fi

mkdir -p "$W/pam.d"
: > "$W/pam.d/other"
service() {   # service NAME CONNINFO: a PAM service using the pg store with it
	cat > "$W/$1.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "$2 dbname=$PG_DB user=host_bench connect_timeout=5"; };
issuer = "bench";
cluster = { name = "cluster1"; uuid = "$OWNER"; };
CONF
	chmod 0644 "$W/$1.conf"
	echo "auth required $OURS config=$W/$1.conf nodelay" > "$W/pam.d/$1"
}
service unix "host=$PG_DIR port=$PG_PORT"
CONNS=unix
[ -n "$TLS" ] && service tls "$TLS" && CONNS="$CONNS tls"
# pgbouncer in transaction mode, if installed: warm server connections (it
# refuses to run as root; `options` is the module's statement_timeout,
# which it must ignore)
if command -v pgbouncer >/dev/null; then
	mkdir -m 0700 "$W/pgb"
	cat > "$W/pgb/pgbouncer.ini" <<INI
[databases]
totp = host=$PG_DIR port=$PG_PORT dbname=$PG_DB
[pgbouncer]
listen_addr =
unix_socket_dir = $W/pgb
listen_port = $((PG_PORT + 2))
auth_type = trust
auth_file = $W/pgb/users.txt
pool_mode = transaction
default_pool_size = 8
ignore_startup_parameters = options
logfile = $W/pgb/pgbouncer.log
pidfile = $W/pgb/pgbouncer.pid
INI
	echo '"host_bench" ""' > "$W/pgb/users.txt"
	chown -R postgres: "$W/pgb"
	runuser -u postgres -- pgbouncer -d "$W/pgb/pgbouncer.ini" >/dev/null 2>&1
	for _ in $(seq 50); do [ -s "$W/pgb/pgbouncer.pid" ] && break; sleep 0.1; done
	BOUNCER_PID=$(cat "$W/pgb/pgbouncer.pid" 2>/dev/null)
	[ -n "$BOUNCER_PID" ] && service pool "host=$W/pgb port=$((PG_PORT + 2))" && CONNS="$CONNS pool"
fi
echo "MACHINE nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\"" \
     "postgresql=$("$PG_BIN/postgres" --version | awk '{print $3}') preload=${PG_PRELOAD:-none}" \
     "shared_buffers=$PG_SHARED_BUFFERS" \
     "sync=${SYNC:-on} date=$(date -u +%Y-%m-%dT%H:%MZ)"

# run CONN KIND ITERS SKIP SLOT [LABEL]: one pam_bench run at the real time
run() {
	env LD_PRELOAD="$PRELOAD" BENCH_CONFDIR="$W/pam.d" "$PAM_BENCH" --users "$N" \
		--kind "$2" --iters "$3" --budget 3 --time "$(date +%s)" --seed 7 \
		--skip "$4" --slot "$5" --module "$OURS" \
		--label "store=pg conn=$1 scale=$N rep=$rep ${6:-hosts=1}" "$1" \
		2>>"$W/errors.txt"
}
# accepted logins: ITERS users nobody has used in this TOTP step
ACC=0
take_users() {
	if [ $((ACC + $1)) -gt "$N" ]; then
		sleep $(( 31 - $(date +%s) % 30 ))
		ACC=0
	fi
	SKIP=$ACC
	ACC=$((ACC + $1))
}
# emergency codes: ITERS users whose code in slot SLOT is unspent
EMG=0
take_codes() {
	[ $((EMG % N + $1)) -gt "$N" ] && EMG=$(( (EMG / N + 1) * N ))
	SKIP=$((EMG % N)) SLOT=$((EMG / N))
	EMG=$((EMG + $1))
}
# pgbench: where the time goes, one connection per login (-C) and warm
PGB=$W/pgbench.sql
step() {   # step CONN CONNINFO: PGSTEP lines
	local c=$1 ci=$2 out
	out=$(pgbench -n -C -r -M extended -T 2 "$ci dbname=$PG_DB user=host_bench" -f "$PGB" 2>&1)
	awk -v conn="$c" -v n="$N" -v rep="$rep" '
		/average connection time/ { conn_ms = $5 }
		/latency average/ { total = $4 }
		/login_begin/ { b = $1 } /login_charge/ { a = $1 } /^ *[0-9.]+ +[0-9]+ +COMMIT/ { cm = $1 }
		/login_verdict/ { v = $1 }
		END { printf "PGSTEP conn=%s scale=%s rep=%s fresh=1 connect_ms=%s begin_ms=%s charge_ms=%s commit_ms=%s verdict_ms=%s total_ms=%s\n",
		      conn, n, rep, conn_ms, b, a, cm, v, total }' <<<"$out"
	[ "$c" = unix ] || return 0
	out=$(pgbench -n -r -M extended -T 2 "$ci dbname=$PG_DB user=host_bench" -f "$PGB" 2>&1)
	awk -v conn="$c" -v n="$N" -v rep="$rep" '
		/login_begin/ { b = $1 } /login_charge/ { a = $1 } /^ *[0-9.]+ +[0-9]+ +COMMIT/ { cm = $1 }
		/login_verdict/ { v = $1 }
		END { printf "PGSTEP conn=%s scale=%s rep=%s fresh=0 begin_ms=%s charge_ms=%s commit_ms=%s verdict_ms=%s\n",
		      conn, n, rep, b, a, cm, v }' <<<"$out"
}

for N in $SCALES; do
	pg_psql -c "TRUNCATE totp.profiles" >/dev/null
	start=$(date +%s%N)
	"$BUILD/bench/gen_profiles" "$N" --pg "$W/profiles.csv" "$OWNER"
	pg_psql -c "\\copy totp.profiles (owner_uuid, account, secret, algorithm, digits, period,
		enabled, ec_salt, ec_hashes, ec_spent) FROM '$W/profiles.csv' WITH (FORMAT csv)"
	# settled, as a table in service is: the loaded rows frozen and their
	# pages written out, so no autovacuum or checkpoint of the bulk load
	# runs during the timed logins
	pg_psql -c "VACUUM (FREEZE, ANALYZE) totp.profiles" -c "CHECKPOINT" >/dev/null
	rm -f "$W/profiles.csv"
	echo "# $N profiles loaded in $(( ($(date +%s%N) - start) / 1000000 )) ms;" \
	     "table and index $(pg_psql -c "SELECT pg_size_pretty(pg_total_relation_size('totp.profiles'))")"
	# the module's statements (pgbench sends the query string's parts one
	# by one); a wrong code (the charge committed, the verdict writes
	# nothing), on users the pam_bench runs do not need unspent
	cat > "$PGB" <<SQL
\\set u random(0, $((N - 1)))
\\set r random(0, 281474976710655)
SELECT * FROM totp.login_begin('$OWNER', 'u' || lpad(:u::text, 7, '0'));
BEGIN;
SELECT totp.login_charge(CAST('00000000-0000-4000-8000-' || lpad(to_hex(CAST(:r AS bigint)), 12, '0') AS uuid), '$OWNER', 'u' || lpad(:u::text, 7, '0'), '{000000}');
COMMIT;
SELECT * FROM totp.login_verdict(CAST('00000000-0000-4000-8000-' || lpad(to_hex(CAST(:r AS bigint)), 12, '0') AS uuid));
SQL
	iters=$(( N / 10 < 300 ? N / 10 : 300 ))
	ACC=0 EMG=0
	for rep in $(seq 1 "$REPS"); do
		for c in $CONNS; do
			take_users "$iters"
			run "$c" accept "$iters" "$SKIP" 0
			run "$c" reject "$iters" 0 0
		done
		take_codes "$iters"
		run unix emergency "$iters" "$SKIP" "$SLOT"
		# 8 hosts at once, each its own process and connections, each
		# its own slice of unused users
		# directly and through the pooler
		for c in $CONNS; do
			[ "$c" = tls ] && continue
			take_users "$iters"
			per=$(( iters / 8 ))
			for h in 1 2 3 4 5 6 7 8; do
				run "$c" accept "$per" $(( SKIP + (h - 1) * per )) 0 "hosts=8 host=$h" > "$W/host$h.out" &
			done
			wait
			# the hosts' logins/s add up; their p50s' median
			p50=$(grep -ho 'p50_us=[0-9.]*' "$W"/host*.out | cut -d= -f2 | sort -n | sed -n '4,5p' |
				awk '{ s += $1 } END { if (NR) printf "%.1f", s / NR }')
			awk -v n="$N" -v rep="$rep" -v p50="$p50" -v conn="$c" '{for (i = 1; i <= NF; i++) { split($i, a, "=")
				if (a[1] == "logins_s") s += a[2]; if (a[1] == "ok") ok += a[2]
				if (a[1] == "logins") l += a[2] } }
			     END { printf "PGHOSTS store=pg conn=%s scale=%s rep=%s hosts=8 logins=%d ok=%d logins_s=%.1f p50_us=%s\n",
			           conn, n, rep, l, ok, s, p50 }' "$W"/host*.out
		done
		step unix "host=$PG_DIR port=$PG_PORT"
		step tcp "host=127.0.0.1 port=$PG_PORT sslmode=disable"
		[ -n "$TLS" ] && step tls "$TLS"
	done
done
[ -s "$W/errors.txt" ] && { echo "# harness errors:"; sort "$W/errors.txt" | uniq -c | head -n 10; }
exit 0
