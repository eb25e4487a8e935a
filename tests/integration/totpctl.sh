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
# setuid to daemon (scripts/install-totpctl.sh), and every caller runs it
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

TCONF="$T/etc/totp_profile/totp_profile.conf"
install -d -m 0755 "$T/etc/totp_profile"
cat > "$TCONF" <<CONF
store = { path = "$TP_STORE"; user = "$STORE_USER"; };
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
M566="The user does not have a TOTP configuration available for modification."

# ---- help and usage ----
ctl $A --help
check "--help lists every verb" bash -c "rc=$RC; [ \$rc -eq 0 ] && for v in create modify show list delete; do grep -q \"^  \$v\" '$T/out' || exit 1; done"
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
check "create: QR code drawn" out_has "█"
check "create: SHA fingerprint printed" bash -c "grep -qE '^ *SHA fingerprint: [0-9a-f]{64}$' '$T/out'"
A_FILE="$TP_STORE/$UUID/$A.ini"
check "create: profile file owned by the store user, 0600" \
	test "$(stat -c '%u %a' "$A_FILE")" = "$STORE_UID 600"
check "create: emergency codes stored only as hashes" \
	bash -c "for c in $A_CODES; do grep -q \$c '$A_FILE' && exit 1; done; exit 0"

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
both_err "show without --owner: error 2" 2 "" "owner.name" $A show --account $A
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

# ---- modify ----
ctl $A modify --owner cluster1 --account $A --comment "new phone"
check "modify own comment: exit 0" rc_is 0
ctl $A show --owner cluster1 --account $A --json
check "modify: comment changed, secret unchanged" pyj "d['comment']=='new phone' and d['sha_fingerprint']==__import__('hashlib').sha256(__import__('base64').b32decode('$A_SECRET')).hexdigest()"
ctl $A modify --owner cluster1 --account $A --comment x --json
check "modify --json: exit 0, an empty JSON object" pyj "d=={}"
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
ctl $ADM list --enabled false --json
check "list --enabled false" pyj "[r['account']['name'] for r in d['records']]==['$A']"

# ---- re-enrolment over a disabled profile ----
ctl $A create --no-qr
NEW_SECRET=$(sed -n 's/^ *Secret key: //p' "$T/out")
check "create over a disabled profile replaces it" \
	bash -c "[ $RC -eq 0 ] && [ -n '$NEW_SECRET' ] && [ '$NEW_SECRET' != '$A_SECRET' ] && grep -q 'replaces the disabled one' '$T/out'"
check "the replacement is enabled" bash -c "[ \"\$($MKPROFILE --get $TCONF $UUID $A | cut -d' ' -f1)\" = 1 ]"

# ---- delete ----
both_err "delete another user's profile: error 6" 6 "" "account.name" $B delete --owner cluster1 --account $A
ctl $A delete --owner cluster1 --account $A
check "delete own profile" bash -c "[ $RC -eq 0 ] && [ ! -e '$A_FILE' ]"
both_err "delete of an absent profile: error 4" 4 "$M4" "account.name" $A delete --owner cluster1 --account $A
both_err "show after delete: error 4" 4 "$M4" "account.name" $A show --owner cluster1 --account $A
ctl $ADM delete --owner vs0 --account $C --json
check "admin deletes any profile (--json: empty object)" bash -c "[ $RC -eq 0 ] && [ ! -e '$TP_STORE/$SVM_UUID/$C.ini' ]" 
check "delete --json prints {}" pyj "d=={}"

# ---- privilege ----
both_err "--config refused in the setuid program: error 6" 6 "" "config" $A list --config "$TCONF"
ctl_unpriv root list --json
check "build-tree binary, unprivileged: --config accepted" pyj "[r['account']['name'] for r in d['records']]==['$B']"
ctl_unpriv $A create --no-qr
check "unprivileged copy cannot write the store: error 5" human_err 5 "" ""
ctl root list --json
check "root running the setuid program is an admin" pyj "d['num_records']==1"
check "installed setuid to the store user, never root" \
	test "$(stat -c '%a %U' "$CTL" 2>/dev/null)" = "4755 $STORE_USER"
check "install created the store folder owned by the store user" \
	test "$(stat -c '%a %U' "$T/sstore" 2>/dev/null)" = "755 $STORE_USER"
check "the store is not writable by the caller" \
	bash -c "! setpriv --reuid=$(uid_of $A) --regid=$(id -g $A) --clear-groups touch '$TP_STORE/x' 2>/dev/null"

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

# Installed setuid root by mistake: it refuses to run at all (error 6)
# instead of acting for the caller with root's power over every file.
cp "$CTL" "$T/ctl_root"
chown root:root "$T/ctl_root"
chmod 4755 "$T/ctl_root"
setpriv --reuid="$(uid_of $A)" --regid="$(id -g $A)" --clear-groups \
	env -i PATH=/usr/bin:/bin "$T/ctl_root" list --json > "$T/out" 2> "$T/err"
RC=$?
check "installed setuid root: refused with error 6" human_err 6 "" ""
check "installed setuid root: says why" err_has "must not be installed setuid root"
check "installed setuid root: nothing printed on stdout" test ! -s "$T/out"
rm -f "$T/ctl_root"
