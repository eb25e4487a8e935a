#!/bin/bash
# totpctl on the PostgreSQL store: every operation is run on both stores,
# the file store and the database, and their output (stdout, stderr, exit
# status; --json bodies byte for byte) must be the same.  Then create in
# the database (the secret made there, logging in with it), totpctl
# migrate (lossless: spent codes and accepted steps stay spent;
# idempotent; a conflict reported), and totpctl failing closed (error 5
# with the cause).
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"

pg_suite_needs postgresql "needs root and Debian's postgresql (scripts/install-deps.sh --test)"
pg_suite_up
pg_login_role host_a totp_login
pg_login_role admin1 totp_admin

CONNINFO="host=$PG_DIR port=$PG_PORT dbname=$PG_DB connect_timeout=2"
# conf FILE STORE_SETTINGS: root may create in the cluster and in vs0;
# the module's accounts (alice, bob) are TOTP accounts too
conf() {
	cat > "$1" <<CONF
store = { path = "$TP_STORE"; user = "root"; $2 };
admin_group = "totpadmin";
issuer = "testhost";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_group = "totp";
            totp_accounts = [ "root" ]; };
svms = ( { name = "vs0"; uuid = "$SVM_UUID"; members = [ "root" ];
           totp_accounts = [ "root" ]; } );
CONF
	chmod 0644 "$1"
}
FCONF="$T/files.conf" PCONF="$T/pg.conf"
conf "$FCONF" ""
conf "$PCONF" "backend = \"postgresql\"; conninfo = \"$CONNINFO user=host_a\";
               admin_conninfo = \"$CONNINFO user=admin1\";"
pam_service files "config=$FCONF"
pam_service fleet "config=$PCONF"

# ctl CONF ARGS...: totpctl as root; output in $T/out, $T/err, $T/rc
ctl() {
	local c=$1; shift
	"$TOTPCTL" --config "$c" "$@" > "$T/out" 2> "$T/err"
	echo $? > "$T/rc"
}
# same ARGS...: the same totpctl command on both stores, the same answer
same() {
	ctl "$FCONF" "$@"
	for f in out err rc; do mv "$T/$f" "$T/files.$f"; done
	ctl "$PCONF" "$@"
	local f bad=0
	for f in out err rc; do
		if ! cmp -s "$T/files.$f" "$T/$f"; then
			echo "#   $* : $f differs"
			diff "$T/files.$f" "$T/$f" | head -n 6 | sed 's/^/#   /'
			bad=1
		fi
	done
	return $bad
}
rc_is() { [ "$(cat "$T/rc")" = "$1" ]; }
out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }
db() { pg_psql -c "$1"; }
# json EXPR: a Python expression over the body j, printed
json() { python3 -c "import json,sys; j=json.load(open('$T/out')); print($1)"; }

# ---- the same answers from both stores ----

ctl "$FCONF" create --json --no-qr
check "file store: create in the cluster" rc_is 0
ctl "$FCONF" create --owner vs0 --comment "second owner" --json --no-qr
check "file store: create in vs0" rc_is 0

# --keep-local: the file store keeps its copies, so the two stores can be
# compared below
ctl "$PCONF" migrate --keep-local
check "migrate: exit 0" rc_is 0
check "migrate: one line per profile" eval 'out_has "^copied    cluster1/root$" && out_has "^copied    vs0/root$"'
check "migrate: the counts, and that the secrets are still on this host" \
	out_has "^2 copied, 0 merged, 0 unchanged, 0 conflicts, 0 deleted, 0 unreadable; 0 removed from this host (--keep-local: the secrets are still here).$"
ctl "$PCONF" migrate --json --keep-local
check "migrate again: idempotent, nothing copied" \
	eval 'rc_is 0 && test "$(json "\" \".join(r[\"result\"] for r in j[\"records\"])")" = "unchanged unchanged"'
check "the database holds both profiles" test "$(db "SELECT count(*) FROM totp.profiles")" = 2

