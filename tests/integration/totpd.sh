#!/bin/bash
# totpd: the API over HTTP on a unix socket, driven by real clients (curl
# --unix-socket, and Python's http.client over AF_UNIX).  Statuses and
# bodies against the API pages and against totpctl --json (the same code
# must print the same bytes), the caller from SO_PEERCRED, hostile
# requests, socket activation, and 1,000 concurrent requests while PAM
# logins run.
#
# Like totpctl.sh it uses real accounts (the daemon asks the real user
# database who a peer uid is):
#     bin "alice", sys "bob" (cluster, TOTP), man "carol" (SVM vs0, TOTP),
#     lp "dave" (no TOTP), games admin (admin_group), daemon the store user.
source "$(dirname "$0")/lib.sh"

A=bin B=sys C=man D=lp ADM=games STORE_USER=daemon
for u in $A $B $C $D $ADM $STORE_USER; do
	if ! getent passwd $u > /dev/null; then
		skip "totpd" "system account $u is missing"
		exit 0
	fi
done
TOTPD="$BUILD/totpd"
command -v curl > /dev/null || { skip "totpd" "curl is missing"; exit 0; }

TCONF="$T/etc/totp_profile.conf"
install -d -m 0755 "$T/etc"
cat > "$TCONF" <<CONF
store = { path = "$TP_STORE"; user = "$STORE_USER"; };
admin_group = "$ADM";
issuer = "testhost";
lockout = { max_failures = 0; };
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "$A", "$B", "$ADM", "root" ]; };
svms = ( { name = "vs0"; uuid = "$SVM_UUID"; members = [ "$C" ]; totp_accounts = [ "$C" ]; } );
api = { connections_per_user = 4; request_timeout = 4; lock_wait_ms = 500; };
CONF
chmod 0644 "$TCONF"
# the storm below is one client (root) with 48 requests at once on three
# profiles: its cap is raised, as an admin would for a provisioning tool,
# and a verb waits its turn at a profile's lock up to 5 s
sed 's/connections_per_user = 4; request_timeout = 4; lock_wait_ms = 500;/connections_per_user = 64; request_timeout = 20; lock_wait_ms = 5000;/' \
	"$TCONF" > "$T/etc/storm.conf"
chmod 0644 "$T/etc/storm.conf"
chown "$STORE_USER:" "$TP_STORE"
install -d -m 0755 -o "$STORE_USER" "$T/run"
SOCK="$T/run/api.sock"
URL=http://localhost/api/security/login/totps
getent passwd $A $B $STORE_USER >> "$T/passwd"

PY=/usr/bin/python3      # the system's, which every user can run
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }

DPID=""
# start_totpd [ARGS...]: totpd as the store user on $SOCK, log in $T/totpd.log
start_totpd() {
	# setpriv execs totpd: $! is the daemon itself
	setpriv --reuid=$STORE_USER --regid="$(id -g $STORE_USER)" --clear-groups \
		"$TOTPD" --config "${DCONF:-$TCONF}" --socket "$SOCK" "$@" > /dev/null 2>> "$T/totpd.log" &
	DPID=$!
	# bound 10 s (it listens in well under 1 s)
	for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	echo "# start_totpd: no socket within 10 s"
	tail -n 3 "$T/totpd.log" | sed 's/^/#   /'
	return 1
}
stop_totpd() { [ -n "$DPID" ] && kill "$DPID" 2> /dev/null && wait "$DPID" 2> /dev/null; DPID=""; }
alive() { [ -n "$DPID" ] && kill -0 "$DPID" 2> /dev/null; }
tp_at_exit stop_totpd

