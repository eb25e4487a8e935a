# Shared helpers for the integration tests.  Source it; it creates a
# throwaway world in $T (config, store, PAM service dir, fake users) and
# removes it on exit.  Nothing outside $T is touched (but pam_wrapper's own
# stale /tmp/pam.X folders, see below): users come from nss_wrapper files,
# PAM services from pam_wrapper's service dir.
#
# STORE_BACKEND=postgresql (default: files) runs a suite on the PostgreSQL
# store: a throwaway server (tests/pg/lib.sh) whose wall clock follows AT=,
# the config naming it, and the profile helpers (mkprofile, profile_state,
# rmprofile, profile_exists, profile_dump) working through the admin
# functions.  A case that only means something on one store asks
# `on_backend files` and skips with its reason on the other.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
MODULE="$BUILD/pam_totp_profile.so"
TOTPCTL="$BUILD/totpctl"
MKPROFILE="$BUILD/tests/tp_mkprofile"
SYSLOG_SHIM="$BUILD/tests/syslog_capture.so"
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PAM_WRAPPER_LIB=/usr/lib/$MULTIARCH/libpam_wrapper.so
NSS_WRAPPER_LIB=/usr/lib/$MULTIARCH/libnss_wrapper.so
# ASan must come first in LD_PRELOAD when the module is built with it
ASAN_LIB=""
if nm -D "$MODULE" 2>/dev/null | grep -q __asan_init; then
	ASAN_LIB="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
	# libfaketime must load before the ASan runtime or the two deadlock
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:verify_asan_link_order=0}
fi

CLUSTER_UUID=11111111-2222-4333-8444-555555555555
SVM_UUID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
# a well-known test secret (RFC 4226's key, base32)
SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ

# pam_wrapper (1.1.4, Debian 12) copies each process's services into one
# of the /tmp/pam.X folders (X one of 0-9A-Za-z; it has no setting to put
# them elsewhere) and frees a folder only when a pid file in it names a
# dead process.  A process killed before it wrote that file (a test's
# timeout, a kill -9, an interrupted run) leaves a folder nobody frees,
# and once all are taken every pamtester run fails before our module is
# loaded.  Free those: no pid file, or a dead pid, and older than a minute
# (a live process writes its pid file at once).
free_stale_pam_wrapper_dirs() {
	local d pid
	for d in /tmp/pam.?; do
		[ -d "$d" ] && [ ! -L "$d" ] || continue
		[ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ] || continue
		pid=$(cat "$d/pid" 2>/dev/null)
		case "$pid" in
		''|*[!0-9]*) ;;
		*) kill -0 "$pid" 2>/dev/null && continue ;;
		esac
		rm -rf -- "$d"
	done
}
free_stale_pam_wrapper_dirs

# libfaketime (0.9.10) names its shared memory after the pid
# (/dev/shm/faketime_shm_PID, sem.faketime_sem_PID) and exits when the name
# is taken.  A process killed under it (crash.sh's kills, a timeout) leaves
# its pair behind, and with pid_max at 32768 a later login soon gets that
# pid and dies in libfaketime before the module runs.  Free the pairs of
# processes that no longer run (called here and after killing logins).
free_stale_faketime_shm() {
	local f pid
	for f in /dev/shm/faketime_shm_* /dev/shm/sem.faketime_sem_*; do
		[ -e "$f" ] || continue
		pid=${f##*_}
		case "$pid" in ''|*[!0-9]*) continue ;; esac
		kill -0 "$pid" 2>/dev/null || rm -f -- "$f"
	done
}
free_stale_faketime_shm

