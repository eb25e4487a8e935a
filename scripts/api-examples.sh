#!/bin/bash
# Run the API pages' examples (and the error cases) against a real totpd
# in a throwaway folder and print them as markdown: each curl call, then
# its real status and body.  docs/api.md's examples are this script's
# output.  Needs root (to start clients as other uids with setpriv) and
# nss_wrapper (the users exist only in a passwd file in the folder).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
NSS_WRAPPER_LIB=/usr/lib/$MULTIARCH/libnss_wrapper.so

W=$(mktemp -d /tmp/totpd-examples.XXXXXX)
DPID=""
trap "trap '' INT TERM; "'[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; rm -rf "$W"' EXIT
chmod 0755 "$W"
cat > "$W/passwd" <<PW
root:x:0:0:root:/root:/bin/bash
_totp:x:4100:4100::/nonexistent:/usr/sbin/nologin
pubuser2:x:4002:4002::/nonexistent:/bin/sh
pubuser4:x:4004:4004::/nonexistent:/bin/sh
admin:x:4010:4010::/nonexistent:/bin/sh
PW
cat > "$W/group" <<GR
root:x:0:
_totp:x:4100:
totpadmin:x:4101:admin
GR
export NSS_WRAPPER_PASSWD="$W/passwd" NSS_WRAPPER_GROUP="$W/group"
mkdir -m 0700 "$W/store" && chown 4100:4100 "$W/store"
mkdir -m 0755 "$W/run" && chown 4100:4100 "$W/run"
cat > "$W/totp_profile.conf" <<CONF
store = { path = "$W/store"; user = "_totp"; };
admin_group = "totpadmin";
issuer = "node1";
cluster = { name = "Default"; uuid = "b009a9e7-4081-b576-7575-ada21efcaf16";
            totp_accounts = [ "pubuser2", "admin" ]; };
svms = ( { name = "vs0"; uuid = "b019a9e7-4081-b576-7575-ada21efcaf16";
           members = [ "pubuser4" ]; totp_accounts = [ "pubuser4" ]; } );
CONF
chmod 0644 "$W/totp_profile.conf"
SOCK="$W/run/api.sock"
setpriv --reuid=4100 --regid=4100 --clear-groups env LD_PRELOAD="$NSS_WRAPPER_LIB" \
	"$BUILD/totpd" --config "$W/totp_profile.conf" --socket "$SOCK" 2> "$W/log" &
DPID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

