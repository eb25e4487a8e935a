#!/bin/bash
# Hostile input: codes typed at the prompt, account and owner names, profile
# files, and totpctl's arguments, environment and file descriptors.  Every
# one must be refused (or ignored) cleanly: no crash (pamtester exits 1, not
# on a signal or an ASan abort), a log line or an error code, nothing
# created outside the store, profiles left as they were.
#
# Already covered elsewhere, not repeated here:
#   pam.sh: "hostile user name: refused" ('../../etc/passwd'), "unknown
#     option", "truncated profile", "over-large profile" (9 kB of base64),
#     "sshd's fake password for invalid users is a failure".
#   totpctl.sh: "unknown option" (list --bogus), "unknown verb", "no verb",
#     "create with a bad account name" (../etc), "modify with a bad account
#     name" (a/b), "non-UTF-8 owner name", "--config refused in the setuid
#     program" (--config PATH), "poisoned environment" (PATH, LD_PRELOAD,
#     LD_LIBRARY_PATH, TERM, for create), "closed standard fds" (0 and 2,
#     for list).
source "$(dirname "$0")/lib.sh"

NOW=1800000000
C0=$(code_at $NOW)
U=$CLUSTER_UUID
P="$TP_STORE/$U/alice.ini"
TRIED=0
write_config "lockout = { max_failures = 0; seconds = 60; };"
pam_service svc config="$TP_CONF"
sed -i 's/^totp:x:4100:/&root,/' "$T/group"
mkdir -p "$T/cwd"
cd "$T/cwd" || exit 1

