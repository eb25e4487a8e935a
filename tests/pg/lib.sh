# shellcheck shell=bash
# A throwaway PostgreSQL server for the tests.  Source it, then call
# pg_start: it runs Debian's initdb as the postgres user into a fresh temp
# folder, listens only on a unix socket inside that folder (no TCP), and
# stops and removes the server when the shell exits, failed or not.  The
# machine's own clusters (/etc/postgresql, /var/lib/postgresql) are never
# touched.
#
#   pg_start                  server up, database "totp" created, PG_DIR set
#                             (PG_SERVER_OPTS: more "-c name=value" for the
#                             server, e.g. TCP and TLS settings; PG_FAKE_CLOCK=1:
#                             the server's clock is set by pg_clock)
#   pg_clock [UNIX_TIME]      with PG_FAKE_CLOCK=1: the server's wall clock
#                             stands still at UNIX_TIME (libfaketime, read
#                             anew on every call), or is the real one again
#   pg_migrate [DB]           apply sql/*.sql in name order as the superuser
#   pg_psql [psql args]       psql as the superuser on the test database
#   pg_as ROLE [psql args]    psql as a login role over the same socket
#   pg_login_role NAME GROUP  a LOGIN role that is a member of GROUP
#   pg_stop                   stop and remove (also run at exit)
set -u
PG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=""
PG_DB=totp
PG_PORT=5432          # only names the socket file inside $PG_DIR

# Nothing from the caller's environment may point psql elsewhere.
for v in $(env | sed -n 's/^\(PG[A-Z_]*\)=.*/\1/p'); do
	[ "$v" = PG_BIN ] || unset "$v"
done

pg_available() {
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] &&
		command -v psql >/dev/null && id postgres >/dev/null 2>&1 &&
		[ "$(id -u)" -eq 0 ]
}

# The server's wall clock, for suites that freeze the module's (lib.sh's
# AT=): libfaketime in every server process reads $PG_DIR/clock on each
# clock call ("+0": the real time).  Only the wall clock is faked: the
# monotonic one, which the server's waits and timers use, stays real.
PG_FAKE_CLOCK=${PG_FAKE_CLOCK:-0}
PG_FAKETIME_LIB=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/faketime/libfaketime.so.1
pg_clock() {
	local spec="+0"
	[ -n "${1:-}" ] && spec=$(date -u -d "@$1" '+%Y-%m-%d %H:%M:%S')
	# whole or not at all: a server process may read it at any moment
	printf '%s\n' "$spec" > "$PG_DIR/clock.new" && chmod 0644 "$PG_DIR/clock.new" &&
		mv -f "$PG_DIR/clock.new" "$PG_DIR/clock"
}

pg_stop() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate \
			-t 20 stop >/dev/null 2>&1
		# still there (pg_ctl failed): end our own postmaster by its pid
		local pid
		pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	rm -rf "$PG_DIR"
	PG_DIR=""
}

