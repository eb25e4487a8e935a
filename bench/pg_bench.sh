#!/bin/bash
# The PostgreSQL store's figures: the module in-process (pam_bench, as
# bench/run.sh measures the file store) against a throwaway server on its
# unix socket (tests/pg/lib.sh), at each scale given (default 1000 100000
# profiles): accepted, rejected and emergency-code logins, one host; then
# 8 hosts (8 pam_bench processes) at once.  Every login opens its own
# connection (as the module does: one per PAM transaction), checks the
# schema version, probes the profile and makes the attempt: four round
# trips.  Needs root (initdb runs as postgres).
#
#   bench/pg_bench.sh [SCALE...]     RESULT lines on stdout, as run.sh's
#   SYNC=off bench/pg_bench.sh ...   the same without waiting for the WAL
#                                    flush at commit (diagnostic only)
#
# The database judges codes on its own clock, so pam_bench's fake clock
# (bench_preload.so, which also supplies the fake users) is started at the
# real time and each run stays within one round: every user at most once.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
. "$TOP/tests/pg/lib.sh"
SCALES=${*:-1000 100000}
OWNER=11111111-2222-4333-8444-555555555555
PRELOAD=$BUILD/bench/bench_preload.so
PAM_BENCH=$BUILD/bench/pam_bench
OURS=$BUILD/pam_totp_profile.so

pg_available || { echo "pg_bench: needs root and Debian's postgresql" >&2; exit 1; }
pg_start || exit 1
pg_migrate || exit 1
pg_login_role host_bench totp_login
# no lockout: the rejected runs must not lock their users
pg_psql -c "SELECT totp.set_policy(1, 0, 300)" >/dev/null
# diagnostic only (where the time goes): SYNC=off makes the host's commits
# return before their WAL is flushed.  Never in production: a crash of
# the server would then lose accepted steps and spent codes.
[ "${SYNC:-on}" = off ] && pg_psql -c "ALTER ROLE host_bench SET synchronous_commit = off" >/dev/null
W=$(mktemp -d /tmp/tp-pgbench.XXXXXX)
chmod 0755 "$W"
trap 'pg_stop; rm -rf "$W"' EXIT
mkdir -p "$W/pam.d"
cat > "$W/tp.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=$PG_DIR port=$PG_PORT dbname=$PG_DB user=host_bench connect_timeout=5"; };
issuer = "bench";
cluster = { name = "cluster1"; uuid = "$OWNER"; };
CONF
chmod 0644 "$W/tp.conf"
echo "auth required $OURS config=$W/tp.conf nodelay" > "$W/pam.d/ours"
: > "$W/pam.d/other"
# the same through pgbouncer in transaction mode, if installed: warm server
# connections (it refuses to run as root; `options` is the module's
# statement_timeout, which it must ignore)
BOUNCER_PID=""
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
	sed "s|host=$PG_DIR port=$PG_PORT|host=$W/pgb port=$((PG_PORT + 2))|" "$W/tp.conf" > "$W/tp-pool.conf"
	chmod 0644 "$W/tp-pool.conf"
	echo "auth required $OURS config=$W/tp-pool.conf nodelay" > "$W/pam.d/ours-pool"
fi
trap '[ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID"; pg_stop; rm -rf "$W"' EXIT
echo "MACHINE nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\"" \
     "postgresql=$("$PG_BIN/postgres" --version | awk '{print $3}') date=$(date -u +%Y-%m-%dT%H:%MZ)"

# run KIND ITERS SEED [SLOT] [LABEL]: one pam_bench run at the real time
SERVICE=ours
run() {
	env LD_PRELOAD="$PRELOAD" BENCH_CONFDIR="$W/pam.d" "$PAM_BENCH" --users "$N" \
		--kind "$1" --iters "$2" --budget 3 --time "$(date +%s)" --seed "$3" \
		--slot "${4:-0}" --module "$OURS" \
		--label "module=$SERVICE-pg sync=${SYNC:-on} scale=$N ${5:-hosts=1}" "$SERVICE" \
		2>>"$W/errors.txt"
}

for N in $SCALES; do
	pg_psql -c "TRUNCATE totp.profiles" >/dev/null
	start=$(date +%s%N)
	"$BUILD/bench/gen_profiles" "$N" --pg "$W/profiles.csv" "$OWNER"
	pg_psql -c "\\copy totp.profiles (owner_uuid, account, secret, algorithm, digits, period,
		enabled, ec_salt, ec_hashes, ec_spent) FROM '$W/profiles.csv' WITH (FORMAT csv)"
	pg_psql -c "ANALYZE totp.profiles" >/dev/null
	echo "# $N profiles loaded in $(( ($(date +%s%N) - start) / 1000000 )) ms"
	iters=$(( N < 1000 ? N : 1000 ))
	run accept "$iters" 11
	run reject "$iters" 12
	run emergency "$iters" 13 0
	# 8 hosts at once, each its own process and connections; each takes
	# users from its own seed, so some pick a user another already used
	# in this step (a replay, not counted in ok)
	for h in 1 2 3 4 5 6 7 8; do
		run accept $(( iters / 8 )) $(( 20 + h )) 0 "hosts=8 host=$h" > "$W/host$h.out" &
	done
	wait
	cat "$W"/host*.out
	awk '{for (i = 1; i <= NF; i++) if ($i ~ /^logins_s=/) { split($i, a, "="); s += a[2] }}
	     END { printf "# 8 hosts together: %.1f logins/s\n", s }' "$W"/host*.out
	if [ -n "$BOUNCER_PID" ]; then
		# through the pooler: emergency codes of another slot (this step's
		# TOTP codes are spent by the runs above)
		SERVICE=ours-pool
		run emergency "$iters" 31 1
		run reject "$iters" 32
		SERVICE=ours
	fi
done
[ -s "$W/errors.txt" ] && { echo "# harness errors:"; sort "$W/errors.txt" | uniq -c | head -n 10; }
exit 0
