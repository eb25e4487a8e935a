#!/bin/bash
# totpctl: every verb, every error code in human and --json form, the
# privilege model, and `make install` into a temp prefix.
#
# How totpctl runs here (the tests run as root).  totpctl is meant to be
# setuid to the store user, and a setuid process is in secure-execution
# mode: LD_PRELOAD is ignored, so nss_wrapper's fake users (lib.sh) cannot
# be seen by it.  So this file uses real accounts every Debian system has,
# in roles:
#     bin    "alice": cluster account with TOTP configured
#     sys    "bob":   cluster account with TOTP configured
#     man    "carol": member of SVM vs0, TOTP configured there
#     lp     "dave":  local user without TOTP
#     games  admin   (primary group games is the admin_group)
#     daemon the store user; nobody: poisoned-environment runs
# `make install` puts a copy built with SYSCONFDIR=$T/etc into $T/prefix,
# setuid and setgid to daemon (scripts/install-totpctl.sh), and every caller runs it
# with `setpriv --reuid=CALLER`: the real setuid path, with its
# compiled-in config in $T (--config is refused there, as in production).
# The build-tree binary ($TOTPCTL) runs unprivileged with --config.
source "$(dirname "$0")/lib.sh"

A=bin B=sys C=man D=lp ADM=games STORE_USER=daemon
for u in $A $B $C $D $ADM $STORE_USER nobody; do
	if ! getent passwd $u > /dev/null; then
		skip "totpctl" "system account $u is missing"
		exit 0
	fi
done
uid_of() { id -u "$1"; }
STORE_UID=$(uid_of $STORE_USER)
STORE_GID=$(id -g $STORE_USER)

TCONF="$T/etc/totp_profile/totp_profile.conf"
install -d -m 0755 "$T/etc/totp_profile"
cat > "$TCONF" <<CONF
$(store_settings "$STORE_USER")
admin_group = "$ADM";
issuer = "testhost";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "$A", "$B", "$ADM" ]; };
svms = ( { name = "vs0"; uuid = "$SVM_UUID"; members = [ "$C" ]; totp_accounts = [ "$C" ]; } );
CONF
chmod 0644 "$TCONF"
chown "$STORE_USER:" "$TP_STORE"
# the PAM module runs under nss_wrapper (lib.sh): let it see these accounts
getent passwd $A $STORE_USER >> "$T/passwd"

TB="$T/build"
SAN=0
nm "$TOTPCTL" 2>/dev/null | grep -q __asan_init && SAN=1
if make -s -C "$TOP" BUILD="$TB" SANITIZE=$SAN PREFIX="$T/prefix" SYSCONFDIR="$T/etc" \
	STOREDIR="$T/sstore" STORE_USER=$STORE_USER PAMDIR="$T/prefix/lib/security" \
	install > "$T/make.out" 2>&1; then
	echo "ok - make install into a temp prefix"
else
	echo "not ok - make install into a temp prefix"
	tail -n 20 "$T/make.out" | sed 's/^/#   /'
fi
CTL="$T/prefix/bin/totpctl"
[ -x "$CTL" ] || { echo "not ok - no installed totpctl"; exit 1; }

# make uninstall takes back every file make install wrote, keeps the
# config and the store, and PURGE=1 removes those too (staged in DESTDIR)
staged() {
	make -s -C "$TOP" BUILD="$TB" SANITIZE=$SAN DESTDIR="$T/staged" STORE_USER=$STORE_USER "$@" \
		> "$T/make.out" 2>&1
}
staged install
staged uninstall
check "make uninstall: only the config is left (no binary, module, page, unit)" \
	test "$(cd "$T/staged" && find . -type f)" = "./etc/totp_profile/totp_profile.conf"
check "make uninstall: the store folder is kept" test -d "$T/staged/var/lib/totp_profile"
check "make uninstall: says what it kept" grep -q "kept /etc/totp_profile" "$T/make.out"
staged uninstall PURGE=1
check "make uninstall PURGE=1: no file and no store left" \
	test -z "$(cd "$T/staged" && find . -type f -o -path ./var/lib/totp_profile -print)"

RC=0
# ctl USER ARGS...: USER runs the installed setuid copy; output in $T/out, $T/err
ctl() {
	local u=$1; shift
	setpriv --reuid="$(uid_of $u)" --regid="$(id -g $u)" --clear-groups \
		env -i PATH=/usr/bin:/bin "$CTL" "$@" > "$T/out" 2> "$T/err"
	RC=$?
}
# ctl_unpriv USER ARGS...: the build-tree binary, real == effective uid
ctl_unpriv() {
	local u=$1; shift
	setpriv --reuid="$(uid_of $u)" --regid="$(id -g $u)" --clear-groups \
		"$TOTPCTL" --config "$TCONF" "$@" > "$T/out" 2> "$T/err"
	RC=$?
}

rc_is() { [ "$RC" -eq "$1" ]; }
out_has() { grep -q -- "$1" "$T/out"; }
out_lacks() { ! grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }
# pyj EXPR [ARG...]: EXPR (python; d = the JSON on stdout, a = the ARGs) is true
pyj() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
a=sys.argv[3:]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/out" "$@" 2>/dev/null
}
# human_err CODE MESSAGE TARGET [RC]: exit status RC (default 1) and the
# first stderr line "totpctl: error CODE: MESSAGE (TARGET)"; an empty
# MESSAGE or TARGET is not checked
human_err() {
	local code=$1 msg=$2 target=$3 want_rc=${4:-1} line
	rc_is "$want_rc" || return 1
	line=$(head -n 1 "$T/err")
	[[ $line == "totpctl: error $code: "* ]] || return 1
	[ -z "$msg" ] || [[ $line == "totpctl: error $code: $msg"* ]] || return 1
	[ -z "$target" ] || [[ $line == *" ($target)" ]]
}
# json_err CODE MESSAGE TARGET [RC]: the API's error body on stdout
json_err() {
	local code=$1 msg=$2 target=$3 want_rc=${4:-1}
	rc_is "$want_rc" && pyj "set(d)=={'error'} and isinstance(d['error']['code'], str) \
and d['error']['code']==a[0] and (a[1]=='' or d['error']['message']==a[1]) \
and (a[2]=='' or d['error']['target']==a[2])" "$code" "$msg" "$target"
}
# both_err NAME CODE MESSAGE TARGET UID ARGS...: human and --json forms
both_err() {
	local name=$1 code=$2 msg=$3 target=$4 uid=$5; shift 5
	ctl "$uid" "$@"
	check "$name (human)" human_err "$code" "$msg" "$target"
	ctl "$uid" --json "$@"
	check "$name (--json)" json_err "$code" "$msg" "$target"
}
UUID=$CLUSTER_UUID
M4="entry doesn't exist"
M561="TOTP is not configured for the user."
M564="Only users with the admin role are allowed to modify the TOTP status."
M565="Invalid option for the field -enabled"
M566="TOTP is not configured for the user"

