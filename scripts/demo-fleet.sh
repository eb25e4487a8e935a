#!/bin/bash
# The fleet store, end to end, on a throwaway PostgreSQL (initdb into a temp
# folder, unix socket only; the machine's own clusters and /etc are never
# touched): two SSH "hosts" share one profile in the database; a code used
# on one is refused on the other, an emergency code works once across both,
# neither host can read a secret, and with the database gone the login is
# refused, not let through.  Needs root (initdb runs as postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
. tests/pg/lib.sh
if ! pg_available; then
	echo "demo-fleet: needs root and Debian's postgresql (scripts/install-deps.sh --test)" >&2
	exit 1
fi

W=$(mktemp -d /tmp/totp-fleet-demo.XXXXXX)
trap "trap '' INT TERM; "'rm -rf "$W"' EXIT
chmod 0755 "$W"
mkdir -m 0755 "$W/store" "$W/pam.d"
ME=$(id -un)
OWNER=b009a9e7-4081-b576-7575-ada21efcaf16

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A throwaway PostgreSQL, the schema (sql/*.sql), one role per host"
pg_start        # its exit trap (pg_stop) runs after ours
trap "trap '' INT TERM; "'pg_stop; rm -rf "$W"' EXIT
pg_migrate
pg_login_role host_web1 totp_login
pg_login_role host_web2 totp_login
pg_login_role totpctl_admin1 totp_admin
pg_psql -c "SELECT r.rolname, array_agg(b.rolname) AS member_of FROM pg_roles r
	    JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles b ON b.oid = m.roleid
	    WHERE r.rolname LIKE 'host_%' OR r.rolname LIKE 'totpctl_%' GROUP BY 1 ORDER BY 1"

CONNINFO="host=$PG_DIR port=$PG_PORT dbname=$PG_DB connect_timeout=2"
# one config per host: the same owners, its own role
for h in web1 web2; do
	cat > "$W/$h.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "$CONNINFO user=host_$h";
          admin_conninfo = "$CONNINFO user=totpctl_admin1"; };
issuer = "totp-fleet-demo";
cluster = { name = "demo-cluster"; uuid = "$OWNER"; totp_accounts = [ "$ME" ]; };
CONF
	chmod 0644 "$W/$h.conf"
	printf 'auth required %s config=%s\naccount required pam_permit.so\n' \
		"$BUILD/pam_totp_profile.so" "$W/$h.conf" > "$W/pam.d/$h"
done
step "Host web1's config ($W/web1.conf)"
cat "$W/web1.conf"

step "$ME enrols once, for every host: totpctl create (the database makes the secret)"
"$BUILD/totpctl" --config "$W/web1.conf" create --comment "demo phone" --no-qr | tee "$W/create.out"
SECRET=$(sed -n 's/^ *Secret key: //p' "$W/create.out")
EMERGENCY=$(sed -n 's/^ *Emergency codes: //p' "$W/create.out" | awk '{print $1}')

login() {   # login HOST CODE: pamtester through libpam, as that host
	local rc=0
	echo "-- on $1:"
	printf '%s\n' "$2" | LD_PRELOAD="$BUILD/tests/syslog_capture.so /usr/lib/$MULTIARCH/libpam_wrapper.so" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$W/pam.d" TP_TEST_SYSLOG="$W/log" \
		pamtester "$1" "$ME" authenticate 2>&1 | grep -v PWRAP || rc=$?
	echo "   log: $(tail -n 1 "$W/log" 2>/dev/null | sed 's/^<[0-9]*> //')"
}

# stay clear of the end of a 30 s step so the code is still current
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 4 ] && sleep "$s"
CODE=$(oathtool --totp -b "$SECRET")
step "Login on web1 with the current code $CODE"
login web1 "$CODE"
step "The same code on web2: the database saw it used, refused"
login web2 "$CODE" || true
step "Emergency code $EMERGENCY on web2: accepted"
login web2 "$EMERGENCY"
step "The same emergency code on web1: spent, refused"
login web1 "$EMERGENCY" || true

step "What a host's role can read: no table, so no secret"
pg_as host_web1 -c "SELECT secret FROM totp.profiles" 2>&1 || true
pg_as host_web1 -c "SELECT * FROM totp.login_profile('$OWNER', '$ME')"
step "What the admin sees: totpctl list (no secret either)"
"$BUILD/totpctl" --config "$W/web1.conf" list

step "The database goes away: the login is refused, not let through"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
login web1 "$(oathtool --totp -b "$SECRET")" || true

echo
echo "Demo done. The server and everything else lived in $PG_DIR and $W, removed now."