check "same: show --json" same show --owner cluster1 --account root --json
check "same: show --fields '*' --json" same show --owner vs0 --account root --fields '*' --json
check "same: show (table)" same show --owner vs0 --account root
check "same: list --json" same list --json
check "same: list --fields '*' --json" same list --fields '*' --json
check "same: list (table)" same list
check "same: list --owner vs0 --json" same list --owner vs0 --json
check "same: list --scope svm --json" same list --scope svm --json
check "same: modify --comment --json" same modify --owner cluster1 --account root --comment "é on both" --json
check "same: show after modify" same show --owner cluster1 --account root --fields '*' --json
check "same: modify --enabled false" same modify --owner cluster1 --account root --enabled false
check "same: list --enabled false --json" same list --enabled false --fields comment,enabled --json
check "same: show of no profile (error 4)" eval 'same show --owner cluster1 --account nobody --json && rc_is 1'
check "same: modify of no profile (error 144834566)" \
	eval 'same modify --owner vs0 --account nobody --comment x --json && rc_is 1 && out_has 144834566'
check "same: a comment the store refuses (error 2)" \
	eval 'same modify --owner vs0 --account root --comment "$(printf "a\tb")" --json && rc_is 1'
check "same: create over an enabled profile (error 1)" \
	eval 'same create --owner vs0 --json --no-qr && rc_is 1 && out_has "\"1\""'
check "same: delete" eval 'same delete --owner vs0 --account root --json && rc_is 0'
check "same: delete again (error 4)" eval 'same delete --owner vs0 --account root --json && rc_is 1'
check "same: list after delete" same list --fields '*' --json

# ---- unlock: an admin ends a lockout in the database ----
db "UPDATE totp.profiles SET failures = 5, lock_until = now() + interval '10 minutes',
	last_step = 1234, ec_spent[1] = true
    WHERE owner_uuid = '$CLUSTER_UUID' AND account = 'root'" > /dev/null
ctl "$PCONF" show --account root
check "database: show (human) prints the failures and the lock's end" \
	eval 'out_has "Failures: 5" && grep -qE "Locked until: 20[0-9-]+ [0-9:]+ UTC" "$T/out"'
host_unlocks() {
	pg_as host_a -c "SELECT totp.admin_unlock('$CLUSTER_UUID', 'root')" > "$T/psql.out" 2>&1
}
check "a host (totp_login) may not unlock: permission denied" \
	eval '! host_unlocks && grep -q "permission denied for function admin_unlock" "$T/psql.out"'
ctl "$PCONF" unlock --account root
check "database: unlock exits 0" rc_is 0
check "database: unlock clears failures and the lock, keeps the step and the spent code" \
	test "$(db "SELECT failures, lock_until IS NULL, last_step, ec_spent[1] FROM totp.profiles
		    WHERE owner_uuid = '$CLUSTER_UUID' AND account = 'root'")" = "0|t|1234|t"
check "same: unlock of no profile (error 4, exit 1)" \
	eval 'same unlock --account nobody --json && rc_is 1 && out_has "\"4\""'
check "same: unlock without --account (error 2, exit 2)" eval 'same unlock --json && rc_is 2'

# ---- create in the database ----

ctl "$FCONF" create --owner vs0 --json --no-qr
keys_files=$(json 'sorted(j["records"][0].keys())')
ctl "$PCONF" create --json --no-qr
check "database: create over the disabled profile" rc_is 0
check "database: the record has the same fields as the file store's" \
	test "$(json 'sorted(j["records"][0].keys())')" = "$keys_files"
SECRET_PG=$(json 'j["records"][0]["secret_key"]')
check "database: the verification code is the secret's code of now" \
	eval 'c=$(json "j[\"records\"][0][\"verification_code\"]"); [ "$c" = "$(code 0 "$SECRET_PG")" ] || [ "$c" = "$(code -1 "$SECRET_PG")" ]'