# ---- help and usage ----
ctl $A --help
check "--help lists every verb" bash -c "rc=$RC; [ \$rc -eq 0 ] && for v in create modify show list delete unlock; do grep -q \"^  \$v\" '$T/out' || exit 1; done"
ctl $A frobnicate
check "unknown verb: error 2, exit status 2" human_err 2 "" "" 2
ctl $A --json list --bogus
check "unknown option: JSON error 2, exit status 2" json_err 2 "" "" 2
ctl $A create --enabled true
check "option a verb does not take: error 2" human_err 2 "" "enabled" 2
ctl $A
check "no verb: error 2" human_err 2 "" "" 2

# ---- create ----
ctl $A create --comment "alice's phone"
check "create: exit 0" rc_is 0
A_SECRET=$(sed -n 's/^ *Secret key: //p' "$T/out")
A_CODES=$(sed -n 's/^ *Emergency codes: //p' "$T/out")
A_URL=$(sed -n 's/^ *Install URL: //p' "$T/out")
A_VC=$(sed -n 's/^ *Verification code: //p' "$T/out")
check "create: 160-bit base32 secret" bash -c "[[ '$A_SECRET' =~ ^[A-Z2-7]{32}$ ]]"
check "create: five 8-digit emergency codes" bash -c "[[ '$A_CODES' =~ ^[0-9]{8}( [0-9]{8}){4}$ ]]"
check "create: otpauth:// install URL with issuer, algorithm, digits, period" \
	test "$A_URL" = "otpauth://totp/testhost:$A?secret=$A_SECRET&issuer=testhost&algorithm=SHA1&digits=6&period=30"
check "create: no third-party URL" bash -c "! grep -qiE 'https?://' '$T/out'"
check "create: verification code is the current TOTP code (oathtool)" \
	bash -c "[ '$A_VC' = \"\$(oathtool --totp -b '$A_SECRET')\" ] || [ '$A_VC' = \"\$(oathtool --totp -b -N \"@\$(( \$(date +%s) - 30 ))\" '$A_SECRET')\" ]"
check "create into a file: no QR code drawn" out_lacks "█"
check "create into a file: says to type the key, not to scan a code" \
	bash -c "grep -q 'Type the secret key' '$T/out' && ! grep -q 'Scan the QR' '$T/out'"
check "create: SHA fingerprint printed" bash -c "grep -qE '^ *SHA fingerprint: [0-9a-f]{64}$' '$T/out'"
A_FILE="$TP_STORE/$UUID/$A.ini"
if on_backend files; then
	check "create: profile file owned by the store user, 0600" \
		test "$(stat -c '%u %a' "$A_FILE")" = "$STORE_UID 600"
else
	skip "create: profile file owned by the store user, 0600" "postgresql has no profile files"
fi
# no_codes_stored: none of $A_CODES in what the store holds of $A
no_codes_stored() {
	local c dump
	dump=$(profile_dump $A) && [ -n "$dump" ] || return 1
	for c in $A_CODES; do [[ $dump == *"$c"* ]] && return 1; done
	return 0
}
check "create: emergency codes stored only as hashes" no_codes_stored

pam_service totp "config=$TCONF"
check "PAM module accepts a code computed by oathtool from the printed secret" \
	pam_auth totp $A "$(oathtool --totp -b "$A_SECRET")"
check "PAM module accepts a printed emergency code" pam_auth totp $A "${A_CODES%% *}"

ctl $B create --json --no-qr --comment "bob"
check "create --json: exit 0" rc_is 0
check "create --json: {num_records:1, records:[totp_post]}" pyj "d['num_records']==1 and len(d['records'])==1"
check "create --json: owner, account, scope, _links" pyj "(lambda r: r['owner']['name']=='cluster1' and r['owner']['uuid']=='$UUID' and r['account']['name']=='$B' and r['scope']=='cluster' and r['_links']['self']['href']=='/api/security/login/totps/$UUID/$B')(d['records'][0])"
check "create --json: secret_key, install_url, verification_code, emergency_codes, sha_fingerprint" \
	pyj "(lambda r: __import__('re').fullmatch('[A-Z2-7]{32}', r['secret_key']) and r['install_url'].startswith('otpauth://totp/testhost:$B?secret='+r['secret_key']+'&') and len(r['verification_code'])==6 and len(r['emergency_codes'])==5 and all(len(c)==8 and c.isdigit() for c in r['emergency_codes']) and r['sha_fingerprint']==__import__('hashlib').sha256(__import__('base64').b32decode(r['secret_key'])).hexdigest() and r['enabled'] is True and r['comment']=='bob')(d['records'][0])"
check "create --json: no QR code in JSON output" out_lacks "█"
# groups_are GID PATH...: every PATH has group GID
groups_are() {
	local g=$1 f; shift
	for f in "$@"; do [ "$(stat -c %g "$f")" = "$g" ] || return 1; done
}
if on_backend files; then
	check "enrolments by two users: owner folder, profiles and locks have the store user's group" \
		groups_are "$STORE_GID" "$TP_STORE/$UUID" "$TP_STORE/$UUID/$A.ini" "$TP_STORE/$UUID/$B.ini" \
		"$TP_STORE/$UUID/.$A.lock" "$TP_STORE/$UUID/.$B.lock"
else
	skip "enrolments by two users: owner folder, profiles and locks have the store user's group" \
		"postgresql has no profile files"
