#!/bin/bash
# The module on the PostgreSQL store over TCP and TLS, as a fleet runs it:
# the server on 127.0.0.1 with a certificate from a CA generated here,
# pg_hba `hostssl ... cert` (the host proves its role with a client
# certificate; no password anywhere), the host's conninfo with
# sslmode=verify-full.  A wrong CA, a missing client certificate or a
# plain-TCP attempt is refused by one side or the other, and the module
# then fails closed.
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql-tls "needs root, Debian's postgresql and openssl" "command -v openssl"
# a free TCP port on 127.0.0.1 (the socket file is named after it too)
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_SERVER_OPTS="-c listen_addresses=127.0.0.1 -c log_connections=on"
pg_suite_up
pg_login_role host_tls totp_login

# ---- a CA, the server's certificate, the host's certificate ----
K="$T/pki"
pg_tls_on "$K" host_tls || { echo "not ok - tls: the test's certificates are made"; exit 1; }
# a second CA, which signed nothing of this server's
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$K/other-ca.key" -out "$K/other-ca.crt" -subj "/CN=another CA" >/dev/null 2>&1

# TLS 1.2 at least, and only certificate logins from 127.0.0.1 (and the
# unix socket for the test's own superuser psql)
pg_psql -c "ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2'" >/dev/null
cat > "$PG_DIR/data/pg_hba.conf" <<HBA
local   all      postgres                  trust
hostssl totp     +totp_login  127.0.0.1/32 cert
host    all      all          127.0.0.1/32 reject
HBA
chown postgres: "$PG_DIR/data/pg_hba.conf"
pg_reload || { echo "not ok - tls: the server takes the TLS settings"; exit 1; }

KEY_HEX=3132333435363738393031323334353637383930
pg_psql -c "SELECT totp.admin_import('$CLUSTER_UUID', 'alice', '\\x$KEY_HEX', 'SHA1', 6, 30,
	'', true, 1, -1, 0, 0, '\\x000102030405060708090a0b0c0d0e0f', '{}', '{}')" >/dev/null

# host NAME CONNINFO_EXTRA: config and service NAME
host() {
	cat > "$T/$1.conf" <<CONF
store = { backend = "postgresql";
          conninfo = "host=localhost hostaddr=127.0.0.1 port=$PG_PORT dbname=$PG_DB user=host_tls connect_timeout=2 $2"; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp"; };
CONF
	chmod 0644 "$T/$1.conf"
	pam_service "$1" "config=$T/$1.conf"
}
TLS="sslmode=verify-full sslrootcert=$K/ca.crt sslcert=$K/host.crt sslkey=$K/host.key"
host tls "$TLS"
host wrongca "sslmode=verify-full sslrootcert=$K/other-ca.crt sslcert=$K/host.crt sslkey=$K/host.key"
host nocert "sslmode=verify-full sslrootcert=$K/ca.crt sslcert=$K/none.crt sslkey=$K/none.key"
host plain "sslmode=disable"
# loopback, so no verify-full needed: libpq's prefer, and no root
# certificate from the home directory (the store names one that cannot exist)
host loopback "sslcert=$K/host.crt sslkey=$K/host.key"
unavailable() { grep -q "cannot retrieve authentication info" "$T/pam.out"; }
auth() { clear_log; pam_auth "$@"; }

check "TLS with a client certificate: a code is accepted" auth tls alice "$(code)"
check "... logged as accepted" logged "user=alice owner=cluster1: accepted TOTP code"
check "... the server authenticated the host by its certificate" \
	grep -q 'connection authenticated: identity="CN=host_tls" method=cert' "$PG_DIR/server.log"
check "... over TLS" \
	grep -q 'connection authorized: user=host_tls database=totp application_name=pam_totp_profile SSL enabled' "$PG_DIR/server.log"
check "... the replay is refused over TLS too" eval 'fails auth tls alice "$(code)" && logged "replayed"'
check "a server certificate from another CA: PAM_AUTHINFO_UNAVAIL" eval 'auth wrongca alice 123456; unavailable'
check "... logged as a certificate failure" logged "certificate verify failed"
check "no client certificate: PAM_AUTHINFO_UNAVAIL" eval 'auth nocert alice 123456; unavailable'
check "... logged: the server wants a certificate" logged "refusing login: postgresql store: cannot connect"
check "plain TCP: refused by pg_hba, PAM_AUTHINFO_UNAVAIL" eval 'auth plain alice 123456; unavailable'
check "... logged with the server's reason" logged "pg_hba.conf rejects connection"
pg_psql -c "SELECT totp.admin_import('$CLUSTER_UUID', 'bob', '\\x$KEY_HEX', 'SHA1', 6, 30,
	'', true, 1, -1, 0, 0, '\\x000102030405060708090a0b0c0d0e0f', '{}', '{}')" >/dev/null
check "loopback without sslmode or sslrootcert: TLS (prefer) with the client certificate logs in" \
	auth loopback bob "$(code)"