# curl_as USER CURL_ARGS...: curl as USER (who cannot write in $T); the
# body, byte for byte, in $T/out and the status in $ST
ST=""
curl_as() {
	local u=$1; shift
	as "$u" curl -s -w '\n%{http_code}' --max-time 20 --unix-socket "$SOCK" "$@" > "$T/raw"
	ST=$(tail -n 1 "$T/raw")
	head -c -$((${#ST} + 1)) "$T/raw" > "$T/out"
}
# api USER METHOD PATH [BODY]
api() {
	local u=$1 m=$2 p=$3; shift 3
	local -a data=()
	[ $# -gt 0 ] && data=(--data "$1")
	curl_as "$u" --request "$m" "http://localhost$p" "${data[@]}"
}
st_is() { [ "$ST" = "$1" ]; }
# hapi METHOD PATH [CURL_ARGS...]: as root, the headers in $T/hdr too
hapi() {
	local m=$1 p=$2; shift 2
	local -a how=(--request "$m")
	[ "$m" = HEAD ] && how=(--head)      # curl then reads no body
	rm -f "$T/out"
	ST=$(curl -s -D "$T/hdr" -o "$T/out" -w '%{http_code}' --max-time 20 \
		--unix-socket "$SOCK" "${how[@]}" "http://localhost$p" "$@")
}
# hdr NAME: the value of a response header (CR removed)
hdr() { sed -n "s/^$1: //Ip" "$T/hdr" | tr -d '\r'; }
pyj() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
a=sys.argv[3:]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/out" "$@" 2>/dev/null
}
# api_err STATUS CODE MESSAGE TARGET: the status and the API's error body
api_err() {
	st_is "$1" && pyj "set(d)=={'error'} and d['error']['code']==a[0] and \
(a[1]=='' or d['error']['message']==a[1]) and (a[2]=='' or d['error'].get('target')==a[2])" \
		"$2" "$3" "$4"
}
# same_as_totpctl ARGS...: $T/out is byte for byte what root's totpctl --json prints
same_as_totpctl() {
	"$BUILD/totpctl" --config "$TCONF" --json "$@" > "$T/ctl.out" 2> /dev/null
	cmp -s "$T/out" "$T/ctl.out"
}
P=/api/security/login/totps
M4="entry doesn't exist"
M561="TOTP is not configured for the user."
M564="Only users with the admin role are allowed to modify the TOTP status."
M565="Invalid option for the field -enabled"
M566="TOTP is not configured for the user"

# ---- who runs it ----
"$TOTPD" --config "$TCONF" --socket "$T/root.sock" > /dev/null 2> "$T/err"
rc=$?
check "totpd refuses to run as root" test "$rc" -ne 0 -a ! -e "$T/root.sock"
check "  and says why" grep -q "refusing to run as root" "$T/err"
as $A "$TOTPD" --config "$TCONF" --socket "$T/run/x.sock" 2> "$T/err"
check "totpd refuses a user other than the config's store user" \
	grep -q "store user" "$T/err"

check "totpd starts as the store user" start_totpd --timeout 2 --max-connections 16
check "the socket is mode 0666, owned by the store user" \
	test "$(stat -c '%a %U' "$SOCK")" = "666 $STORE_USER"

# ---- the pages' examples ----
api $A POST $P '{ "account": { "name": "'$A'" },"comment": "Cserver-Creation"}'
check "POST (the page's cluster example): 201" st_is 201
check "  num_records 1, the totp_post record with key, URL, code, 5 emergency codes" pyj "(
d['num_records']==1 and len(d['records'])==1 and
(lambda r: r['owner']=={'uuid':a[0],'name':'cluster1','_links':{'self':{'href':'/api/svm/svms/'+a[0]}}}
 and r['account']['name']==a[1] and r['comment']=='Cserver-Creation' and len(r['secret_key'])>=26
 and r['install_url'].startswith('otpauth://totp/testhost:'+a[1]+'?secret='+r['secret_key'])
 and r['verification_code'].isdigit() and len(r['emergency_codes'])==5
 and all(len(c)==8 and c.isdigit() for c in r['emergency_codes'])
 and r['_links']['self']['href']=='/api/security/login/totps/'+a[0]+'/'+a[1])(d['records'][0]))" \
	"$CLUSTER_UUID" "$A"
A_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["secret_key"])' "$T/out")
A_EC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["emergency_codes"][0])' "$T/out")
A_FP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["sha_fingerprint"])' "$T/out")
check "  the verification code is the key's current TOTP code" \
	pyj "d['records'][0]['verification_code'] in a" "$(code 0 "$A_SECRET")" "$(code -1 "$A_SECRET")"

api $C POST $P '{ "account": { "name": "'$C'" },"comment": "Vserver-Creation","owner.name":"vs0" }'
check "POST (the page's SVM example, owner.name vs0): 201, owner vs0" \
	eval 'st_is 201 && pyj "d[\"records\"][0][\"owner\"][\"name\"]==\"vs0\" and d[\"records\"][0][\"scope\"]==\"svm\""'

api $ADM GET $P
check "GET the collection (the page's example): 200" st_is 200
check "  records with owner, account, _links; num_records; the collection's _links" pyj "(
d['num_records']==2 and list(d)==['records','num_records','_links'] and
d['_links']=={'self':{'href':'/api/security/login/totps'}} and
sorted(r['account']['name'] for r in d['records'])==sorted(a) and
all('secret_key' not in r and 'emergency_codes' not in r for r in d['records']))" "$A" "$C"
api root GET $P
check "  byte for byte what totpctl --json list prints" same_as_totpctl list

api root GET "$P/$CLUSTER_UUID/$A"
check "GET one: 200, byte for byte totpctl --json show" \
	eval 'st_is 200 && same_as_totpctl show --owner "$CLUSTER_UUID" --account "$A"'
api root GET "$P/$CLUSTER_UUID/$A?fields=comment,sha_fingerprint"
check "GET one with fields=: byte for byte totpctl --json show --fields" \
	eval 'st_is 200 && same_as_totpctl show --owner "$CLUSTER_UUID" --account "$A" --fields comment,sha_fingerprint'
check "  the fingerprint is the one create returned" pyj "d['sha_fingerprint']==a[0]" "$A_FP"
api root GET "$P/cluster1/$B"
check "GET one that does not exist: 404, error 4, same body as totpctl" \
	eval 'api_err 404 4 "$M4" account.name && same_as_totpctl show --owner cluster1 --account "$B"'

# ---- every rule, with its status ----
api $A POST $P '{ "account": { "name": "'$A'" }}'
check "POST over an enabled profile: 409, error 1" api_err 409 1 "duplicate entry" account.name
api $A POST $P '{ "account": { "name": "'$B'" }}'
check "POST for another user: 403, error 6" api_err 403 6 "permission denied" account.name
api $ADM POST $P '{ "account": { "name": "'$A'" }}'
check "POST by an admin for another user: 403, error 6" api_err 403 6 "" account.name
api $D POST $P '{ "account": { "name": "'$D'" }}'
check "POST for an account without TOTP: 400, 144834561" api_err 400 144834561 "$M561" account.name
api $A POST $P '{}'
check "POST with no account.name creates the caller's own (here: duplicate 409)" \
	api_err 409 1 "" account.name
api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "enabled": false }'
check "PATCH enabled by a user: 403, 144834564" api_err 403 144834564 "$M564" enabled
api $ADM PATCH "$P/$CLUSTER_UUID/$A" '{ "enabled": "maybe" }'
check "PATCH enabled \"maybe\": 400, 144834565" api_err 400 144834565 "$M565" enabled
api $ADM PATCH "$P/$CLUSTER_UUID/$A" '{ "enabled": 1 }'
check "PATCH enabled 1: 400, 144834565" api_err 400 144834565 "$M565" enabled
api $ADM PATCH "$P/cluster1/$B" '{ "comment": "x" }'
check "PATCH of a missing profile: 404, 144834566 (no full stop)" \
	api_err 404 144834566 "$M566" account.name