RC=0
# ctl ARGS...: the build-tree totpctl as root (an admin), with the test
# config and nss_wrapper's users; output in $T/out, $T/err
ctl() {
	env LD_PRELOAD="$ASAN_LIB $NSS_WRAPPER_LIB" \
		"$TOTPCTL" --config "$TP_CONF" "$@" > "$T/out" 2> "$T/err"
	RC=$?
}
ctl_err() {    # CODE [TARGET]: failed cleanly with API error CODE
	[ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || return 1
	grep -q "^totpctl: error $1: " "$T/err" || return 1
	[ -z "${2:-}" ] || head -n 1 "$T/err" | grep -q " ($2)\$"
}
# pam_auth_raw FILE SERVICE USER: like pam_auth, the answers are FILE's
# bytes as they are (NUL bytes included)
pam_auth_raw() {
	local raw=$1 rc; shift
	printf() { if [ "$1" = '%s\n' ]; then cat "$raw"; else builtin printf "$@"; fi; }
	pam_auth "$@"
	rc=$?
	unset -f printf
	return $rc
}
# everything in $T but the files the tests themselves rewrite
world() {
	(cd "$T" && find . \( -path ./store -o -path ./pam.d \) -prune -o ! -name out ! -name err ! -name pam.out \
		! -name syslog ! -name 'raw.*' -print | sort)
}
failures() { profile_state alice | cut -d' ' -f3; }
# tally RC [OK_RC...]: count one hostile login in n, accepted (pamtester
# said so) and crashed (its exit status is none of OK_RC, default 1)
tally() {
	local rc=$1; shift
	n=$((n + 1))
	[[ " ${*:-1} " == *" $rc "* ]] || crashed=$((crashed + 1))
	grep -q 'successfully' "$T/pam.out" && accepted=$((accepted + 1))
}

# ---- codes typed at the prompt ------------------------------------------
mkprofile alice codes=12345678
secret_line=$(grep '^secret' "$P")
big_digits=$(head -c 10240 /dev/zero | tr '\0' 7)
big_junk=$(head -c 10240 /dev/urandom | tr -d '\0\n')
codes=(
	"" " " "1" "12345" "123456789" "1234567890123456" "abcdef" "12345a"
	" $C0" "$C0 " "${C0:0:3} ${C0:3}" "	$C0" "-$C0" "+$C0" "0x$C0"
	"$C0$C0" "${C0}0" "0$C0" "%s%n%x%n" "١٢٣٤٥٦" $'\xff\xfe\xfd\xfc12'
	"${C0:0:5}"$'\xff' $'\e[2J' "$big_digits" "$big_junk" "1234567"
	"123456789012" "1234567x" "12345678 "
)
n=0 crashed=0 accepted=0
for c in "${codes[@]}"; do
	AT=$NOW pam_auth svc alice "$c"
	tally $?
done
TRIED=$((TRIED + n))
check "$n malformed codes at the prompt: none accepted" test $accepted -eq 0
check "malformed codes: pamtester ended normally every time (no crash, no hang)" test $crashed -eq 0
check "malformed codes: each counted as one failure" test "$(failures)" -eq $n
echo "# failures recorded: $(failures) of $n"
check "malformed codes: refusals logged as wrong codes" \
	test "$(grep -c 'user=alice owner=cluster1: refused: wrong code' "$TP_SYSLOG")" -eq $n
check "malformed codes: the secret and the emergency code are untouched" \
	bash -c "grep -qxF -- '$secret_line' '$P' && [ \"\$($MKPROFILE --get '$TP_CONF' $U alice | cut -d' ' -f5)\" = 1 ]"

# NUL bytes: the conversation hands over a C string, so whatever follows
# a NUL is never seen -- the right code after one must not count
nul_inputs=(
	"000000\\0$C0" "\\0$C0" "${C0:0:3}\\0${C0:3}" "\\0\\0\\0\\0\\0\\0" "87654321\\0"
)
for c in "${nul_inputs[@]}"; do
	builtin printf "$c\n" > "$T/raw.in"
	AT=$NOW pam_auth_raw "$T/raw.in" svc alice
	rc=$?
	check "code with a NUL byte ('${c//\\/\\\\}'): refused, no crash" test $rc -eq 1
done
TRIED=$((TRIED + ${#nul_inputs[@]}))
AT=$NOW pam_auth svc alice "$C0"
check "after all that, the right code is accepted" test $? -eq 0
check "...and resets the failure count" test "$(failures)" -eq 0
AT=$((NOW + 30)) pam_auth svc alice 12345678
check "...and the emergency code too" test $? -eq 0

# ---- the same under forward_pass ----------------------------------------
# "password+code" in one answer: the code is cut from its end, so answers
# shorter than a code, empty, over 256 bytes or with a NUL inside are the
# ones to break it.  None gets in, each counts one failure, nothing crashes
# -- for a profile and for an unknown account alike.
pam_stack fwd "auth required $MODULE config=$TP_CONF forward_pass"
mkprofile alice codes=12345678
clear_log
A250=$(head -c 250 /dev/zero | tr '\0' a)
fwd_answers=(
	"" " " "1" "12345" "abcdef" "12345a" "%s%n%x%n" "١٢٣٤٥٦" $'\xff\xfe\xfd\xfc12'
	$'\e[2J' "$big_digits" "$big_junk" "1234567x" "12345678 " "${A250}000000"
	"${A250}a$C0" "${A250}a12345678"
)
for user in alice mallory; do
	n=0 crashed=0 accepted=0
	for c in "${fwd_answers[@]}"; do
		AT=$NOW pam_auth fwd "$user" "$c"
		tally $?
	done
	for c in "hunter2\\0$C0" "\\0$C0" "\\0\\0" "${C0:0:3}\\0${C0:3}"; do
		builtin printf "$c\n" > "$T/raw.in"
		AT=$NOW pam_auth_raw "$T/raw.in" fwd "$user"
		tally $?
	done
	check "forward_pass, $user: $n malformed answers, none accepted" test $accepted -eq 0
	check "forward_pass, $user: pamtester ended normally every time (no crash)" test $crashed -eq 0
	[ "$user" = alice ] && TRIED=$((TRIED + n))
done
check "forward_pass: each malformed answer counted as one failure" test "$(failures)" -eq $n
check "forward_pass: an answer over 256 bytes is refused even with the right code at its end" \
	fails logged "user=alice owner=cluster1: accepted"
AT=$NOW pam_auth fwd alice "hunter2$C0"
check "forward_pass: after all that, password+code is accepted" test $? -eq 0

# ---- account and owner names --------------------------------------------
LONG=$(head -c 300 /dev/zero | tr '\0' a)
names=(
	".." "." "/" "a/b" "../alice" "alice/.." "$LONG" "alice$LONG" "-alice" ".alice"
	$'al\x01ice' $'alice\n' $'alice\r' $'\e[31malice' "al ice" "alice\\"
	"\$(touch $T/pwned)" "\`touch $T/pwned\`" "alice;touch $T/pwned" "alice|id"
	"alice&&id" "*" "?lice" "alice%n%s" $'ali\xffce' "alice\$\$" "\$HOME"
)
before=$(world)
n=0 crashed=0 accepted=0
clear_log
for u in "${names[@]}"; do
	AT=$NOW pam_auth svc "$u" "$C0"
	tally $?
done
TRIED=$((TRIED + n))
check "$n hostile PAM_USER names: none accepted" test $accepted -eq 0
check "hostile PAM_USER names: no crash" test $crashed -eq 0
check "hostile PAM_USER names: logged as an invalid user name, never raw" \
	bash -c "[ \"\$(grep -c 'user=(invalid user name)' '$TP_SYSLOG')\" -ge $n ] && ! grep -q -e 'pwned' -e \$'\\x01' -e 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' '$TP_SYSLOG'"

# the same names as the owner= option (pam.d files split options on spaces)
n=0 crashed=0 accepted=0 logged_ok=0
for o in "${names[@]}"; do
	# a pam.d line splits on spaces and a final backslash joins the next line
	case "$o" in *" "*|*$'\n'*|*$'\r'*|*\\) continue ;; esac
	pam_service hostile_owner config="$TP_CONF" "owner=$o"
	clear_log
	AT=$NOW pam_auth hostile_owner alice "$C0"
	tally $? 1 6 9
	grep -q 'owner=(invalid) is not in' "$TP_SYSLOG" && logged_ok=$((logged_ok + 1))
done
TRIED=$((TRIED + n))
check "$n hostile owner= options: none accepted" test $accepted -eq 0
check "hostile owner= options: no crash" test $crashed -eq 0
check "hostile owner= options: each logged as '(invalid)', never raw" test $logged_ok -eq $n
check "hostile names: nothing created outside the store" test "$(world)" = "$before"
check "hostile names: no shell ran them" test ! -e "$T/pwned"
check "hostile names: nothing created in the store but alice's files" \
	test "$(cd "$TP_STORE" && find . | sort | tr '\n' ' ')" = ". ./$U ./$U/.alice.lock ./$U/alice.ini "

# every totpctl verb, with each name as the account and as the owner
mkprofile alice
sum=$(sha256sum < "$P")
n=0 bad=()
for x in "${names[@]}"; do
	for args in "create --no-qr --account" "modify --owner cluster1 --comment c --account" \
		"show --owner cluster1 --account" "delete --owner cluster1 --account"; do
		# shellcheck disable=SC2086
		ctl $args "$x"
		n=$((n + 1))
		ctl_err 2 account.name || bad+=("$args '$x' (exit $RC: $(head -c 100 "$T/err"))")
	done
	for args in "create --no-qr --owner" "show --account alice --owner" "list --owner"; do
		# shellcheck disable=SC2086
		ctl $args "$x"
		n=$((n + 1))
		ctl_err 2 owner.name || bad+=("$args '$x' (exit $RC: $(head -c 100 "$T/err"))")
	done
	ctl list --json --account "$x"
	n=$((n + 1))
	# a pattern here ('*' is fine): valid JSON or error 2, never a crash
	{ [ $RC -eq 0 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out"; } ||
		ctl_err 2 account.name ||
		bad+=("list --account '$x' (exit $RC)")
done
TRIED=$((TRIED + n))
check "$n totpctl runs with hostile names: each refused with error 2 on the right field" \
	test ${#bad[@]} -eq 0
for b in "${bad[@]:0:5}"; do echo "#   $b"; done
check "totpctl hostile names: alice's profile unchanged" test "$(sha256sum < "$P")" = "$sum"
check "totpctl hostile names: nothing created outside the store, no shell ran" \
	bash -c "[ \"\$1\" = \"\$2\" ] && [ ! -e '$T/pwned' ] && [ -z \"\$(ls -A '$T/cwd')\" ]" _ "$before" "$(world)"
check "totpctl hostile names: nothing new in the store" \
	test "$(cd "$TP_STORE" && find . ! -name '.*.lock' | sort | tr '\n' ' ')" = ". ./$U ./$U/alice.ini "

# ---- profile files ------------------------------------------------------
# corrupt NAME SED_SCRIPT|-: alice's valid profile edited by sed (or, with
# "-", replaced by stdin); the module and totpctl must refuse it as corrupt
# and leave it byte for byte as it was
corrupt() {
	local name=$1 script=$2
	mkprofile alice codes=12345678
	if [ "$script" = - ]; then cat > "$P"; else sed -i -e "$script" "$P"; fi
	cp "$P" "$T/corrupt.copy"
	clear_log
	AT=$NOW pam_auth svc alice "$C0"
	local rc=$?
	check "corrupt profile ($name): login refused, logged, file untouched" \
		bash -c "[ $rc -ne 0 ] && ! grep -q successfully '$T/pam.out' &&
			grep -q 'profile unreadable, refusing login: .*corrupt, truncated or over-large profile file' '$TP_SYSLOG' &&
			cmp -s '$P' '$T/corrupt.copy'"
	ctl show --owner cluster1 --account alice
	check "corrupt profile ($name): totpctl show refuses with error 5" \
		bash -c "[ $RC -eq 1 ] && grep -q '^totpctl: error 5: ' '$T/err' && grep -q 'corrupt' '$T/err' && cmp -s '$P' '$T/corrupt.copy'"
	TRIED=$((TRIED + 1))
}
corrupt "digits 9" 's/^digits = .*/digits = 9/'
corrupt "digits 5" 's/^digits = .*/digits = 5/'
corrupt "period 0" 's/^period = .*/period = 0/'
corrupt "period negative" 's/^period = .*/period = -30/'
corrupt "period 301" 's/^period = .*/period = 301/'
corrupt "digits in hex" 's/^digits = .*/digits = 0x6/'
corrupt "digits with junk after" 's/^digits = .*/digits = 6abc/'
corrupt "negative last_step" 's/^last_step = .*/last_step = -5/'
corrupt "negative failures" 's/^failures = .*/failures = -1/'
corrupt "lock_until overflows" 's/^lock_until = .*/lock_until = 99999999999999999999999/'
corrupt "unknown algorithm" 's/^algorithm = .*/algorithm = MD5/'
corrupt "secret not base32" 's/^secret = .*/secret = 0189!!@@/'
corrupt "secret too short" 's/^secret = .*/secret = GEZDGNBV/'
corrupt "secret empty" 's/^secret = .*/secret =/'
corrupt "enabled not a boolean" 's/^enabled = .*/enabled = maybe/'
corrupt "format 2" 's/^format = .*/format = 2/'
corrupt "owner of another folder" "s/^owner = .*/owner = $SVM_UUID/"
corrupt "account of another user" 's/^account = .*/account = bob/'
corrupt "hostile account inside" 's|^account = .*|account = ../../etc/passwd|'
corrupt "emergency_count too high" 's/^emergency_count = .*/emergency_count = 2/'
corrupt "emergency_count 1000" 's/^emergency_count = .*/emergency_count = 1000/'
corrupt "emergency hash not hex" 's/^code1 = .*/code1 = zz/'
corrupt "duplicate key" '/^digits = /p'
corrupt "duplicate key in other case" 's/^digits = .*/&\nDIGITS = 8/'
corrupt "missing key" '/^comment = /d'
corrupt "unknown key" 's/^comment = .*/&\nextra = 1/'
corrupt "key before any section" '1i digits = 6'
corrupt "third section" '$a [more]\nx = 1'
corrupt "no [emergency] section" '/^\[emergency\]/d; /^code1/d'
corrupt "line of 3000 characters" "s/^comment = .*/comment = $(head -c 3000 /dev/zero | tr '\0' x)/"
corrupt "binary junk" - < <(head -c 3000 /dev/urandom)
corrupt "empty file" - < /dev/null
corrupt "comments only" - <<< $'# nothing\n; here\n'
mkprofile alice
# a NUL inside the comment value (not a second comment line: the
# duplicate key alone would be refused)
sed 's/^comment = .*/comment = a\x00b/' "$P" > "$T/nul"
corrupt "NUL byte" - < "$T/nul"
# the size limit: 8192 bytes are read, 8193 are refused
mkprofile alice
pad=$((8192 - $(stat -c %s "$P")))
{ cat "$P"; for _ in $(seq $((pad / 64))); do printf '#%062d\n' 0; done
  head -c $((pad % 64 - 1)) /dev/zero | tr '\0' '#'; echo; } > "$T/max"
cp "$T/max" "$P"
check "the padded profile is exactly 8192 bytes (the limit)" test "$(stat -c %s "$P")" -eq 8192
AT=$NOW pam_auth svc alice "$C0"
check "profile of exactly 8192 bytes: login works" test $? -eq 0
{ cat "$T/max"; echo; } > "$T/over"
corrupt "8193 bytes (one over the limit)" - < "$T/over"
echo "# $TRIED hostile inputs tried (codes, names, profile files, totpctl calls)"