check "database: 5 distinct 8-digit emergency codes" \
	test "$(json 'len(set(c for c in j["records"][0]["emergency_codes"] if len(c) == 8 and c.isdigit()))')" = 5
check "database: the fingerprint is the secret's" \
	test "$(json 'j["records"][0]["sha_fingerprint"]')" = \
	     "$(python3 -c "import base64,hashlib,sys; print(hashlib.sha256(base64.b32decode(sys.argv[1])).hexdigest())" "$SECRET_PG")"
EC_PG=$(json 'j["records"][0]["emergency_codes"][0]')
check "database: the secret is in no file of the host's store" \
	fails grep -rq "$SECRET_PG" "$TP_STORE"
ctl "$PCONF" create --json --no-qr
check "database: create again over the enabled one is error 1" eval 'rc_is 1 && out_has "\"1\""'
check "a code of the new secret logs in through the database" pam_auth fleet root "$(code 0 "$SECRET_PG")"
check "its emergency code once" pam_auth fleet root "$EC_PG"
check "... not twice" fails pam_auth fleet root "$EC_PG"

ctl "$PCONF" migrate
check "migrate: another profile under the same name is a conflict (exit 1)" \
	eval 'rc_is 1 && out_has "^conflict  cluster1/root$" && out_has ", 1 conflict, "'
check "migrate: the conflict leaves the database's profile alone" \
	test "$(db "SELECT encode(sha256(secret), 'hex') FROM totp.profiles
	            WHERE account = 'root' AND owner_uuid = '$CLUSTER_UUID'")" = \
	     "$(python3 -c "import base64,hashlib,sys; print(hashlib.sha256(base64.b32decode(sys.argv[1])).hexdigest())" "$SECRET_PG")"

# ---- migrate keeps the state ----

mkprofile alice codes=11112222,33334444
mkprofile bob enabled=0 failures=3 last_step=1234
C=$(code)
check "file store: alice logs in with a TOTP code" pam_auth files alice "$C"
check "file store: and with an emergency code" pam_auth files alice 11112222
ctl "$PCONF" migrate --json --keep-local
check "migrate: alice and bob copied" \
	test "$(json 'sorted((r["account"]["name"], r["result"]) for r in j["records"] if r["account"]["name"] != "root")')" = \
	     "[('alice', 'copied'), ('bob', 'copied')]"
check "migrate: bob's state and enabled flag" \
	test "$(db "SELECT enabled, last_step, failures FROM totp.profiles WHERE account = 'bob'")" = "f|1234|3"
check "same: show alice after the copy (fingerprint, comment)" same show --owner cluster1 --account alice --fields '*' --json
check "the step accepted on the file store is a replay through the database" fails pam_auth fleet alice "$C"
check "the code spent on the file store is spent in the database" fails pam_auth fleet alice 11112222
check "... logged as spent" logged "refused: emergency code already used"
check "the unspent code works through the database" pam_auth fleet alice 33334444
ctl "$PCONF" migrate --json --keep-local
check "migrate after logins through the database: unchanged, nothing comes back" \
	eval 'test "$(json "\" \".join(r[\"result\"] for r in j[\"records\"] if r[\"account\"][\"name\"] == \"alice\")")" = "unchanged"'
check "... the code spent in the database stays spent" fails pam_auth fleet alice 33334444

# ---- no secret left on the host ----
clear_log
pam_auth fleet alice 000000
check "a fleet host whose file store still holds secrets warns at each login" \
	logged "TOTP secrets are still on this host (.*\.ini), though store.backend is \"postgresql\": run totpctl migrate"
ctl "$PCONF" migrate --json
check "migrate: once the database holds them, each copy is removed from this host" \
	eval 'test "$(json "\" \".join(sorted(set(r[\"local\"] for r in j[\"records\"])))")" = removed'
check "... no profile file is left in the file store" \
	eval '[ -z "$(find "$TP_STORE" -name "*.ini" -print -quit)" ]'