T=$(mktemp -d /tmp/tp-test.XXXXXX)
chmod 0755 "$T"
# A suite adds its own clean-up with tp_at_exit CMD (run first, in order),
# never with a trap of its own: the EXIT trap also stops the PostgreSQL
# server on that backend (pg_chain_exit_trap in tests/pg/lib.sh), and a
# suite's trap in its place left the server running.
TP_AT_EXIT=()
tp_at_exit() { TP_AT_EXIT+=("$1"); }
trap 'tp_cleanup' EXIT
tp_cleanup() {
	local c
	trap '' INT TERM        # finish: see pg_chain_exit_trap in tests/pg/lib.sh
	for c in "${TP_AT_EXIT[@]}"; do eval "$c"; done
	[ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
	tp_end_strays
	rm -rf "$T"
}
# What the suite started and left running when it is stopped: a login under
# `timeout` (which puts itself in a process group of its own, so a TERM to
# the suite's group misses it) would go on writing into $T while it is
# removed.  Every process whose command line names $T ends (timeout passes
# the TERM on to its command); bound 5 s, then KILL.
tp_end_strays() {
	pkill -TERM -f -- "$T/" 2>/dev/null || return 0
	for _ in $(seq 50); do
		pgrep -f -- "$T/" > /dev/null || return 0
		sleep 0.1
	done
	pkill -KILL -f -- "$T/" 2>/dev/null
}

# Every process under pam_wrapper runs through $PRIVATE_TMP (see there):
# a /tmp of its own, with the folders of PRIVATE_TMP_KEEP kept (pam_env_args
# adds the PostgreSQL server's socket folder once there is one)
PRIVATE_TMP="$TOP/tests/integration/private_tmp"
export PRIVATE_TMP_KEEP="$T $TOP $BUILD"

TP_CONF="$T/totp_profile.conf"
TP_STORE="$T/store"
TP_SYSLOG="$T/syslog"
export TP_TEST_SYSLOG="$TP_SYSLOG"
mkdir -p "$TP_STORE" "$T/pam.d" "$T/pam_wrapper"
chmod 0755 "$TP_STORE"
: > "$TP_SYSLOG"

# Fake users: alice, bob (totp group), carol (svm member), dave (no totp),
# tpadmin (admin group).  uids are real numbers so setpriv can use them.
cat > "$T/passwd" <<PW
root:x:0:0:root:/root:/bin/bash
alice:x:4001:4001:Alice:$T:/bin/sh
bob:x:4002:4002:Bob:$T:/bin/sh
carol:x:4003:4003:Carol:$T:/bin/sh
dave:x:4004:4004:Dave:$T:/bin/sh
tpadmin:x:4005:4005:Admin:$T:/bin/sh
PW
cat > "$T/group" <<GR
root:x:0:
alice:x:4001:
bob:x:4002:
carol:x:4003:
dave:x:4004:
tpadmin:x:4005:
totp:x:4100:alice,bob,carol,tpadmin
totpadmin:x:4101:tpadmin
GR
export NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group"

STORE_BACKEND=${STORE_BACKEND:-files}
# tests/pg's suites start their own servers (a second one here would be
# left running when theirs replaces PG_DIR)
case "$0" in */tests/pg/*|tests/pg/*) STORE_BACKEND=files ;; esac
case "$STORE_BACKEND" in
files) ;;
postgresql)
	# shellcheck source=../pg/lib.sh
	. "$TOP/tests/pg/lib.sh"
	if ! pg_available; then
		skip "$(basename "$0") on postgresql" "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
		exit 0
	fi
	# Autovacuum off: its schedule would jump with the clock.
	PG_FAKE_CLOCK=1
	PG_SERVER_OPTS="-c autovacuum=off"
	if ! pg_start || ! pg_migrate; then
		echo "not ok - postgresql: a throwaway server starts, the migrations apply"
		exit 1
	fi
	# The socket's folder is open to root, postgres and the group daemon
	# (the store user of totpctl.sh's setuid copy), no one else: the
	# server trusts whoever reaches the socket.
	chgrp daemon "$PG_DIR" && chmod 0710 "$PG_DIR"
	pg_login_role tp_host totp_login
	pg_login_role tp_admin totp_admin
	;;
*)
	echo "not ok - STORE_BACKEND=$STORE_BACKEND: files or postgresql"
	exit 1 ;;
esac
# on_backend NAME: this run's store is NAME
on_backend() { [ "$STORE_BACKEND" = "$1" ]; }

# store_settings USER: the config's store group for this run's store
store_settings() {
	local pg=""
	if on_backend postgresql; then
		local ci="host=$PG_DIR port=$PG_PORT dbname=$PG_DB connect_timeout=5"
		pg=" backend = \"postgresql\"; conninfo = \"$ci user=tp_host\";"
		pg+=" admin_conninfo = \"$ci user=tp_admin\";"
	fi
	echo "store = { path = \"$TP_STORE\"; user = \"$1\";$pg };"
}

# db_policy SETTINGS...: on the database, the login policy lives in the
# database (totp.settings), not in the config: make it what these config
# lines say (lib/config.c's defaults for what they leave out)
db_policy() {
	on_backend postgresql || return 0
	local window=1 max=5 secs=300 line
	for line in "$@"; do
		[[ $line =~ window\ *=\ *([0-9]+) ]] && window=${BASH_REMATCH[1]}
		[[ $line =~ max_failures\ *=\ *([0-9]+) ]] && max=${BASH_REMATCH[1]}
		[[ $line =~ seconds\ *=\ *([0-9]+) ]] && secs=${BASH_REMATCH[1]}
	done
	pg_psql -c "SELECT totp.set_policy($window, $max, $secs)" > /dev/null
}

# write_config [EXTRA_TOP_LEVEL_SETTINGS...]
write_config() {
	db_policy "$@"
	{
		store_settings root
		echo "admin_group = \"totpadmin\";"
		echo "issuer = \"testhost\";"
		echo "cluster = { name = \"cluster1\"; uuid = \"$CLUSTER_UUID\"; totp_group = \"totp\"; };"
		echo "svms = ( { name = \"vs0\"; uuid = \"$SVM_UUID\"; members = [ \"carol\", \"erin\" ];"
		echo "           totp_accounts = [ \"carol\" ]; } );"
		for line in "$@"; do echo "$line"; done
	} > "$TP_CONF"
	chmod 0644 "$TP_CONF"
}
write_config

# root_config FILE: a config whose one TOTP account is root, which both
# nss_wrapper (the module) and the real passwd (totpctl, run from the build
# tree as root with --config) know.  No lockout: every login is judged on
# its code alone, and every finished miss adds exactly one failure.
root_config() {
	cat > "$1" <<CONF
store = { path = "$TP_STORE"; user = "root"; };
admin_group = "totpadmin";
issuer = "testhost";
lockout = { max_failures = 0; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "root" ]; };
CONF
}

# mkprofile ACCOUNT [key=value ...]   (owner: cluster unless owner=UUID first)
mkprofile() {
	local owner=$CLUSTER_UUID
	case "${1:-}" in owner=*) owner=${1#owner=}; shift ;; esac
	local account=$1; shift
	# start from scratch even if a test left the file corrupt on purpose;
	# on the database, as its owner: gone without a tombstone (which would
	# refuse the import of a profile an admin deleted)
	rm -f "$TP_STORE/$owner/$account.ini"
	if on_backend postgresql; then
		pg_psql -c "DELETE FROM totp.profiles WHERE owner_uuid = '$owner' AND account = '$account'" \
			-c "DELETE FROM totp.deleted WHERE owner_uuid = '$owner' AND account = '$account'" \
			> /dev/null
	fi
	"$MKPROFILE" "$TP_CONF" "$owner" "$account" "$SECRET" "$@"
}
# profile_state ACCOUNT [OWNER_UUID] -> "enabled last_step failures lock_until emergency_left"
# (on the database, lock_until is 0 unless a lock is running)
profile_state() {
	"$MKPROFILE" --get "$TP_CONF" "${2:-$CLUSTER_UUID}" "$1"
}
# rmprofile ACCOUNT [OWNER_UUID]: no profile left (none there is fine)
rmprofile() {
	local owner=${2:-$CLUSTER_UUID}
	if on_backend postgresql; then
		pg_psql -c "DELETE FROM totp.profiles WHERE owner_uuid = '$owner' AND account = '$1'" \
			> /dev/null
	else
		rm -f "$TP_STORE/$owner/$1.ini"
	fi
}
# profile_exists ACCOUNT [OWNER_UUID]: the store holds a record of it
profile_exists() {
	local owner=${2:-$CLUSTER_UUID}
	if on_backend postgresql; then
		[ "$(pg_psql -c "SELECT count(*) FROM totp.profiles
			WHERE owner_uuid = '$owner' AND account = '$1'")" = 1 ]
	else
		[ -e "$TP_STORE/$owner/$1.ini" ]
	fi
}
# profile_absent ACCOUNT [OWNER_UUID]: the store is readable and holds no
# record of it (a database error is not "absent")
profile_absent() {
	local owner=${2:-$CLUSTER_UUID}
	if on_backend postgresql; then
		[ "$(pg_psql -c "SELECT count(*) FROM totp.profiles
			WHERE owner_uuid = '$owner' AND account = '$1'")" = 0 ]
	else
		[ -d "$TP_STORE" ] && [ ! -e "$TP_STORE/$owner/$1.ini" ]
	fi
}
# profile_dump ACCOUNT [OWNER_UUID]: everything stored of it, as text
profile_dump() {
	local owner=${2:-$CLUSTER_UUID}
	if on_backend postgresql; then
		pg_psql -c "SELECT p::text FROM totp.profiles p
			WHERE owner_uuid = '$owner' AND account = '$1'"
	else
		cat "$TP_STORE/$owner/$1.ini"
	fi
}

# code [OFFSET_STEPS [SECRET [EXTRA_OATHTOOL_ARGS]]] : TOTP code now + offset steps
code() {
	local off=${1:-0} secret=${2:-$SECRET}
	shift $(( $# > 2 ? 2 : $# ))
	[ $# -gt 0 ] || set -- --totp
	oathtool -b "$@" -N "@$(( $(date +%s) + off * 30 ))" "$secret"
}

# Every test service runs the module with `nodelay` (no fail delay after a
# refusal) so suites stay fast; a case that wants the delay adds
# fail_delay=MS after it (the last one wins).
# pam_service NAME MODULE_ARGS...  -> auth stack: our module, then pam_permit
pam_service() {
	local name=$1; shift
	printf 'auth required %s nodelay %s\naccount required pam_permit.so\n' "$MODULE" "$*" \
		> "$T/pam.d/$name"
}

# pam_stack NAME LINE...: a service file, written verbatim but for `nodelay`
# after the module's path
pam_stack() {
	local name=$1 line; shift
	for line in "$@"; do
		line="$line "
		line=${line//"$MODULE "/"$MODULE nodelay "}
		printf '%s\n' "${line% }"
	done > "$T/pam.d/$name"
}

# pam_auth SERVICE USER [INPUT...]: each INPUT is one answer to a prompt.
# Exit status: pamtester's (0 = authenticated).  Output in $T/pam.out.
#   PAM_ENV="K=V ..."   extra environment (e.g. PAM_AUTHTOK for pam_set_items.so)
#   AT=UNIX_TIME        run with the clock frozen at that time (libfaketime)
#   PAM_OP=setcred      another pamtester operation
#   PAM_PRELOAD=LIB.so  preloaded before the wrappers (e.g. casefold_nss.so)
#   VALGRIND="valgrind --error-exitcode=99 ..."   pamtester runs under it
#                       (make check-valgrind); a memcheck error is reported
#                       as a failed case of its own, the exit status and
#                       pam.out stay pamtester's
FAKETIME_LIB=/usr/lib/$MULTIARCH/faketime/libfaketime.so.1
VALGRIND_ERROR_EXIT=99
# pam_env_args: set PAM_ENV_ARGS to the environment pamtester runs in
# (for `env "${PAM_ENV_ARGS[@]}" pamtester ...`): the preloads, pam_wrapper's
# service dir, and the frozen clock when AT is set.  The time string is
# kept between calls, so racing logins at one AT start no extra process.
PAM_ENV_ARGS=() PAM_ENV_AT="" PAM_ENV_FAKETIME=""
pam_env_args() {
	local preload="$ASAN_LIB $SYSLOG_SHIM ${PAM_PRELOAD:-} $PAM_WRAPPER_LIB $NSS_WRAPPER_LIB"
	local -a clock=()
	if [ -n "${AT:-}" ]; then
		preload="$FAKETIME_LIB $preload"
		if [ "$AT" != "$PAM_ENV_AT" ]; then
			# no leading "@": the clock stands still at that time
			PAM_ENV_FAKETIME=$(date -u -d "@$AT" '+%Y-%m-%d %H:%M:%S')
			PAM_ENV_AT=$AT
		fi
		clock=("FAKETIME=$PAM_ENV_FAKETIME" FAKETIME_NO_CACHE=1 TZ=UTC)
	fi
	# the database judges codes on its own clock: the same one
	if on_backend postgresql; then pg_clock "${AT:-}"; fi
	PRIVATE_TMP_KEEP="$T $TOP $BUILD${PG_DIR:+ $PG_DIR}"
	PAM_ENV_ARGS=(LD_PRELOAD="$preload" PAM_WRAPPER=1 PAM_WRAPPER_USE_SYSLOG=1
		PAM_WRAPPER_SERVICE_DIR="$T/pam.d"
		"${clock[@]}")
}
pam_auth() {
	local svc=$1 user=$2; shift 2
	local -a extra=() vg=()
	# a watchdog, not a check: a login takes well under 1 s, a few at
	# load 13 on 2 cores; one still running after 30 s hangs, and is
	# killed as a failed login (exit 124)
	local rc limit=30
	if [ -n "${VALGRIND:-}" ]; then
		# shellcheck disable=SC2206
		vg=($VALGRIND --log-file="$T/valgrind.log")
		limit=180
		: > "$T/valgrind.log"
	fi
	pam_env_args
	# shellcheck disable=SC2206
	[ -n "${PAM_ENV:-}" ] && extra+=($PAM_ENV)
	# timeout stays outside env: the watchdog itself must not be preloaded
	printf '%s\n' "$@" | timeout "$limit" "$PRIVATE_TMP" env "${PAM_ENV_ARGS[@]}" \
		"${extra[@]}" "${vg[@]}" pamtester -v "$svc" "$user" "${PAM_OP:-authenticate}" \
		> "$T/pam.out" 2>&1
	rc=$?
	if [ "${#vg[@]}" -gt 0 ]; then
		if [ "$rc" -eq "$VALGRIND_ERROR_EXIT" ] || [ -s "$T/valgrind.log" ]; then
			echo "not ok - valgrind: memcheck errors in pamtester $svc $user${AT:+ at $AT}"
			sed 's/^/#   valgrind: /' "$T/valgrind.log" | head -n 60
			# pamtester's own verdict is lost; let the case itself fail too
			[ "$rc" -eq "$VALGRIND_ERROR_EXIT" ] && rc=125
		fi
	fi
	return "$rc"
}
# code_at UNIX_TIME [SECRET [OATHTOOL_ARGS]]: the code at a given time
# (OATHTOOL_ARGS default to --totp, i.e. SHA1, 6 digits, 30 s)
code_at() {
	local at=$1 secret=${2:-$SECRET}
	shift $(( $# > 2 ? 2 : $# ))
	[ $# -gt 0 ] || set -- --totp
	oathtool -b "$@" -N "@$at" "$secret"
}
prompted() { grep -q -- "${1:-Verification code: }" "$T/pam.out"; }

# check NAME COMMAND...: one test case
check() {
	local name=$1; shift
	if "$@"; then
		echo "ok - $name"
	else
		echo "not ok - $name"
		[ -s "$T/pam.out" ] && sed 's/^/#   pam: /' "$T/pam.out" | tail -n 5
		tail -n 3 "$TP_SYSLOG" | sed 's/^/#   log: /'
	fi
}
skip() { echo "skip - $1: $2"; }
fails() { ! "$@"; }
logged() { grep -q -- "$1" "$TP_SYSLOG"; }
clear_log() { : > "$TP_SYSLOG"; }

# sshd_test_server: a host key, a client key that the server accepts, a
# free port on loopback ($PORT); then print the sshd_config lines that put
# a test's own sshd there (the caller adds what it tests)
sshd_test_server() {
	ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"
	cp "$T/client_key.pub" "$T/authorized_keys"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}
sshd_test_config() {
	cat <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
PermitRootLogin yes
CONF
}