fi
B_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["secret_key"])' "$T/out")

both_err "create over an enabled profile: error 1" 1 "" "account.name" $A create
both_err "create for another account: error 6" 6 "" "account.name" $A create --account $B
both_err "admin cannot create for another user: error 6" 6 "" "account.name" $ADM create --account $A
both_err "create without TOTP configured: 144834561" 144834561 "$M561" "account.name" $D create
both_err "create with a bad account name: error 2" 2 "" "account.name" $A create --account ../etc
both_err "create for an unknown owner: error 2" 2 "" "owner.name" $A create --owner nosuchsvm
both_err "create with a non-UTF-8 comment: error 2" 2 "" "comment" $A create --comment $'bad\xff\xfe'
ctl $A --json create --owner $'svm\xff'
check "non-UTF-8 owner name still gives a valid JSON error 2" json_err 2 "" "owner.name"
both_err "create in an SVM the user is not in: error 2" 2 "" "account.name" $A create -vserver vs0

ctl $C create -vserver vs0 --no-qr --json
check "create in an SVM (-vserver): scope svm" pyj "d['records'][0]['scope']=='svm' and d['records'][0]['owner']['uuid']=='$SVM_UUID' and d['records'][0]['owner']['name']=='vs0'"

# ---- show ----
ctl $A show --owner cluster1 --account $A
check "show: exit 0, a table of the record" bash -c "[ $RC -eq 0 ] && grep -q 'Comment: alice.s phone' '$T/out' && grep -q 'Enabled: true' '$T/out'"
check "show: never the secret or emergency codes" \
	bash -c "! grep -q '$A_SECRET' '$T/out' && for c in $A_CODES; do grep -q \$c '$T/out' && exit 1; done; exit 0"
ctl $A show -vserver $UUID -username $A --json --fields '*'
check "show --json (-vserver UUID -username): one record, all non-secret fields" \
	pyj "d['account']['name']=='$A' and d['owner']['uuid']=='$UUID' and d['owner']['name']=='cluster1' and d['scope']=='cluster' and d['enabled'] is True and d['comment']==\"alice's phone\" and len(d['sha_fingerprint'])==64 and d['_links']['self']['href']=='/api/security/login/totps/$UUID/$A'"
check "show --json: no secret fields" pyj "not ({'secret_key','install_url','emergency_codes','verification_code'} & set(d)) and '$A_SECRET' not in json.dumps(d)"
ctl $A show --owner cluster1 --account $A --json --fields comment
check "show --fields comment: keys and comment only" pyj "set(d)=={'owner','account','_links','comment'}"
both_err "show --fields unknown: error 2" 2 "" "fields" $A show --owner cluster1 --account $A --fields secret_key
both_err "show of an absent profile: error 4" 4 "$M4" "account.name" $D show --owner cluster1 --account $D
both_err "show of another user's profile by a non-admin: error 6" 6 "" "account.name" $B show --owner cluster1 --account $A
# a verb that names one profile needs the account: without it, error 2
# with that target and exit status 2 (a command-line error), never a
# lookup of a half-named profile; the owner is the cluster unless given
for v in show modify delete unlock; do
	extra=(); [ $v = modify ] && extra=(--comment x)
	ctl $A $v --owner cluster1 "${extra[@]}"
	check "$v without --account: error 2 (account.name), exit status 2" \
		human_err 2 "" "account.name" 2
	ctl $A --json $v "${extra[@]}"
	check "$v without --owner and --account: JSON error 2 (account.name), exit status 2" \
		json_err 2 "" "account.name" 2
done
ctl $A show --account $A --json
check "show without --owner: the cluster's profile" \
	bash -c "[ $RC -eq 0 ] && grep -q '\"uuid\": \"$UUID\"' '$T/out'"
ctl $A show --owner cluster1 --account $A --json
check "show --json: account carries _links.self.href (the API's account reference)" \
	pyj "d['account']=={'name':'$A','_links':{'self':{'href':'/api/security/accounts/$UUID/$A'}}}"
ctl $A show --owner cluster1 --account $A --json --fields account._links
check "show --fields account._links: accepted, the keys only" \
	pyj "set(d)=={'owner','account','_links'} and d['account']['_links']['self']['href']=='/api/security/accounts/$UUID/$A'"
ctl $ADM show --owner cluster1 --account $A --json
check "admin can show any profile" pyj "d['account']['name']=='$A'"

# ---- list ----
ctl $ADM list --json
check "list --json as admin: every profile" pyj "d['num_records']==3 and len(d['records'])==3 and sorted(r['account']['name'] for r in d['records'])==sorted(['$A','$B','$C'])"
check "list --json: body shape" pyj "list(d)==['records','num_records','_links'] and d['_links']['self']['href']=='/api/security/login/totps'"
check "list --json: records carry owner{name,uuid}, account{name}, scope, _links" \
	pyj "all(r['owner']['name'] and r['owner']['uuid'] and r['account']['name'] and r['scope'] in ('cluster','svm') and r['_links']['self']['href']=='/api/security/login/totps/%s/%s'%(r['owner']['uuid'],r['account']['name']) for r in d['records'])"
ctl $ADM list --json --fields '*'
check "list never shows secrets, even with --fields '*'" \
	bash -c "[ $RC -eq 0 ] && ! grep -qE '$A_SECRET|$B_SECRET|secret_key|emergency_codes|install_url' '$T/out'"
ctl $A list --json
check "list as a user: only their own" pyj "d['num_records']==1 and d['records'][0]['account']['name']=='$A'"
ctl $A list
check "list (human): a table" bash -c "[ $RC -eq 0 ] && head -n 1 '$T/out' | grep -q '^Owner  *Account  *Scope  *Enabled  *Comment' && grep -q '^1 entry was displayed' '$T/out' && ! grep -q $B '$T/out'"
ctl $ADM list --json
check "list --json: every record's account carries _links.self.href" \
	pyj "d['num_records']==3 and all(r['account']['_links']['self']['href']=='/api/security/accounts/%s/%s'%(r['owner']['uuid'],r['account']['name']) for r in d['records'])"