api $A PATCH "$P/vs0/$C" '{ "comment": "mine now" }'
check "PATCH of another user's profile: 403, error 6" api_err 403 6 "" account.name
api $A PATCH "$P/$CLUSTER_UUID/$A" '{}'
check "PATCH with nothing to change: 400, error 2, said in the API's terms" \
	eval 'api_err 400 2 "" comment && pyj "d[\"error\"][\"arguments\"][0][\"message\"]==a[0]" \
		"nothing to modify: give a comment, an enabled state, or both"'
api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "comment": "phone 2" }'
check "PATCH comment by the owner: 200 and {}" eval 'st_is 200 && [ "$(cat "$T/out")" = "{}" ]'
api root PATCH "$P/$CLUSTER_UUID/$A" '{ "comment": "phone 2" }'
check "  the same bytes as totpctl --json modify" \
	eval 'st_is 200 && same_as_totpctl modify --owner cluster1 --account "$A" --comment "phone 2"'
api $ADM PATCH "$P/$CLUSTER_UUID/$A" '{ "enabled": false }'
check "PATCH enabled false by an admin: 200" st_is 200
api $A GET "$P/$CLUSTER_UUID/$A?fields=enabled,comment"
check "  the owner sees it disabled, comment kept" pyj "d['enabled'] is False and d['comment']=='phone 2'"
api $A POST $P '{ "account": { "name": "'$A'" }, "comment": "re-enrolled"}'
check "POST over the disabled profile: 201, a new key" \
	eval 'st_is 201 && pyj "d[\"records\"][0][\"secret_key\"]!=a[0]" "$A_SECRET"'
A_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["secret_key"])' "$T/out")
A_EC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["emergency_codes"][0])' "$T/out")
api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "owner": { "name": "vs0" } }'
check "PATCH that moves the owner: 400, error 2" api_err 400 2 "" owner.uuid
api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "account": { "name": "'$B'" } }'
check "PATCH that renames the account: 400, error 2" api_err 400 2 "" account.name
for f in secret_key sha_fingerprint scope install_url verification_code emergency_codes; do
	api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "'$f'": "x" }'
	check "PATCH read-only $f: 400, error 2 naming it as read-only" \
		eval 'api_err 400 2 "" $f && pyj "d[\"error\"][\"arguments\"][0][\"message\"]==a[0]+\" is read-only\"" "'"'"'$f'"'"'"'
done
api $A POST $P '{ "account": { "name": "'$A'" }, "scope": "svm" }'
check "POST read-only scope: 400, error 2" \
	eval 'api_err 400 2 "" scope && grep -q "read-only" "$T/out"'
api $A POST $P '{ "account": { "name": "'$A'" }, "colour": "red" }'
check "POST unknown field: 400, error 2 naming it" api_err 400 2 "" colour
api $A POST $P '{ "account": { "name": "'$A'", "uid": 0 } }'
check "POST unknown nested field: 400, error 2" api_err 400 2 "" account
api $A POST $P '{ "account": { "name": 7 } }'
check "POST account.name not a string: 400, error 2" api_err 400 2 "" account.name
api $A POST $P '{ "account": { "name": "'$A'" }, "account": { "name": "'$B'" } }'
check "POST with a duplicate key: 400, error 2" api_err 400 2 "" body
api $A POST $P '{ "account": '
check "POST malformed JSON: 400, error 2" api_err 400 2 "invalid or missing field" body
api $A POST $P '[1,2]'
check "POST a JSON array: 400, error 2" api_err 400 2 "" body
api $A POST "$P?return_records=false" '{ "account": { "name": "'$A'" }}'
check "POST return_records=false (the key would be lost): 400, error 2" \
	api_err 400 2 "" return_records
api $B POST "$P?return_records=true" '{ "account": { "name": "'$B'" }, "owner.uuid": "'$CLUSTER_UUID'" }'
check "POST return_records=true with owner.uuid: 201" st_is 201
api $B POST $P '{ "account": { "name": "'$B'" }, "owner.name": "vs0", "owner.uuid": "'$CLUSTER_UUID'" }'
check "POST with owner.name and owner.uuid of two owners: 400, error 2" api_err 400 2 "" owner.uuid
api $A PUT $P
check "PUT on the collection: 405, error 3" api_err 405 3 "operation not supported" ""
hapi PUT $P
check "  with Allow: the collection's methods" test "$(hdr Allow)" = "GET, HEAD, POST, OPTIONS"
hapi PUT "$P/$CLUSTER_UUID/$A"
check "PUT on a profile: 405, Allow: the profile's methods" \
	eval 'api_err 405 3 "" "" && [ "$(hdr Allow)" = "GET, HEAD, PATCH, DELETE, OPTIONS" ]'
hapi OPTIONS $P
check "OPTIONS on the collection: 200, Allow" \
	eval 'st_is 200 && [ "$(hdr Allow)" = "GET, HEAD, POST, OPTIONS" ]'
hapi OPTIONS "$P/$CLUSTER_UUID/$A"
check "OPTIONS on a profile: 200, Allow" \
	eval 'st_is 200 && [ "$(hdr Allow)" = "GET, HEAD, PATCH, DELETE, OPTIONS" ]'