# ex UID NAME TITLE CURL_ARGS...: one example, as the user with that uid
ex() {
	local uid=$1 name=$2 title=$3; shift 3
	local shown="curl --unix-socket /run/totp_profile/api.sock"
	local a
	for a in "$@"; do
		case "$a" in *[\ \"\'{}\&?*]*) shown+=" '$a'" ;; *) shown+=" $a" ;; esac
	done
	printf '### %s\n\nAs `%s`:\n\n```\n%s\n```\n\n' "$title" "$name" "$shown"
	setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		curl -s -i --unix-socket "$SOCK" "$@" | tr -d '\r' |
		grep -v -e '^Date:' -e '^Content-Length:' |
		sed "s|$W/totp_profile.conf|/etc/totp_profile/totp_profile.conf|g" > "$W/resp" || true
	printf '```\n%s\n```\n\n' "$(cat "$W/resp")"
}
U=http://localhost/api/security/login/totps
C=b009a9e7-4081-b576-7575-ada21efcaf16

echo "## The pages' examples"
echo
ex 4002 pubuser2 "Creating a TOTP profile for a cluster-scoped account" \
	$U --request POST --data '{ "account": { "name": "pubuser2" },"comment": "Cserver-Creation"}'
ex 4004 pubuser4 "Creating a TOTP profile for an SVM-scoped account" \
	$U --request POST --data '{ "account": { "name": "pubuser4" },"comment": "Vserver-Creation","owner.name":"vs0" }'
ex 4010 admin "Retrieving the configured TOTP profiles" $U
ex 4010 admin "Retrieving one profile (GET /{owner.uuid}/{account.name})" \
	"$U/$C/pubuser2?fields=*"
ex 4010 admin "Disabling a profile (PATCH, admin only)" \
	"$U/$C/pubuser2" --request PATCH --data '{ "enabled": false }'
ex 4010 admin "Filtering, ordering and limiting the list" \
	"$U?enabled=true&fields=comment,enabled&order_by=account.name%20desc&max_records=5"
echo "## The API's conventions"
echo
ex 4010 admin "POST with \"enabled\": true (a new profile is enabled): 201 and Location" \
	$U --request POST --data '{ "account": { "name": "admin" }, "enabled": true, "comment": "admin key" }'
ex 4002 pubuser2 "POST with \"enabled\": false: error 2, 400, and why" \
	$U --request POST --data '{ "account": { "name": "pubuser2" }, "enabled": false }'
ex 4010 admin "Paging: max_records=1 and _links.next" "$U?max_records=1&order_by=account.name"
# the next link exactly as the previous answer gave it
NEXT=$(sed -n '/^{/,$p' "$W/resp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["_links"]["next"]["href"])')
ex 4010 admin "The next page: the href of _links.next, as given" "http://localhost$NEXT"
ex 4010 admin "Query operators: | (or)" "$U?account.name=pubuser2|admin&fields=comment"
ex 4010 admin "Query operators: ! (not) and * (wildcard)" "$U?account.name=!admin&comment=*server*&fields=comment"
ex 4010 admin "Query operators: < (byte order) and !null" \
	"$U?account.name=<pubuser4&comment=!null&fields=comment"
ex 4010 admin "Booleans in any case, and order_by on several fields" \
	"$U?enabled=False|TRUE&order_by=enabled%20desc,account.name%20asc&fields=enabled"
ex 4010 admin "Accept: application/json: no HAL links but next" \
	"$U?max_records=1" -H "Accept: application/json"
ex 4010 admin "HEAD: GET's status and headers" --head "$U/$C/pubuser2"
ex 4010 admin "OPTIONS: the methods in Allow" --request OPTIONS "$U/$C/pubuser2"
ex 4010 admin "A method the path does not take: 405, error 3, Allow" --request PUT $U
ex 4010 admin "PATCH on the collection (a query-based PATCH) is not offered: 405" \
	"$U?enabled=false" --request PATCH --data '{ "enabled": true }'
ex 4010 admin "An owner uuid that names no owner: error 4, 404" \
	"$U/0000aaaa-4081-b576-7575-ada21efcaf16/pubuser2"
ex 4010 admin "An owner that is not even a uuid: error 2, 400" "$U/no-such-owner/pubuser2"
ex 4002 pubuser2 "return_records=false on POST stays refused: error 2, 400" \
	"$U?return_records=false" --request POST --data '{ "account": { "name": "pubuser2" } }'
ex 4010 admin "Deleting the admin's profile again" "$U/$C/admin" --request DELETE
echo "## Errors"
echo
ex 4004 pubuser4 "Create over an enabled profile: error 1, 409" \
	$U --request POST --data '{ "account": { "name": "pubuser4" }, "owner.name": "vs0" }'
ex 4010 admin "Create for another user: error 6, 403" \
	$U --request POST --data '{ "account": { "name": "pubuser2" } }'
ex 4004 pubuser4 "A user changes enabled: 144834564, 403" \
	"$U/vs0/pubuser4" --request PATCH --data '{ "enabled": true }'
ex 4010 admin "enabled is not a boolean: 144834565, 400" \
	"$U/$C/pubuser2" --request PATCH --data '{ "enabled": "yes" }'
ex 4010 admin "Modify a profile that does not exist: 144834566, 404" \
	"$U/$C/admin" --request PATCH --data '{ "comment": "x" }'
ex 4010 admin "Show a profile that does not exist: error 4, 404" "$U/$C/admin"
ex 4002 pubuser2 "A read-only field: error 2, 400" \
	"$U/$C/pubuser2" --request PATCH --data '{ "secret_key": "AAAA" }'
ex 4002 pubuser2 "Malformed JSON: error 2, 400" $U --request POST --data '{ "account": '
echo "## Deleting"
echo
ex 4004 pubuser4 "Deleting one's own profile" "$U/vs0/pubuser4" --request DELETE
echo "## The log"
echo
printf '```\n%s\n```\n' "$(cat "$W/log")"