# Run pg_stop at exit, after whatever exit trap the caller (lib.sh) has.
pg_chain_exit_trap() {
	local prev=""
	# `trap -p` quotes the command for the shell: let the shell unquote it
	eval "set -- $(trap -p EXIT)"
	[ $# -eq 4 ] && prev=$3
	# The clean-up ignores INT and TERM: a suite stopped by `timeout` (as
	# make mutants does) gets TERM twice, once from whoever stopped it and
	# once from timeout passing it on to its group, and a second TERM
	# inside the trap would end it before the server's folder is removed
	# shellcheck disable=SC2064
	trap "trap '' INT TERM; ${prev:+$prev; }pg_stop" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

pg_start() {
	PG_DIR=$(mktemp -d /tmp/tp-pg.XXXXXX) || return 1
	pg_chain_exit_trap
	chown postgres: "$PG_DIR"
	chmod 0700 "$PG_DIR"
	# trust is safe here: the only way in is the socket in a 0700 folder.
	# --no-sync: the new files need not survive a crash of this machine;
	# the server itself runs with fsync on, like a real one.
	if ! runuser -u postgres -- "$PG_BIN/initdb" --no-sync -D "$PG_DIR/data" -U postgres \
		--auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1; then
		echo "# pg_start: initdb failed:" >&2
		sed 's/^/#   /' "$PG_DIR/initdb.log" >&2
		return 1
	fi
	local -a clock=()
	if [ "$PG_FAKE_CLOCK" = 1 ]; then
		pg_clock || return 1
		clock=(LD_PRELOAD="$PG_FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$PG_DIR/clock"
		       FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC)
	fi
	if ! runuser -u postgres -- env "${clock[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-w -t 30 -o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' \
		-c port=$PG_PORT -c fsync=on -c max_connections=40 \
		-c shared_buffers=16MB ${PG_SERVER_OPTS:-}" start >/dev/null 2>&1; then
		echo "# pg_start: the server did not start:" >&2
		tail -n 20 "$PG_DIR/server.log" | sed 's/^/#   /' >&2
		return 1
	fi
	psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE $PG_DB ENCODING 'UTF8' TEMPLATE template0" >/dev/null
}

pg_psql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres \
		-d "$PG_DB" "$@"
}

pg_as() {
	local role=$1; shift
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U "$role" \
		-d "$PG_DB" "$@"
}

pg_migrate() {
	local f LC_ALL=C        # name order, whatever the locale
	for f in "$PG_TOP"/sql/*.sql; do
		psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres \
			-d "${1:-$PG_DB}" -f "$f" >/dev/null || return 1
	done
}

# A suite's start.  pg_suite_needs NAME WHY [TEST...]: unless a throwaway
# server can run here (and each TEST command succeeds), report the suite
# skipped and end it.  pg_suite_up: start the server and apply sql/*.sql,
# or end the suite failed.
pg_suite_needs() {
	local name=$1 why=$2 t; shift 2
	pg_available || { skip "$name" "$why"; exit 0; }
	for t in "$@"; do
		eval "$t" >/dev/null 2>&1 || { skip "$name" "$why"; exit 0; }
	done
}
pg_suite_up() {
	pg_start || { echo "not ok - postgresql: a throwaway server starts"; exit 1; }
	[ "${1:-}" = --no-schema ] && return 0
	pg_migrate || { echo "not ok - postgresql: the migrations apply"; exit 1; }
}

# pg_tls_on DIR HOST_CN: in DIR (made, 0700) a CA (ca.crt, ca.key), the
# server's certificate for localhost and a host's client certificate with
# the common name HOST_CN (host.crt, host.key), all signed by the CA; the
# server gets its certificate and the CA and turns TLS on (its pg_hba.conf
# is the caller's).  Status: 0, or 1 when a certificate cannot be made.
pg_tls_on() {
	local k=$1 cn=$2
	mkdir -m 0700 "$k" || return 1
	_pg_ossl() { openssl "$@" >/dev/null 2>&1; }
	_pg_cert() {   # _pg_cert DIR NAME CN [SAN]: NAME.key, NAME.crt signed by the CA
		printf '%s\n' "${4:+subjectAltName=$4}" "basicConstraints=CA:FALSE" > "$1/$2.ext"
		_pg_ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$3" &&
		_pg_ossl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" \
			-CAcreateserial -days 2 -out "$1/$2.crt" -extfile "$1/$2.ext"
	}
	_pg_ossl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$k/ca.key" -out "$k/ca.crt" -subj "/CN=fleet test CA" &&
	_pg_cert "$k" server localhost "DNS:localhost" &&
	_pg_cert "$k" host "$cn" || return 1
	chmod 0600 "$k"/*.key
	cp "$k/server.crt" "$k/server.key" "$k/ca.crt" "$PG_DIR/"
	chown postgres: "$PG_DIR/server.crt" "$PG_DIR/server.key" "$PG_DIR/ca.crt"
	chmod 0600 "$PG_DIR/server.key"
	pg_psql -c "ALTER SYSTEM SET ssl = on" \
		-c "ALTER SYSTEM SET ssl_cert_file = '$PG_DIR/server.crt'" \
		-c "ALTER SYSTEM SET ssl_key_file = '$PG_DIR/server.key'" \
		-c "ALTER SYSTEM SET ssl_ca_file = '$PG_DIR/ca.crt'" >/dev/null
}

# pg_reload: the server re-reads its configuration (postgresql.auto.conf,
# pg_hba.conf) and the call returns once the postmaster has said so in its
# log.  The postmaster reloads before it accepts another connection, so a
# connection made after that sees the new settings.  Bound: 10 s.
pg_reload() {
	local n
	n=$(grep -c "received SIGHUP, reloading configuration files" "$PG_DIR/server.log")
	pg_psql -c "SELECT pg_reload_conf()" >/dev/null || return 1
	for _ in $(seq 200); do
		[ "$(grep -c "received SIGHUP, reloading configuration files" "$PG_DIR/server.log")" -gt "$n" ] &&
			return 0
		sleep 0.05
	done
	echo "# pg_reload: the server did not reload within 10 s" >&2
	return 1
}

# pg_hung_server PORT_FILE SECONDS: a server on 127.0.0.1 that takes
# connections and never answers (a hung host, a black-holed route), for
# SECONDS; its port in PORT_FILE, its pid in HANG_PID.  Bound: it listens
# within 10 s, or a '#' line says it did not.
pg_hung_server() {
	python3 - "$1" "$2" <<'PY' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(float(sys.argv[2]))
PY
	HANG_PID=$!
	for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "# the hung server did not listen within 10 s"
}

pg_login_role() {
	pg_psql -c "CREATE ROLE $1 LOGIN IN ROLE $2" >/dev/null
}

# The suites' reporting, as lib.sh's (when sourced without lib.sh).
if ! declare -F check >/dev/null; then
	check() {
		local name=$1; shift
		if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fi
	}
	skip() { echo "skip - $1: $2"; }
fi