hapi GET "$P/$CLUSTER_UUID/$A"
cp "$T/out" "$T/get.out"; GLEN=$(hdr Content-Length)
# HEAD read raw, to the connection's end: headers and nothing after them
$PY -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(b"HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % sys.argv[2].encode())
d=b""
while True:
    b=s.recv(4096)
    if not b: break
    d+=b
head,_,body=d.partition(b"\r\n\r\n")
open(sys.argv[3],"wb").write(head+b"\r\n"); open(sys.argv[4],"wb").write(body)
print(head.split(b" ")[1].decode())' "$SOCK" "$P/$CLUSTER_UUID/$A" "$T/hdr" "$T/out" > "$T/st" 2>&1
ST=$(cat "$T/st")
check "HEAD on a profile: GET's status and headers, no body" \
	eval 'st_is 200 && [ "$(hdr Content-Length)" = "$GLEN" ] && [ "$GLEN" -gt 0 ] && [ ! -s "$T/out" ]'
hapi HEAD "$P/$CLUSTER_UUID/nosuch"
check "HEAD on a missing profile: 404" st_is 404
hapi GET "$P?fields=comment" -H "Accept: application/json"
check "Accept: application/json: application/json, no _links in the body" \
	eval 'st_is 200 && [ "$(hdr Content-Type)" = application/json ] && ! grep -q _links "$T/out" && pyj "d[\"num_records\"]>=1"'
hapi GET "$P?fields=comment" -H "Accept: application/hal+json"
check "Accept: application/hal+json (or none): the HAL links" \
	eval '[ "$(hdr Content-Type)" = application/hal+json ] && grep -q _links "$T/out"'

api $A GET "$P/99999999-2222-4333-8444-555555555555/$A"
check "GET under a well-formed uuid that is no owner: 404, error 4, target owner.uuid" \
	api_err 404 4 "$M4" owner.uuid
api $A GET "$P/not-a-uuid-nor-owner/$A"
check "GET under a malformed owner: 400, error 2" api_err 400 2 "" owner.name
api $A POST $P '{ "account": { "name": "'$A'" }, "enabled": false }'
check "POST \"enabled\": false: 400, error 2, saying a new profile is enabled" \
	eval 'api_err 400 2 "" enabled && grep -q "a new profile is enabled" "$T/out"'
api $A POST $P '{ "account": { "name": "'$A'" }, "enabled": "yes" }'
check "POST \"enabled\": \"yes\": 400, 144834565" api_err 400 144834565 "$M565" enabled
api $A DELETE $P
check "DELETE on the collection: 405, error 3" api_err 405 3 "" ""
api $A GET /api/security/login/totp
check "an unknown path: 404, the API's error body" api_err 404 4 "" ""
api $A GET "$P/$CLUSTER_UUID/$A/extra"
check "a path with an extra segment: 404, the API's error body" api_err 404 4 "" ""
api $A GET "$P?bogus=1"
check "GET with an unknown query parameter: 400, error 2 naming it" api_err 400 2 "" bogus
api $A GET "$P?fields=secret_key"
check "GET fields=secret_key: 400, error 2" api_err 400 2 "" fields

# ---- list: filters, fields, order, limits ----
api $A GET $P
check "a user's list holds only their own profiles" \
	pyj "[r['account']['name'] for r in d['records']]==[a[0]]" "$A"
api $ADM GET "$P?owner.name=vs0"
check "list owner.name=vs0" pyj "[r['account']['name'] for r in d['records']]==[a[0]]" "$C"
api $ADM GET "$P?owner.uuid=$SVM_UUID"
check "list owner.uuid=" pyj "[r['account']['name'] for r in d['records']]==[a[0]]" "$C"
api $ADM GET "$P?scope=cluster&order_by=account.name"
check "list scope=cluster order_by=account.name" \
	pyj "[r['account']['name'] for r in d['records']]==sorted(a)" "$A" "$B"
api root GET "$P?scope=cluster"
check "  scope= is byte for byte totpctl list --scope" same_as_totpctl list --scope cluster
api $ADM GET "$P?order_by=account.name%20desc&max_records=2"
check "list order_by=account.name desc, max_records=2" \
	pyj "[r['account']['name'] for r in d['records']]==sorted(a,reverse=True)[:2] and d['num_records']==2" \
	"$A" "$B" "$C"
api $ADM GET "$P?account.name=$C"
check "list account.name=" pyj "[r['account']['name'] for r in d['records']]==[a[0]]" "$C"
api $ADM GET "$P?comment=re-*&fields=comment"
check "list comment=re-* (a pattern), fields=comment" \
	pyj "[(r['account']['name'], r['comment']) for r in d['records']]==[(a[0],'re-enrolled')]" "$A"
api $ADM GET "$P?enabled=true&order_by=comment"
check "list enabled=true, order_by a field not asked for: sorted, field not shown" \
	pyj "d['num_records']==3 and all('comment' not in r and 'enabled' not in r for r in d['records'])"
api $ADM GET "$P?enabled=maybe"
check "list enabled=maybe: 400, error 2" api_err 400 2 "" enabled
api $ADM GET "$P?return_records=false"
check "list return_records=false: the count only" pyj "d['num_records']==3 and 'records' not in d"
api $ADM GET "$P?max_records=x"
check "list max_records=x: 400, error 2" api_err 400 2 "" max_records
api $ADM GET "$P?order_by=secret_key"
check "list order_by=secret_key: 400, error 2" api_err 400 2 "" order_by
api $ADM GET "$P?owner.name=nosuch"
check "list owner.name=nosuch: 400, error 2" api_err 400 2 "" owner.name

# ---- delete ----
api $A DELETE "$P/vs0/$C"
check "DELETE another user's profile: 403, error 6" api_err 403 6 "" account.name
api $C DELETE "$P/vs0/$C"
check "DELETE own profile: 200 {}" eval 'st_is 200 && [ "$(cat "$T/out")" = "{}" ]'
api root DELETE "$P/vs0/$C"
check "DELETE again: 404 error 4, byte for byte totpctl --json delete" \
	eval 'api_err 404 4 "$M4" account.name && same_as_totpctl delete --owner vs0 --account "$C"'

# ---- the caller is the socket's peer, never the request ----
api $A GET "$P/$CLUSTER_UUID/$B" 
check "a user cannot read another's profile (403)" api_err 403 6 "" account.name
curl_as $A -u "$ADM:x" -H "X-Remote-User: $ADM" -H "Remote-User: root" \
	"$URL/$CLUSTER_UUID/$B"
check "  not with user headers or basic auth naming the admin" api_err 403 6 "" account.name
check "the log line: method, path, caller uid, status" \
	grep -q "^totpd: GET $P/$CLUSTER_UUID/$B uid=$(id -u $A) status=403\$" "$T/totpd.log"

# ---- Python's http.client over the socket ----
cat > "$T/client.py" <<'PY'
import http.client, json, socket, sys

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=20):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s