ctl $ADM list --fields account._links --json
check "list --fields account._links: accepted" pyj "d['num_records']==3"
ctl $ADM list --fields owner.uuid --scope cluster
check "list --fields owner.uuid (human): an Owner UUID column instead of the name" \
	bash -c "[ $RC -eq 0 ] && head -n 1 '$T/out' | grep -q '^Owner UUID  *Account *\$' && sed -n 3p '$T/out' | grep -q '^$UUID  ' && ! grep -q cluster1 '$T/out'"
ctl $ADM list --fields owner.uuid,owner.name,scope --scope svm
check "list --fields owner.uuid,owner.name (human): both owner columns" \
	bash -c "[ $RC -eq 0 ] && head -n 1 '$T/out' | grep -q '^Owner  *Owner UUID  *Account  *Scope\$' && sed -n 3p '$T/out' | grep -q '^vs0  *$SVM_UUID  '"
ctl $ADM list --owner vs0 --json
check "list --owner vs0" pyj "[r['account']['name'] for r in d['records']]==['$C']"
ctl $ADM list --scope cluster --json
check "list --scope cluster" pyj "sorted(r['account']['name'] for r in d['records'])==sorted(['$A','$B'])"
ctl $ADM list --account 'b*' --json
check "list --account PATTERN" pyj "[r['account']['name'] for r in d['records']]==['$A']"
ctl $ADM list --owner vs0 --json --fields enabled
check "list --fields enabled" pyj "set(d['records'][0])=={'owner','account','_links','enabled'}"
both_err "list --enabled not a boolean: error 2" 2 "" "enabled" $ADM list --enabled maybe
both_err "list --scope invalid: error 2" 2 "" "scope" $ADM list --scope galaxy
# The order of a list is (owner uuid, account name) in byte order on every
# store: names that sort otherwise with the file suffix (a-b.ini < a.ini),
# in a locale, or by case
ORDER_NAMES=(a-b a 'a$' A a.b a_b b 0a)
for n in "${ORDER_NAMES[@]}"; do
	for o in $UUID $SVM_UUID; do "$MKPROFILE" "$TCONF" $o "$n" "$SECRET"; done
done
ctl_unpriv root list --json --fields owner.uuid
check "list: records in (owner uuid, account) byte order" \
	pyj "[(r['owner']['uuid'], r['account']['name']) for r in d['records']] == sorted((r['owner']['uuid'], r['account']['name']) for r in d['records']) and len(d['records']) == 2 * len(a) + 3" "${ORDER_NAMES[@]}"
for n in "${ORDER_NAMES[@]}"; do rmprofile "$n"; rmprofile "$n" $SVM_UUID; done

# ---- modify ----
ctl $A modify --owner cluster1 --account $A --comment "new phone"
check "modify own comment: exit 0" rc_is 0
ctl $A show --owner cluster1 --account $A --json
check "modify: comment changed, secret unchanged" pyj "d['comment']=='new phone' and d['sha_fingerprint']==__import__('hashlib').sha256(__import__('base64').b32decode('$A_SECRET')).hexdigest()"
ctl $A modify --owner cluster1 --account $A --comment x --json
check "modify --json: exit 0, an empty JSON object" pyj "d=={}"
W100=$(printf 'w%.0s' $(seq 100))
ctl $A modify --owner cluster1 --account $A --comment "$W100"
ctl $ADM list --owner cluster1 --fields comment
check "list (human): a column wider than 79 gets an underline as wide as it" \
	bash -c "[ $RC -eq 0 ] && sed -n 2p '$T/out' | grep -qE '^-+  -+  -{100}\$' && grep -q ' $W100\$' '$T/out'"
# A record stored before such comments were refused still loads, and the
# table does not print it as is (the file is edited in place: same inode,
# owner and mode)
# (on the database: the row updated by the superuser, past totp_admin)
if on_backend postgresql; then
	pg_psql -c "UPDATE totp.profiles SET comment = U&'old\\202Etxet'
		WHERE owner_uuid = '$UUID' AND account = '$A'" > /dev/null
	stored_comment=1
elif grep -q '^comment = ' "$TP_STORE/$UUID/$A.ini"; then
	python3 -c 'import re, sys
f = open(sys.argv[1], "r+")
t = re.sub(r"(?m)^comment = .*$", "comment = old%E2%80%AEtxet", f.read())
f.seek(0); f.write(t); f.truncate()' "$TP_STORE/$UUID/$A.ini"
	stored_comment=1
else
	stored_comment=0
fi
if [ "$stored_comment" = 1 ]; then
	ctl $ADM list --owner cluster1 --fields comment
	check "a stored comment with U+202E: listed, but hidden in the table" \
		bash -c "[ $RC -eq 0 ] && grep -q '(hidden: invisible characters' '$T/out' && ! grep -q \$'\\xe2\\x80\\xae' '$T/out'"
	ctl $ADM show --owner cluster1 --account $A --json
	check "a stored comment with U+202E: still loads, as is in JSON" \
		pyj "d['comment']=='old\\u202etxet'"
else
	skip "stored comment with U+202E" "the store does not keep the comment as 'comment = '"
fi
ctl $A create --comment $'rtl \xe2\x80\xaeevil'
check "create with U+202E (right-to-left override) in the comment: error 2" \
	human_err 2 "" "comment"
ctl $A modify --owner cluster1 --account $A --comment $'zero\xe2\x80\x8bwidth'
check "modify with a zero-width space in the comment: error 2" human_err 2 "" "comment"
ctl $A modify --owner cluster1 --account $A --comment $'line\xe2\x80\xa8sep'
check "modify with U+2028 in the comment: error 2" human_err 2 "" "comment"
both_err "modify enabled as a non-admin: 144834564" 144834564 "$M564" "enabled" $A modify --owner cluster1 --account $A --enabled false
for v in yes 1 ""; do
	both_err "modify --enabled '$v': 144834565" 144834565 "$M565" "enabled" $ADM modify --owner cluster1 --account $A --enabled "$v"