clear_log
pam_auth fleet alice 000000
check "... and the module no longer warns" fails logged "TOTP secrets are still on this host"
# an admin deletes carol's profile (a lost phone); a host migrating its
# old copy again does not bring it back, and drops the copy
mkprofile carol codes=55556666
ctl "$PCONF" migrate --keep-local
ctl "$PCONF" delete --owner cluster1 --account carol
ctl "$PCONF" migrate --json
check "migrate of a profile deleted from the database: 'deleted', exit 1" \
	eval 'rc_is 1 && test "$(json "\" \".join(r[\"result\"] + \"/\" + r[\"local\"] for r in j[\"records\"])")" = deleted/removed'
check "... not brought back: no profile for carol in the database" \
	test "$(db "SELECT count(*) FROM totp.profiles WHERE account = 'carol'")" = 0
check "... and its emergency code does not log in" fails pam_auth fleet carol 55556666

# ---- no copy of a secret left behind in the process ----
# libpq frees its connection buffers unwiped: the create's answer (secret,
# codes) and the import's parameters (secret, salt, hashes) must be
# overwritten before, both while the store is open and after it is closed.
RESIDUE="$BUILD/tests/tp_pg_residue"
"$RESIDUE" "$CONNINFO user=admin1" "$CLUSTER_UUID" residue1 create > "$T/residue" 2> "$T/residue.err"
check "create: no copy of the new secret or code in memory, store open" grep -qx "open 0" "$T/residue"
check "... nor after the store is closed" grep -qx "closed 0" "$T/residue"
"$RESIDUE" "$CONNINFO user=admin1" "$CLUSTER_UUID" residue2 import > "$T/residue" 2> "$T/residue.err"
check "import: no copy of the secret, salt or hashes in memory, store open" grep -qx "open 0" "$T/residue"
check "... nor after the store is closed" grep -qx "closed 0" "$T/residue"

# ---- failing closed ----

conf "$T/wrongrole.conf" "backend = \"postgresql\"; admin_conninfo = \"$CONNINFO user=host_a\";"
ctl "$T/wrongrole.conf" show --owner cluster1 --account alice --json
check "totpctl with a role without totp_admin: error 5 naming the grant" \
	eval 'rc_is 1 && out_has "\"5\"" && out_has "grant it totp_admin"'
conf "$T/nodb.conf" "backend = \"postgresql\"; admin_conninfo = \"$CONNINFO dbname=postgres user=admin1\";"
ctl "$T/nodb.conf" list
check "totpctl on a database without the schema: error 5 saying what to apply" \
	eval 'rc_is 1 && err_has "error 5" && err_has "apply sql/\*.sql"'
conf "$T/remote.conf" "backend = \"postgresql\"; admin_conninfo = \"host=db.example.com dbname=totp user=admin1\";"
ctl "$T/remote.conf" list
check "totpctl with a remote host and no sslrootcert: error 5 naming the setting" \
	eval 'rc_is 1 && err_has "error 5" && err_has "store.admin_conninfo: names a host" && err_has "sslrootcert=FILE"'
conf "$T/loginhost.conf" "backend = \"postgresql\"; conninfo = \"$CONNINFO user=host_a\";"
ctl "$T/loginhost.conf" create --no-qr
check "totpctl on a login host (no admin_conninfo): says where users enrol" \
	eval 'rc_is 1 && err_has "store.admin_conninfo is not set: this host only checks codes" &&
	      err_has "enrolment host"'
ctl "$FCONF" migrate
check "migrate on the file store itself: error 2" eval 'rc_is 1 && err_has "error 2" && err_has "store.backend"'
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
ctl "$PCONF" create --json --no-qr
check "server stopped: create is error 5 with the cause" \
	eval 'rc_is 1 && out_has "\"5\"" && out_has "cannot connect to the profile database"'
ctl "$PCONF" list
check "server stopped: list is error 5" eval 'rc_is 1 && err_has "error 5"'