def call(sock, method, path, body=None):
    c = UnixHTTPConnection(sock)
    c.request(method, path, body=body,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), data
PY
cat > "$T/py_basic.py" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from client import call
sock, user, uuid = sys.argv[2], sys.argv[3], sys.argv[4]
P = "/api/security/login/totps"
st, ct, data = call(sock, "GET", P)
assert st == 200 and ct == "application/hal+json", (st, ct)
d = json.loads(data)
assert [r["account"]["name"] for r in d["records"]] == [user], d
st, ct, data = call(sock, "PATCH", f"{P}/{uuid}/{user}", json.dumps({"comment": "from python"}))
assert st == 200 and data == b"{}\n", (st, data)
st, ct, data = call(sock, "GET", f"{P}/{uuid}/{user}?fields=comment")
assert st == 200 and json.loads(data)["comment"] == "from python", data
st, ct, data = call(sock, "PATCH", f"{P}/{uuid}/{user}", "{not json")
e = json.loads(data)["error"]
assert st == 400 and e["code"] == "2" and e["target"] == "body", (st, data)
print("ok")
PY
check "http.client over AF_UNIX as a user: list, PATCH, GET, a bad body" \
	eval '[ "$(as $A $PY "$T/py_basic.py" "$T" "$SOCK" "$A" "$CLUSTER_UUID" 2>&1)" = ok ]'

# ---- hostile clients ----
head -c 1000000 /dev/zero | tr '\0' '{' > "$T/big"
curl_as $A --request POST --data-binary @"$T/big" "$URL"
check "a 1 MB body: 413 with the API's error body" api_err 413 2 "" body
cat > "$T/hostile.py" <<'PY'
import json, socket, sys, time
sock = sys.argv[1]
def raw(data, wait=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait); s.connect(sock); s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out
case = sys.argv[2]
if case == "chunked":
    # a chunked body that grows past the limit: no Content-Length to refuse early
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    r = raw(b"POST /api/security/login/totps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk * 4 + b"0\r\n\r\n")
    head, _, body = r.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), r[:200]
    assert json.loads(body)["error"]["code"] == "2", body