done
both_err "modify of an absent profile: 144834566" 144834566 "$M566" "account.name" $ADM modify --owner cluster1 --account $D --enabled false
both_err "modify own absent profile: 144834566" 144834566 "$M566" "account.name" $A modify -vserver vs0 -username $A --comment y
both_err "modify another user's profile: error 6" 6 "" "account.name" $B modify --owner cluster1 --account $A --comment hacked
both_err "modify with nothing to change: error 2" 2 "" "comment" $A modify --owner cluster1 --account $A
both_err "modify with a bad account name: error 2" 2 "" "account.name" $ADM modify --owner cluster1 --account 'a/b' --comment x
ctl $A modify --owner cluster1 --account $A --new-owner vs0
check "the owner cannot be changed (no such option): error 2" human_err 2 "" "" 2
ctl $ADM modify --owner cluster1 --account $A --enabled false
check "admin disables a profile" bash -c "[ $RC -eq 0 ] && [ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f1)\" = 0 ]"
if on_backend files; then
	check "a profile rewritten by another user keeps the store user's group" \
		groups_are "$STORE_GID" "$TP_STORE/$UUID/$A.ini" "$TP_STORE/$UUID/.$A.lock"
else
	skip "a profile rewritten by another user keeps the store user's group" \
		"postgresql has no profile files"
fi
ctl $ADM list --enabled false --json
check "list --enabled false" pyj "[r['account']['name'] for r in d['records']]==['$A']"

# ---- re-enrolment over a disabled profile ----
ctl $A create --no-qr
NEW_SECRET=$(sed -n 's/^ *Secret key: //p' "$T/out")
check "create over a disabled profile replaces it" \
	bash -c "[ $RC -eq 0 ] && [ -n '$NEW_SECRET' ] && [ '$NEW_SECRET' != '$A_SECRET' ] && grep -q 'replaces the disabled one' '$T/out'"
check "the replacement is enabled" bash -c "[ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f1)\" = 1 ]"

# ---- unlock: an admin ends a lockout ----
for _ in 1 2 3 4 5; do pam_auth totp $A 000000; done
check "five wrong codes lock the profile" \
	bash -c "[ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f4)\" -gt \$(date +%s) ]"
check "locked: the right code is refused" fails pam_auth totp $A "$(oathtool --totp -b "$NEW_SECRET")"
ctl $ADM show --account $A
check "show (human) prints the failure count and the lock's end" \
	bash -c "grep -qE '^ *Failures: [0-9]+$' '$T/out' && grep -qE '^ *Locked until: 20[0-9-]+ [0-9:]+ UTC' '$T/out'"
ctl $ADM show --account $A --json
check "show --json keeps the API's body (no failure or lock field)" \
	pyj "not ({'failures','lock_until','locked_until'} & set(d))"
both_err "unlock by a non-admin, their own profile too: error 6" 6 "" "account.name" $A unlock --account $A
check "...and the lock stays" \
	bash -c "[ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f4)\" -gt \$(date +%s) ]"
ctl $ADM unlock --owner cluster1 --account $A
check "admin unlock: exit 0, says so" \
	bash -c "[ $RC -eq 0 ] && grep -q 'Unlocked the TOTP profile of $A in cluster1' '$T/out'"
check "admin unlock: failure count 0, no lock" \
	test "$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f3,4)" = "0 0"
ctl $ADM show --account $A
check "show after unlock: 'Failures: 0', not locked" \
	bash -c "grep -qE '^ *Failures: 0$' '$T/out' && grep -qE '^ *Locked until: not locked$' '$T/out'"
check "after unlock the right code logs in" pam_auth totp $A "$(oathtool --totp -b "$NEW_SECRET")"
ctl $ADM unlock --account $A --json
check "unlock --json: an empty object" bash -c "[ $RC -eq 0 ] && [ \"\$(tr -d ' \n' < '$T/out')\" = '{}' ]"
both_err "unlock of an absent profile: error 4" 4 "$M4" "account.name" $ADM unlock --account $D

# ---- delete ----
both_err "delete another user's profile: error 6" 6 "" "account.name" $B delete --owner cluster1 --account $A
ctl $A delete --owner cluster1 --account $A
check "delete own profile" eval "[ $RC -eq 0 ] && profile_absent $A"
check "delete own profile: a warning says the next login refuses you" \
	grep -q "warning: you deleted your own profile" "$T/err"
both_err "delete of an absent profile: error 4" 4 "$M4" "account.name" $A delete --owner cluster1 --account $A
both_err "show after delete: error 4" 4 "$M4" "account.name" $A show --owner cluster1 --account $A
ctl $ADM delete --owner vs0 --account $C --json
check "admin deletes any profile (--json: empty object)" eval "[ $RC -eq 0 ] && profile_absent $C $SVM_UUID"
check "an admin deleting another's profile gets no warning" fails grep -q warning "$T/err"
check "delete --json prints {}" pyj "d=={}"

# ---- privilege ----
both_err "--config refused in the setuid program: error 6" 6 "" "config" $A list --config "$TCONF"
ctl_unpriv root list --json
check "build-tree binary, unprivileged: --config accepted" pyj "[r['account']['name'] for r in d['records']]==['$B']"
ctl_unpriv $A create --no-qr
check "unprivileged copy cannot write the store: error 5" human_err 5 "" ""
ctl root list --json
check "root running the setuid program is an admin" pyj "d['num_records']==1"
check "installed setuid and setgid to the store user, never root" \
	test "$(stat -c '%a %U %g' "$CTL" 2>/dev/null)" = "6755 $STORE_USER $STORE_GID"
check "install created the store folder owned by the store user" \
	test "$(stat -c '%a %U' "$T/sstore" 2>/dev/null)" = "755 $STORE_USER"
if on_backend postgresql; then
	# the server trusts whoever reaches its socket: only the store user may
	check "the database is not reachable by the caller" \
		bash -c "! setpriv --reuid=$(uid_of $A) --regid=$(id -g $A) --clear-groups \
			psql -X -h '$PG_DIR' -p $PG_PORT -U tp_admin -d $PG_DB -c 'SELECT 1' > /dev/null 2>&1"
else
	check "the store is not writable by the caller" \
		bash -c "! setpriv --reuid=$(uid_of $A) --regid=$(id -g $A) --clear-groups touch '$TP_STORE/x' 2>/dev/null"