elif case == "headers":
    r = raw(b"GET /api/security/login/totps HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 1000) for i in range(100)) + b"\r\n")
    # libmicrohttpd answers 431 (or closes): never a served request
    assert r == b"" or r.startswith(b"HTTP/1.1 431") or r.startswith(b"HTTP/1.1 413"), r[:100]
elif case == "slow":
    # a client that sends half a request and stops: others are served
    # meanwhile, and it is cut off after the idle timeout (2 s here).
    # Bounds: the GET in 1.5 s (some 10 ms alone; one held up behind the
    # half request would wait for its 2 s cut), the cut within 6 s
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sock)
    s.sendall(b"POST /api/security/login/totps HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    t = time.time()
    r = raw(b"GET /api/security/login/totps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200") and time.time() - t < 1.5, r[:100]
    s.settimeout(10)
    closed = s.recv(100)
    assert time.time() - t < 6, time.time() - t
    print("cut after %.1f s" % (time.time() - t), file=sys.stderr)
elif case == "flood":
    # more idle connections than the limit (16): the daemon stays up and
    # serves again once they time out
    conns = []
    for i in range(40):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sock); conns.append(s)
        except OSError:
            break
    time.sleep(3)
    for s in conns: s.close()
    # served again once totpd has seen the closes: asked until it is,
    # for 10 s (a fixed 0.2 s raced with a loaded machine); slots that
    # never came free would fail all the same
    t = time.time()
    while True:
        try:
            r = raw(b"GET /api/security/login/totps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        except OSError as e:
            r = repr(e).encode()
        if r.startswith(b"HTTP/1.1 200") or time.time() - t > 10:
            break
        time.sleep(0.1)
    assert r.startswith(b"HTTP/1.1 200"), r[:100]
elif case == "garbage":
    for g in [b"\x00\xff\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
              b"POST /api/security/login/totps HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
              b"PATCH /api/security/login/totps/%00/%ff HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"]:
        raw(g, wait=3)
print("ok")
PY
for c in chunked headers slow flood garbage; do
	out=$(as $A $PY "$T/hostile.py" "$SOCK" $c 2>&1)
	check "hostile client ($c): answered or cut off, and totpd is still up" \
		eval '[ "$(tail -n 1 <<<"$out")" = ok ] && alive'
	[ "$(tail -n 1 <<<"$out")" = ok ] || sed 's/^/#   /' <<<"$out" | tail -n 5
done
api $A GET $P
check "after the hostile clients, requests are served (200)" st_is 200

# ---- no user can hold up another's request ----
# The bound each check below assumes: another user's request, which takes
# some 10 ms alone, answers within 1 s while one user does their worst
# (the machine may be busy: 2 cores shared with other work).
cat > "$T/hog.py" <<'PY'
import json, socket, sys, time
# N connections by one user, each sending its request one byte every
# 0.5 s (never idle long enough for the 2 s idle timeout)
sock, n, secs, ready = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
conns, refused, bodies = [], 0, []
t0 = time.time()
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.setblocking(False)
    conns.append([s, b"GET /api/security/login/totps HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100, None, b""])
open(ready, "w").close()
while time.time() - t0 < secs:
    for c in conns:
        if c[2] is not None:
            continue
        try:
            d = c[0].recv(65536)
            if d:
                c[3] += d
                continue
            c[2] = time.time() - t0          # closed by totpd
        except BlockingIOError:
            pass
        except OSError:
            c[2] = time.time() - t0
            continue
        if c[2] is None and c[1]:
            try:
                c[0].send(c[1][:1]); c[1] = c[1][1:]
            except OSError:
                # totpd answered (a 503 before reading) and closed: stop
                # sending; the answer is still there to read next round
                c[1] = b""
    time.sleep(0.5)
out = {"refused": 0, "codes": [], "retry": 0, "held_closed": [], "held_open": 0}
for s, rest, closed, data in conns:
    if data.startswith(b"HTTP/1.1 503"):
        out["refused"] += 1
        head, _, body = data.partition(b"\r\n\r\n")
        out["retry"] += b"\r\nRetry-After: 1\r\n" in head
        out["codes"].append(json.loads(body)["error"]["code"])
    elif closed is not None:
        out["held_closed"].append(round(closed, 1))
    else:
        out["held_open"] += 1
out["codes"] = sorted(set(out["codes"]))
print(json.dumps(out))
PY
# timed BUSER METHOD PATH [BODY]: the status in $ST and seconds in $SECS
timed() {
	local u=$1 m=$2 p=$3; shift 3
	local -a data=()
	[ $# -gt 0 ] && data=(--data "$1")
	local r
	r=$(as "$u" curl -s -o "$T/out" -w '%{http_code} %{time_total}' --max-time 20 \
		--unix-socket "$SOCK" --request "$m" "http://localhost$p" "${data[@]}")
	ST=${r% *}; SECS=${r#* }
}
within() { awk -v s="$SECS" -v b="$1" 'BEGIN { exit !(s < b) }'; }
# totpd with its default bounds but for short deadlines (the config's):
# 256 connections at once, 4 per user, 4 s per request, 500 ms lock wait.
# Timing bounds below, each assumed to hold at load 13 on 2 cores:
#   "within 1 s": an answer that is not held up (a held-up one waits the
#     4 s deadline, or the 500 ms lock wait and then fails); curl's own
#     start is outside the time measured;
#   the hog's cut connections: the 4 s deadline, between 3.5 and 5.5 s;
#   the lock waits: 500 ms, between 0.45 and 1.5 s.
stop_totpd
check "totpd restarts with its default connection bounds" start_totpd --timeout 2
install -d -m 0755 -o $A "$T/$A"           # where the hostile user may write
as $A $PY "$T/hog.py" "$SOCK" 70 6 "$T/$A/hog.ready" > "$T/hog.out" 2>&1 &
HOG=$!
# bound 10 s for the hog's 70 connects; a GET before them proves nothing
for _ in $(seq 200); do [ -e "$T/$A/hog.ready" ] && break; sleep 0.05; done
[ -e "$T/$A/hog.ready" ] || echo "# the hog did not connect within 10 s"
timed $B GET "$P/$CLUSTER_UUID/$B"
check "70 slow connections by one user: another user's GET answers within 1 s" \
	eval 'st_is 200 && within 1'
echo "# another user's GET: ${SECS} s"
# a 71st that reads before it sends: the answer is there at once (bound
# 3 s, below the 4 s deadline a connection held until it sends waits)
as $A $PY -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(3)
d=b""
while True:
    b=s.recv(4096)
    if not b: break
    d+=b
head, _, body = d.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode(), file=sys.stderr)
sys.stdout.buffer.write(body)' "$SOCK" > "$T/out" 2> "$T/st71"
ST=$(cat "$T/st71")
check "  the hog's own 71st connection: 503, error 5, naming the cap" \
	eval 'api_err 503 5 "" "" && grep -q "too many connections from uid $(id -u $A): at most 4" "$T/out"'
wait $HOG
echo "# $(cat "$T/hog.out")"
check "  its 66 connections over api.connections_per_user (4) were answered 503, error 5, Retry-After" \
	eval 'cp "$T/hog.out" "$T/out" && pyj "d[\"refused\"]==66 and d[\"retry\"]==66 and set(d[\"codes\"])=={\"5\"}"'
check "  its 4 were cut at the 4 s request deadline, though they never idled 2 s" \
	eval 'python3 -c "import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if d[\"held_open\"]==0 and len(d[\"held_closed\"])==4 and all(3.5<=t<=5.5 for t in d[\"held_closed\"]) else 1)" "$T/hog.out"'
check "  the refusals and the cuts are logged with the uid" \
	eval 'grep -q "uid=$(id -u $A): connection refused" "$T/totpd.log" && grep -q "uid=$(id -u $A): connection cut at its deadline" "$T/totpd.log"'

# A stopped process holding a user's lock (what SIGSTOP on that user's
# totpctl in the middle of a modify leaves): flock(1) as the store user
# holds the account's lock file, then is stopped
LOCKF="$TP_STORE/$CLUSTER_UUID/.$A.lock"
setpriv --reuid=$STORE_USER --regid="$(id -g $STORE_USER)" --clear-groups \
	flock "$LOCKF" sleep 60 &
HOLDER=$!
# held once flock runs its command; bound 10 s (as faults.sh's holder)
for _ in $(seq 200); do
	pgrep -P $HOLDER -x sleep > /dev/null && break; sleep 0.05
done
pgrep -P $HOLDER -x sleep > /dev/null || echo "# flock did not hold $LOCKF within 10 s"
kill -STOP $HOLDER $(pgrep -P $HOLDER) 2> /dev/null
PIDS=()
for i in 1 2 3; do
	as $A curl -s -o "$T/$A/stuck.$i" -w '%{http_code} %{time_total}\n' --max-time 20 \
		--unix-socket "$SOCK" --request PATCH "$URL/$CLUSTER_UUID/$A" \
		--trace-ascii "$T/$A/stuck.$i.trace" \
		--data '{ "comment": "while locked" }' -D "$T/$A/stuck.$i.h" > "$T/stuck.$i.st" &
	PIDS+=($!)
done
# B's PATCH goes while theirs wait for the lock: once all three are sent
# (curl's trace says so at once), bound 10 s; a fixed 0.1 s let B's go
# first on a loaded machine, and the check proved nothing
sent() { [ "$(cat "$T/$A"/stuck.[123].trace 2> /dev/null | grep -c '^=> Send data')" -eq 3 ]; }
for _ in $(seq 200); do sent && break; sleep 0.05; done
sent || echo "# the user's PATCHes were not all sent within 10 s"
timed $B PATCH "$P/$CLUSTER_UUID/$B" '{ "comment": "not held up" }'
check "a user's lock held by a stopped process: another user's PATCH answers within 1 s" \
	eval 'st_is 200 && within 1'
echo "# another user's PATCH: ${SECS} s"
wait "${PIDS[@]}"
cp "$T/$A/stuck.1" "$T/out"
ST=$(cut -d' ' -f1 "$T/stuck.1.st")
check "  the user's own PATCHes give up after api.lock_wait_ms: 503, error 5, the lock named" \
	eval 'api_err 503 5 "" "" && grep -q "locked by another process" "$T/out" && \
[ "$(cut -d" " -f1 "$T"/stuck.[123].st | sort -u)" = 503 ] && \
awk "\$2 >= 0.45 && \$2 < 1.5 { n++ } END { exit n != 3 }" "$T"/stuck.[123].st && \
grep -qi "^Retry-After: 1" "$T/$A/stuck.1.h"'
kill -CONT $HOLDER $(pgrep -P $HOLDER) 2> /dev/null
kill $HOLDER $(pgrep -P $HOLDER) 2> /dev/null
wait $HOLDER 2> /dev/null
api $A PATCH "$P/$CLUSTER_UUID/$A" '{ "comment": "after the lock" }'
check "  once the holder is gone, the same PATCH succeeds" st_is 200

# a create whose caller is gone before the 201 (and its key) reach it
cat > "$T/vanish.py" <<'PY'
import socket, sys, time
body = b'{ "account": { "name": "%s" }, "owner.name": "vs0" }' % sys.argv[2].encode()
said = "the response was not delivered; the new profile was taken back"
for i in range(5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
    # still connected, but nothing it is sent can be read, from before the
    # request is sent (shut down after it, a slow client let the whole
    # 201 into the socket's buffer first): the 201 fails to go out (EPIPE)
    s.shutdown(socket.SHUT_RD)
    s.sendall(b"POST /api/security/login/totps HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    # the connection stays up until totpd has taken the profile back
    # (its log says so), bound 10 s
    for _ in range(200):
        if open(sys.argv[3]).read().count(said) > i:
            break
        time.sleep(0.05)
    else:
        sys.exit("create %d: no take-back logged within 10 s" % (i + 1))
    s.close()
print("ok")
PY
out=$(as $C $PY "$T/vanish.py" "$SOCK" $C "$T/totpd.log" 2>&1)
api $ADM GET "$P/vs0/$C"
check "a create whose 201 cannot be delivered leaves no profile behind" \
	eval '[ "$out" = ok ] && api_err 404 4 "" account.name'
check "  each of the 5 was written, then taken back (logged)" \
	test "$(grep -c "uid=$(id -u $C): the response was not delivered; the new profile was taken back" \
		"$T/totpd.log")" -eq 5

# ---- 1,000 concurrent requests while PAM logins run ----
stop_totpd
DCONF="$T/etc/storm.conf" start_totpd --timeout 2 --max-connections 64
pam_service api config=$TCONF
PAMRUN="$BUILD/tests/tp_pamrun"
hapi POST $P --data '{ "enabled": true }'
check "root (an admin with TOTP) creates its own profile, \"enabled\": true: 201" st_is 201
check "  Location names the new profile, as its _links.self does" \
	eval '[ "$(hdr Location)" = "$P/$CLUSTER_UUID/root" ] && pyj "d[\"records\"][0][\"_links\"][\"self\"][\"href\"]==a[0]" "$(hdr Location)"'
B_FP=$(curl -s --unix-socket "$SOCK" "$URL/$CLUSTER_UUID/$B?fields=sha_fingerprint" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["sha_fingerprint"])')
cat > "$T/storm.py" <<'PY'
import json, sys, threading, random
sys.path.insert(0, sys.argv[1])
from client import call
sock, uuid, users = sys.argv[2], sys.argv[3], sys.argv[4].split(",")
P = "/api/security/login/totps"
N, W = 1000, 48
acked = {u: set() for u in users}
bad, lock = [], threading.Lock()
statuses = {}
def one(i):
    kind = i % 4
    u = users[i % len(users)]
    try:
        if kind == 0:
            st, ct, data = call(sock, "POST", P, json.dumps({"account": {"name": "root"}}))
            ok = st == 409 and json.loads(data)["error"]["code"] == "1"
        elif kind in (1, 2):
            c = "c-%d" % i
            st, ct, data = call(sock, "PATCH", f"{P}/{uuid}/{u}", json.dumps({"comment": c}))
            ok = st == 200 and data == b"{}\n"
            if ok:
                with lock: acked[u].add(c)
        else:
            st, ct, data = call(sock, "GET", P + "?fields=comment,sha_fingerprint")
            d = json.loads(data)
            ok = st == 200 and d["num_records"] == len(d["records"]) >= len(users)
        with lock:
            statuses[st] = statuses.get(st, 0) + 1
            if not ok: bad.append((i, st, data[:200]))
    except Exception as e:
        with lock: bad.append((i, "exception", repr(e)))
threads = []
sem = threading.Semaphore(W)
def run(i):
    with sem: one(i)
for i in range(N):
    t = threading.Thread(target=run, args=(i,)); t.start(); threads.append(t)
for t in threads: t.join()
# nothing lost: each profile's comment is one that was acknowledged
for u in users:
    st, ct, data = call(sock, "GET", f"{P}/{uuid}/{u}?fields=comment")
    if st != 200 or json.loads(data)["comment"] not in acked[u]:
        bad.append(("final", u, data[:200]))
print("statuses", sorted(statuses.items()), file=sys.stderr)
for b in bad[:5]: print("bad", b, file=sys.stderr)
print("ok" if not bad and sum(statuses.values()) == N else "FAIL %d" % len(bad))
PY
W="$T/logins"
mkdir -p "$W"
pam_env_args
PENV=("${PAM_ENV_ARGS[@]}")
PENV[0]=${PENV[0]/$PAM_WRAPPER_LIB/}
(
	# one good login first (the current code), then wrong codes, then an
	# emergency code at the end: every login reads and writes the state
	n=0
	while [ ! -e "$W/stop" ] && [ $n -lt 400 ]; do
		n=$((n + 1))
		if [ $n -eq 1 ]; then in=$(code 0 "$A_SECRET"); else in=00000$((n % 10)); fi
		printf '%s\n' "$in" | timeout 60 env "${PENV[@]}" PAM_WRAPPER=0 \
			TP_TEST_SYSLOG="$W/pam.log" "$PAMRUN" "$T/pam.d" api $A > /dev/null 2>&1
		echo "$n $?" >> "$W/rc"
	done
) &
LPID=$!
storm=$(python3 "$T/storm.py" "$T" "$SOCK" "$CLUSTER_UUID" "$A,$B,root" 2> "$T/storm.err")
touch "$W/stop"
wait $LPID
sed 's/^/#   /' "$T/storm.err"
check "1,000 concurrent create/modify/list requests: every one the API's answer, none lost" \
	[ "$storm" = ok ]
# (more than 5 logins beside the 1,000 requests: each login is a process
# start and a few ms of work, the storm some seconds; both slow down alike
# on a loaded machine.  A login's own bound is the timeout of 60 s.)
check "  PAM logins ran meanwhile: the good code accepted, every wrong one refused" \
	eval '[ "$(head -n 1 "$W/rc")" = "1 0" ] && [ "$(wc -l < "$W/rc")" -gt 5 ] && \
[ "$(tail -n +2 "$W/rc" | grep -cv " 1$")" -eq 0 ]'
printf '%s\n' "$A_EC" | env "${PENV[@]}" PAM_WRAPPER=0 TP_TEST_SYSLOG="$W/pam.log" \
	"$PAMRUN" "$T/pam.d" api $A > /dev/null 2>&1
check "  afterwards the profile is whole: an emergency code logs in" test $? -eq 0
api root GET "$P/$CLUSTER_UUID/$B?fields=sha_fingerprint"
check "  and the other profile's key is untouched" pyj "d['sha_fingerprint']==a[0]" "$B_FP"
# whole: only profiles and their locks in the owner's folder, each parses
store_whole() {
	local f
	for f in "$TP_STORE/$CLUSTER_UUID"/.[!.]* "$TP_STORE/$CLUSTER_UUID"/*; do
		[ -e "$f" ] || continue
		case "${f##*/}" in .*.lock|[!.]*.ini) ;; *) echo "# stray: ${f##*/}"; return 1 ;; esac
	done
	for f in $A $B root; do
		"$MKPROFILE" --get "$TCONF" "$CLUSTER_UUID" $f > /dev/null || return 1
	done
}
check "  no profile torn: nothing half-written, each profile and its state parse" store_whole
check "totpd survived all of it" alive
check "every request was logged" \
	test "$(grep -c ' status=' "$T/totpd.log")" -ge 1000
stop_totpd

# ---- socket activation ----
if command -v systemd-socket-activate > /dev/null; then
	rm -f "$T/run/act.sock"
	setpriv --reuid=$STORE_USER --regid="$(id -g $STORE_USER)" --clear-groups \
		systemd-socket-activate -l "$T/run/act.sock" \
		"$TOTPD" --config "$TCONF" > /dev/null 2>> "$T/totpd.log" &
	APID=$!
	# systemd-socket-activate binds, then listens: the name exists a
	# moment before a connect succeeds, so wait for a connect, not for
	# the name (the probe is the first connection: it starts totpd).
	# Bound: it listens within 20 s of its start (as curl's --max-time)
	probes=0
	until $PY -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
		"$T/run/act.sock" 2> "$T/probe.err"; do
		probes=$((probes + 1))
		[ $probes -ge 200 ] && break
		sleep 0.1
	done
	SOCK="$T/run/act.sock"
	# (this socket's mode is systemd-socket-activate's; totpd.socket sets 0666)
	api root GET $P
	check "socket activation (LISTEN_FDS): the passed socket is served" st_is 200
	st_is 200 || {
		echo "# status $ST after $probes failed probes; the last probe: $(tail -n 1 "$T/probe.err")"
		kill -0 $APID 2> /dev/null || echo "# systemd-socket-activate (or totpd) is gone"
		tail -n 5 "$T/totpd.log" | sed "s/^/#   /"
	}
	kill $APID 2> /dev/null; wait $APID 2> /dev/null
else
	skip "socket activation" "systemd-socket-activate is missing"
fi
check "totpd.service runs as the store user, never root" \
	eval 'grep -q "^User=_totp" "$TOP/totpd/totpd.service" && ! grep -q "^User=root" "$TOP/totpd/totpd.service"'
check "totpd.socket listens on /run/totp_profile/api.sock, mode 0666" \
	eval 'grep -q "^ListenStream=/run/totp_profile/api.sock" "$TOP/totpd/totpd.socket" && grep -q "^SocketMode=0666" "$TOP/totpd/totpd.socket"'