fi
# copies installed with root's ids are refused before any store access
for mode in "root:$STORE_USER setuid" "$STORE_USER:root setgid"; do
	owner=${mode% *} bit=${mode#* }
	cp "$CTL" "$T/prefix/bin/totpctl-$bit-root"
	chown "$owner" "$T/prefix/bin/totpctl-$bit-root"
	chmod 6755 "$T/prefix/bin/totpctl-$bit-root"
	setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups \
		env -i PATH=/usr/bin:/bin "$T/prefix/bin/totpctl-$bit-root" list \
		> "$T/out" 2> "$T/err"
	RC=$?
	check "installed $bit root: refused (error 6), nothing listed" \
		bash -c "[ $RC -eq 1 ] && head -n 1 '$T/err' | grep -q '^totpctl: error 6: ' && grep -q 'must not be installed $bit root' '$T/err' && [ ! -s '$T/out' ]"
	rm -f "$T/prefix/bin/totpctl-$bit-root"
done

# @include: libconfig would read `@include "site-local.conf"` from the
# caller's working directory.  A user in a folder of theirs holding
# admin_group = "THEIR_GROUP" must not become an admin and disable another
# user's profile.
mkdir -m 0777 "$T/inc"
printf 'admin_group = "%s";\n' "$(id -gn $A)" > "$T/inc/site-local.conf"
chown "$A" "$T/inc/site-local.conf"
cp "$TCONF" "$T/tconf.saved"
{ grep -v '^admin_group' "$T/tconf.saved"; echo '@include "site-local.conf"'; } > "$TCONF"
pushd "$T/inc" > /dev/null
ctl $A modify --owner cluster1 --account $B --enabled false
popd > /dev/null
cp "$T/tconf.saved" "$TCONF"
check "@include in the config: error 5 (config)" human_err 5 "" "config"
check "@include in the config: the message names the file and the line" \
	err_has "$TCONF:[0-9]*: @include is not allowed"
check "@include from the caller's folder: the other user's profile stays enabled" \
	bash -c "[ \"\$($MKPROFILE --get $TCONF $UUID $B | cut -d' ' -f1)\" = 1 ]"

# A poisoned environment: a preloaded library, a PATH with a fake program,
# IFS, TZ and TMPDIR pointing at the caller's files; none may have an
# effect, and the program works as usual.
POISON="$T/poison"
mkdir -p "$POISON/bin"
chmod 0777 "$POISON"
printf '#!/bin/sh\ntouch %s/ran\n' "$POISON" > "$POISON/bin/oathtool"
cp "$POISON/bin/oathtool" "$POISON/bin/sh"
chmod 755 "$POISON/bin/oathtool" "$POISON/bin/sh"
printf 'int open(const char *, int, ...);\n__attribute__((constructor)) static void p(void) { open("%s/preloaded", 0101, 0666); }\n' \
	"$POISON" > "$POISON/evil.c"
cc -shared -fPIC -o "$POISON/evil.so" "$POISON/evil.c"
setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups \
	env -i PATH="$POISON/bin" LD_PRELOAD="$POISON/evil.so" LD_LIBRARY_PATH="$POISON" \
	IFS=/ TZ="$POISON/zone" TMPDIR="$POISON" \
	TERM=$'\e]0;x' "$CTL" create --no-qr --json > "$T/out" 2> "$T/err"
RC=$?
check "poisoned environment: create still works" pyj "d['records'][0]['account']['name']=='$A'"
check "poisoned environment: LD_PRELOAD and PATH had no effect" \
	bash -c "[ -e '$POISON/evil.so' ] && [ ! -e '$POISON/preloaded' ] && [ ! -e '$POISON/ran' ]"
check "poisoned environment: nothing written to the caller's TMPDIR" \
	bash -c "[ -z \"\$(find '$POISON' -newer '$POISON/evil.so' ! -path '$POISON')\" ]"
exec 3>&-
setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups \
	"$CTL" list --json > "$T/out" 2> "$T/err" <&- 2>&-
RC=$?
check "closed standard fds: still works" rc_is 0

# ---- output that cannot be written ----
# The secret key and the emergency codes are shown once: a create whose
# output does not reach the caller fails (error 5) and leaves nothing
# behind, and a disabled profile it would have replaced is back as it was.
# Every other verb exits non-zero when its output is lost.  All through the
# real setuid install: the undo is done by a process that kept the store
# identity while the printing one gave it up for good.
SETPRIV_A=(setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups
	   env -i PATH=/usr/bin:/bin)
# ctl_to STDOUT USER ARGS...: as ctl, with stdout to STDOUT; "-": closed,
# "epipe": a pipe whose reader has exited
ctl_to() {
	local to=$1 u=$2; shift 2
	local run=(setpriv --reuid="$(uid_of $u)" --regid="$(id -g $u)" --clear-groups
		   env -i PATH=/usr/bin:/bin "$CTL" "$@")
	case "$to" in
	-)	"${run[@]}" >&- 2> "$T/err" ;;
	epipe)	python3 -c 'import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.run(sys.argv[2:], stdout=w, stderr=open(sys.argv[1], "w")).returncode % 256)' \
			"$T/err" "${run[@]}" ;;
	*)	"${run[@]}" > "$to" 2> "$T/err" ;;
	esac
	RC=$?
}
# lost_output CAUSE [WHAT]: exit status 1, error 5, the cause and what became
# of the request on stderr
lost_output() {
	human_err 5 "internal error" "" && err_has "cannot write the output: $1" &&
		{ [ -z "${2:-}" ] || err_has "$2"; }
}
A_FILE="$TP_STORE/$UUID/$A.ini"
ctl $ADM delete --owner cluster1 --account $A
check "output tests start without a profile" profile_absent $A
for how in /dev/full - epipe; do
	case $how in
	/dev/full) what="> /dev/full" cause="No space left on device" ;;
	-) what="stdout closed" cause="standard output is closed" ;;
	epipe) what="a pipe whose reader exited" cause="Broken pipe" ;;
	esac
	for json in "" --json; do
		ctl_to $how $A create --no-qr $json
		check "create $json, $what: error 5, exit 1, the cause named" \
			lost_output "$cause" "nothing was created"
		check "create $json, $what: no profile left behind" profile_absent $A
	done
done
ctl $A create --no-qr
check "then a create that reaches the caller works" eval "[ $RC -eq 0 ] && profile_exists $A"
ctl $ADM modify --owner cluster1 --account $A --enabled false --comment "old key"
ctl $ADM show --owner cluster1 --account $A --json
cp "$T/out" "$T/old.json"
OLD_STATE=$($MKPROFILE --get $TCONF $UUID $A)
# The database keeps no copy of a replaced profile's key, so there the
# undo disables the new profile instead, and says so (docs/fleet.md).
for how in /dev/full epipe; do
	ctl_to $how $A create --no-qr --comment "new key"
	if on_backend files; then
		check "re-enrolment, output lost ($how): error 5, the disabled profile is back" \
			bash -c "[ $RC -eq 1 ] && grep -q 'the disabled profile it replaced is back' '$T/err'"
		ctl $ADM show --owner cluster1 --account $A --json
		check "re-enrolment, output lost ($how): the old profile as it was (key, comment, disabled, state)" \
			bash -c "cmp -s '$T/out' '$T/old.json' && [ \"\$($MKPROFILE --get $TCONF $UUID $A)\" = '$OLD_STATE' ]"
	else
		check "re-enrolment, output lost ($how): error 5, says the new profile was disabled" \
			bash -c "[ $RC -eq 1 ] && grep -q 'totpctl: error 5: ' '$T/err' &&
				grep -q 'the new profile was disabled: the disabled profile it replaced is gone' '$T/err'"
		ctl $ADM show --owner cluster1 --account $A --json
		check "re-enrolment, output lost ($how): the new profile, disabled, whose key nobody saw" \
			pyj "d['enabled'] is False and d['comment']=='new key' and d['sha_fingerprint']!=json.load(open('$T/old.json'))['sha_fingerprint']"
	fi
done
ctl $ADM modify --owner cluster1 --account $A --enabled true
for how in /dev/full - epipe; do
	for args in "list" "list --json" "show --owner cluster1 --account $A" \
		    "show --json --owner cluster1 --account $A" "--help"; do
		ctl_to $how $ADM $args
		check "$args, output lost ($how): exit status 1, error 5" lost_output ""
	done
done
ctl_to /dev/full $ADM modify --owner cluster1 --account $A --comment modified
check "modify, output lost: exit 1, says the profile was modified" \
	bash -c "[ $RC -eq 1 ] && grep -q 'the profile was modified' '$T/err' && [ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f1)\" = 1 ]"
ctl $ADM show --owner cluster1 --account $A --json
check "modify, output lost: the change was made" pyj "d['comment']=='modified'"
ctl_to epipe $ADM delete --owner cluster1 --account $A
check "delete, output lost: exit 1, says the profile was deleted" \
	eval "[ $RC -eq 1 ] && grep -q 'the profile was deleted' '$T/err' && profile_absent $A"

# While the setuid program writes its output, it holds only the caller's
# ids: stdout is a FIFO filled up beforehand, so the first write blocks;
# /proc shows every uid and gid field (real, effective, saved, fs).
cat > "$T/fifo.py" <<'PY'
import os, sys
import totpctl_run
fifo, want_uid, want_gid = sys.argv[1], sys.argv[2], sys.argv[3]
p, r, blocked = totpctl_run.start(fifo, sys.argv[4:])
ids = None
if blocked:
	st = open("/proc/%d/status" % p.pid).read().splitlines()
	ids = [l.split()[1:] for l in st if l.startswith(("Uid:", "Gid:"))]
os.set_blocking(r, True)
data = b""
while True:
	chunk = os.read(r, 65536)
	if not chunk:
		break
	data += chunk
rc = p.wait()
print("blocked=%s ids=%s rc=%d" % (blocked, ids, rc))
ok = blocked and ids == [[want_uid] * 4, [want_gid] * 4] and rc == 0 and len(data) > 0
sys.exit(0 if ok else 1)
PY
for args in "list --json" "create --no-qr --json"; do
	rm -f "$T/fifo"
	PYTHONPATH="$TOP/tests/integration" PYTHONDONTWRITEBYTECODE=1 python3 "$T/fifo.py" "$T/fifo" "$(uid_of $A)" "$(id -g $A)" \
		"${SETPRIV_A[@]}" "$CTL" $args > "$T/fifo.out" 2>&1
	check "$args: while writing its output, only the caller's uids and gids (/proc)" \
		bash -c "[ $? -eq 0 ] || { sed 's/^/#   /' '$T/fifo.out'; exit 1; }"
done
check "the create whose output was read keeps its profile" profile_exists $A

# ^C, a hang-up or a TERM to the whole process group while create shows the
# key (its stdout a full FIFO, so it waits in write): totpctl dies, and its
# guard, which ignores them, takes the profile back.  totpctl starts with
# these signals at their default action, as a terminal's foreground job
# does (a suite run in the background inherits SIGINT ignored).  Bounds:
# totpctl dies as soon as the signal is delivered, and the guard's undo is
# a lock and a rename; 10 s each leaves room for load 13 on 2 cores.
cat > "$T/create_signal.py" <<'PY'
import os, signal, sys
import totpctl_run
fifo, sig = sys.argv[1], getattr(signal, sys.argv[2])
p, r, blocked = totpctl_run.start(fifo, sys.argv[3:], start_new_session=True,
				  preexec_fn=totpctl_run.foreground)
os.killpg(p.pid, sig)
rc, killed, gone = totpctl_run.end_of(p)
if killed:
	print("totpctl outlived %s by 10 s" % sys.argv[2])
print("blocked=%s rc=%d guard_gone=%s" % (blocked, rc, gone))
sys.exit(0 if blocked and rc == -sig and gone else 1)
PY
for sig in SIGINT SIGHUP SIGTERM; do
	rmprofile $A
	rm -f "$T/fifo"
	PYTHONPATH="$TOP/tests/integration" PYTHONDONTWRITEBYTECODE=1 python3 "$T/create_signal.py" "$T/fifo" $sig "${SETPRIV_A[@]}" "$CTL" create --no-qr --json \
		> "$T/signal.out" 2>&1
	check "create killed by $sig to its process group while showing the key" \
		bash -c "[ $? -eq 0 ] || { sed 's/^/#   /' '$T/signal.out'; exit 1; }"
	check "create killed by $sig: its guard took the profile back" profile_absent $A
done

# An issuer far longer than any URL buffer: create succeeds with the whole
# URL, or fails with nothing left behind -- never an enabled profile whose
# key nobody saw.  (An unprivileged copy with its own config and store; on
# the database, root's copy, A's profile from above out of the way.)
LSTORE="$T/lstore"
install -d -m 0755 -o "$(uid_of $A)" "$LSTORE"
LCONF="$T/etc/totp_profile/long.conf"
LONG_ISSUER=$(printf 'i%.0s' $(seq 1500))
LRUN=(setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups)
if on_backend postgresql; then
	rmprofile $A
	LRUN=()
	LSTORE_SETTINGS=$(store_settings root)
else
	LSTORE_SETTINGS="store = { path = \"$LSTORE\"; user = \"$A\"; };"
fi
# no_long_profile: the long-issuer create left no profile
no_long_profile() {
	if on_backend postgresql; then profile_absent $A; else [ ! -e "$LSTORE/$UUID/$A.ini" ]; fi
}
cat > "$LCONF" <<CONF
$LSTORE_SETTINGS
admin_group = "$ADM";
issuer = "$LONG_ISSUER";
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "$A" ]; };
CONF
chmod 0644 "$LCONF"
"${LRUN[@]}" "$TOTPCTL" --config "$LCONF" create --no-qr --json > "$T/out" 2> "$T/err"
RC=$?
check "issuer of 1500 characters: the whole URL, or an error and no profile" \
	eval "if [ $RC -eq 0 ]; then python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))[\"records\"][0][\"install_url\"]; sys.exit(0 if u.startswith(\"otpauth://totp/$LONG_ISSUER:$A?\") and \"&issuer=$LONG_ISSUER&\" in u else 1)' '$T/out'; else no_long_profile; fi"

# unlock is logged (authpriv), with who did it: root's unprivileged copy
# with a store of its own, the syslog capture preloaded
RSTORE="$T/rstore"
install -d -m 0755 "$RSTORE"
RCONF="$T/etc/totp_profile/root.conf"
if on_backend postgresql; then RSTORE_SETTINGS=$(store_settings root)
else RSTORE_SETTINGS="store = { path = \"$RSTORE\"; user = \"root\"; };"; fi
cat > "$RCONF" <<CONF
$RSTORE_SETTINGS
cluster = { name = "cluster1"; uuid = "$CLUSTER_UUID"; totp_accounts = [ "root" ]; };
CONF
chmod 0644 "$RCONF"
"$MKPROFILE" "$RCONF" "$UUID" root "$SECRET" failures=5 lock_until=$(( $(date +%s) + 600 ))
clear_log
LD_PRELOAD="$ASAN_LIB $SYSLOG_SHIM" "$TOTPCTL" --config "$RCONF" unlock --account root \
	> "$T/out" 2> "$T/err"
RC=$?
check "unlock is logged: whose profile, which owner, which admin" \
	bash -c "[ $RC -eq 0 ] && grep -q 'user=root owner=cluster1: failures cleared and lock ended by admin root' '$TP_SYSLOG'"
check "unlock: the lock is gone" test "$("$MKPROFILE" --get "$RCONF" "$UUID" root | cut -d' ' -f3,4)" = "0 0"

# on a terminal create draws the QR code (script(1) gives it one), and
# --no-qr does not
rm_root() { if on_backend postgresql; then rmprofile root; else rm -f "$RSTORE/$UUID/root.ini"; fi; }
rm_root
script -qec "'$TOTPCTL' --config '$RCONF' create" /dev/null > "$T/out" 2>&1
check "create on a terminal: the QR code is drawn, and the text says to scan it" \
	bash -c "grep -q '█' '$T/out' && grep -q 'Scan the QR code' '$T/out'"
rm_root
script -qec "'$TOTPCTL' --config '$RCONF' create --no-qr" /dev/null > "$T/out" 2>&1
check "create --no-qr on a terminal: no QR code, and no word of scanning one" \
	bash -c "grep -q 'Secret key' '$T/out' && ! grep -q '█' '$T/out' && ! grep -q 'Scan the QR' '$T/out'"

# ^C in the window between the guard's fork and its signal() calls (the
# preload has the new child send SIGINT to the process group at once):
# totpctl dies, the guard lives on and takes the profile back.  Root's
# copy, so the preload is honoured; totpctl and the guard in a session of
# their own, with SIGINT at its default action as in a foreground job.
FORK_SIGINT="$BUILD/tests/fork_sigint.so"
cat > "$T/fork_window.py" <<'PY'
import os, signal, subprocess, sys
import totpctl_run
env = dict(os.environ, LD_PRELOAD=sys.argv[1])
p = subprocess.Popen(sys.argv[2:], env=env, stdout=subprocess.DEVNULL,
		     stderr=subprocess.DEVNULL, start_new_session=True,
		     preexec_fn=totpctl_run.foreground)
rc, killed, gone = totpctl_run.end_of(p)
print("rc=%d guard_gone=%s" % (rc, gone))
sys.exit(0 if rc == -signal.SIGINT and gone else 1)
PY
rm_root
PYTHONPATH="$TOP/tests/integration" PYTHONDONTWRITEBYTECODE=1 python3 "$T/fork_window.py" "$(echo $ASAN_LIB $FORK_SIGINT)" \
	"$TOTPCTL" --config "$RCONF" create --no-qr --json > "$T/fork.out" 2>&1
check "create, ^C between the guard's fork and its ignoring it: totpctl dies of it" \
	bash -c "[ $? -eq 0 ] || { sed 's/^/#   /' '$T/fork.out'; exit 1; }"
if on_backend postgresql; then root_gone() { profile_absent root; }
else root_gone() { [ ! -e "$RSTORE/$UUID/root.ini" ]; }; fi
check "create, ^C between the guard's fork and its ignoring it: the guard took the profile back" \
	root_gone
