#!/bin/bash
# The PAM module through the real libpam: pamtester under pam_wrapper, the
# module loaded by absolute path, users from nss_wrapper.  Each case checks
# what a user or an admin would see: the login result, the prompt, the
# stored state and the log line.
source "$(dirname "$0")/lib.sh"

NOW=1800000000                       # a fixed clock for edge cases
C0=$(code_at $NOW)
pam_service svc config="$TP_CONF"

# --- codes ---------------------------------------------------------------
mkprofile alice
AT=$NOW PAM_ENV="LD_DEBUG=files" pam_auth svc alice "$C0"
check "right TOTP code is accepted" test $? -eq 0
# libpq (and the twenty libraries it needs) is loaded by the PostgreSQL
# store only, never by a login on the file store (LD_DEBUG=files: the
# loader names every library it loads)
if on_backend postgresql; then
	check "the PostgreSQL store loads libpq when it is used" grep -q "file=libpq.so.5" "$T/pam.out"
else
	check "a file-store login loads no libpq" eval '! grep -q "libpq" "$T/pam.out" &&
		grep -q "file=.*pam_totp_profile.so" "$T/pam.out"'
fi
check "the prompt is 'Verification code: '" prompted
check "acceptance is logged without the code" \
	bash -c "grep -q 'user=alice owner=cluster1: accepted TOTP code' '$TP_SYSLOG' && ! grep -q '$C0' '$TP_SYSLOG'"
check "accepted step is recorded" test "$(profile_state alice | cut -d' ' -f2)" -eq $((NOW / 30))

AT=$NOW pam_auth svc alice "$C0"
check "same code again (replay of the step) is refused" test $? -ne 0
check "replay is logged as such" logged "alice owner=cluster1: refused: replayed TOTP code"

AT=$NOW pam_auth svc alice 000000
check "wrong code is refused" test $? -ne 0
check "wrong code is logged" logged "refused: wrong code"

mkprofile bob
AT=$NOW pam_auth svc bob "$(code_at $((NOW - 30)))"
check "code of the previous step (window edge -1) is accepted" test $? -eq 0
AT=$NOW pam_auth svc bob "$(code_at $((NOW + 30)))"
check "code of the next step (window edge +1) is accepted" test $? -eq 0
AT=$NOW pam_auth svc bob "$C0"
check "code of a step before the last accepted one is refused" test $? -ne 0
mkprofile bob
AT=$NOW pam_auth svc bob "$(code_at $((NOW - 60)))"
check "code two steps old (outside window 1) is refused" test $? -ne 0
AT=$NOW pam_auth svc bob "$(code_at $((NOW + 60)))"
check "code two steps ahead (outside window 1) is refused" test $? -ne 0

write_config "totp = { window = 2; };"
mkprofile bob
AT=$NOW pam_auth svc bob "$(code_at $((NOW - 60)))"
check "window = 2 accepts a code two steps old" test $? -eq 0
write_config

for alg in SHA256 SHA512; do
	mkprofile bob alg=$alg digits=8 period=60
	AT=$NOW pam_auth svc bob "$(code_at $NOW "$SECRET" --totp=$alg --digits=8 --time-step-size=60s)"
	check "$alg, 8 digits, 60 s period profile accepts its code" test $? -eq 0
done

# --- emergency codes -----------------------------------------------------
mkprofile alice codes=12345678,87654321,00000042
AT=$NOW pam_auth svc alice 00000042
check "emergency code (leading zeros) is accepted" test $? -eq 0
check "emergency acceptance is logged" logged "alice owner=cluster1: accepted emergency code"
check "two emergency codes are left" test "$(profile_state alice | cut -d' ' -f5)" -eq 2
check "low count is announced after login" prompted "2 emergency codes left"
AT=$NOW pam_auth svc alice 00000042
check "the same emergency code is refused the second time" test $? -ne 0
# with the prompt, the count is said only after sshd's first factor
# (tests/integration/sshd.sh): here no earlier method vouches for the
# caller, who must not learn that the account has a profile
check "without a first factor, the prompt says nothing of the codes left" \
	fails prompted "emergency codes left"
check "a reused emergency code is logged as such" logged "alice owner=cluster1: refused: emergency code already used"
AT=$NOW pam_auth svc alice 12345679
check "a wrong 8-digit code is refused" test $? -ne 0

# --- lockout -------------------------------------------------------------
write_config "lockout = { max_failures = 3; seconds = 120; };"
mkprofile alice
for i in 1 2 3; do AT=$NOW pam_auth svc alice 111111; done
AT=$NOW pam_auth svc alice "$C0"
check "after max_failures even the right code is refused" test $? -ne 0
check "the lock is logged" logged "refused: profile locked after repeated failures"
check "the user is not told about the lock by default" fails grep -qi "try again later" "$T/pam.out"
AT=$((NOW + 119)) pam_auth svc alice "$(code_at $((NOW + 119)))"
check "still locked one second before expiry" test $? -ne 0
AT=$((NOW + 121)) pam_auth svc alice "$(code_at $((NOW + 121)))"
check "the lock expires and the right code works again" test $? -eq 0

mkprofile alice
AT=$NOW pam_auth svc alice 111111
AT=$NOW pam_auth svc alice 111111
AT=$NOW pam_auth svc alice "$C0"
AT=$((NOW + 30)) pam_auth svc alice 111111
AT=$((NOW + 30)) pam_auth svc alice 111111
AT=$((NOW + 30)) pam_auth svc alice "$(code_at $((NOW + 30)))"
check "a success resets the failure count" test $? -eq 0

write_config "lockout = { max_failures = 2; seconds = 120; reveal = true; };"
mkprofile alice
for i in 1 2; do AT=$NOW pam_auth svc alice 111111; done
AT=$NOW pam_auth svc alice "$C0"
check "with lockout.reveal the user is told about the lock" prompted "try again later"
mkprofile alice
AT=$NOW pam_auth svc alice 111111
check "with lockout.reveal a wrong code before any lock says nothing of a lock" \
	fails prompted "try again later"
write_config

# --- disabled, missing, unknown ------------------------------------------
mkprofile alice enabled=0
AT=$NOW pam_auth svc alice
check "disabled profile: login succeeds on the first factor" test $? -eq 0
check "disabled profile: no code is asked" fails prompted
check "disabled profile is logged" logged "profile disabled by an admin: second factor skipped"
write_config 'disabled_profile = "deny";'
AT=$NOW pam_auth svc alice
check "disabled_profile = deny refuses a disabled profile" test $? -ne 0
write_config

# disabled while the user is at the prompt: pamtester reads its answer from
# a FIFO; once the prompt is in its output, CMD runs, then the answer goes in
# pam_auth_at_prompt SERVICE USER ANSWER CMD...
pam_auth_at_prompt() {
	local svc=$1 user=$2 answer=$3 rc; shift 3
	rm -f "$T/answer.fifo"; mkfifo "$T/answer.fifo"
	pam_env_args
	timeout 30 "$PRIVATE_TMP" env "${PAM_ENV_ARGS[@]}" pamtester -v "$svc" "$user" authenticate \
		< "$T/answer.fifo" > "$T/pam.out" 2>&1 &
	local pid=$!
	exec 7> "$T/answer.fifo"
	# bound 10 s for the prompt (well under 1 s at load 13); without it
	# CMD would run before the module read the profile, and the checks
	# fail on a log line that names another cause
	for _ in $(seq 200); do prompted && break; sleep 0.05; done
	prompted || echo "# pam_auth_at_prompt: no prompt within 10 s; running $1 anyway"
	"$@"
	printf '%s\n' "$answer" >&7
	exec 7>&-
	wait "$pid"
	rc=$?
	rm -f "$T/answer.fifo"
	return $rc
}
write_config 'disabled_profile = "deny";'
mkprofile alice
clear_log
AT=$NOW pam_auth_at_prompt svc alice "$C0" mkprofile alice enabled=0
rc=$?
check "deny: a profile disabled during the prompt (the prompt was shown)" prompted
check "deny: a profile disabled during the prompt refuses the login" test $rc -ne 0
check "deny: ...and says so in the log" logged "user=alice owner=cluster1: profile disabled by an admin: refused"
write_config
mkprofile alice
clear_log
AT=$NOW pam_auth_at_prompt svc alice 000000 mkprofile alice enabled=0
rc=$?
check "allow: a profile disabled during the prompt lets the user in, code skipped" test $rc -eq 0
check "allow: ...and says so in the log" logged "user=alice owner=cluster1: profile disabled by an admin: second factor skipped"

clear_log
AT=$NOW pam_auth svc dave 123456
check "no profile: refused" test $? -ne 0
check "no profile: still prompted (nothing to tell accounts apart)" prompted
check "no profile is logged" logged "user=dave owner=cluster1: refused: no TOTP profile"
check "no profile: one log line, not also 'no such account'" \
	test "$(grep -c 'user=dave' "$TP_SYSLOG")" -eq 1

# configured_only: only accounts the config gives TOTP (who may enrol)
# are asked; dave is in no totp_group nor totp_accounts, bob is
pam_stack conf_only "auth required $MODULE config=$TP_CONF configured_only" "auth required pam_permit.so"
rmprofile dave; rmprofile bob
clear_log
AT=$NOW pam_auth conf_only dave
check "configured_only: an account without TOTP configured logs in unasked" test $? -eq 0
check "configured_only: ...no prompt" fails prompted
check "configured_only: ...logged" logged "user=dave owner=cluster1: TOTP is not configured for the account; not asked (configured_only)"
AT=$NOW pam_auth conf_only bob 123456
check "configured_only: a TOTP account without a profile is refused" test $? -ne 0
check "configured_only: ...after a prompt" prompted
AT=$NOW pam_auth conf_only mallory 123456
check "configured_only: an unknown account is refused" test $? -ne 0
mkprofile dave
AT=$NOW pam_auth conf_only dave 000000
check "configured_only: an account with a profile is asked all the same (wrong code refused)" \
	bash -c "grep -q 'Verification code' '$T/pam.out' && ! grep -q 'successfully' '$T/pam.out'"
rmprofile dave
pam_stack conf_only_nullok "auth required $MODULE config=$TP_CONF configured_only nullok" \
	"auth required pam_permit.so"
AT=$NOW pam_auth conf_only_nullok bob
check "configured_only nullok: a TOTP account without a profile gets in during roll-out" test $? -eq 0
pam_stack nullok "auth required $MODULE config=$TP_CONF nullok" "auth required pam_permit.so"
AT=$NOW pam_auth nullok dave
check "no profile with nullok: the module steps aside (PAM_IGNORE)" test $? -eq 0
check "nullok: no prompt" fails prompted
pam_stack nullok_only "auth required $MODULE config=$TP_CONF nullok"
AT=$NOW pam_auth nullok_only dave
check "nullok alone in the stack does not authenticate anyone" test $? -ne 0
mkprofile alice
AT=$NOW pam_auth nullok alice 000000
check "nullok still requires the code of a user with a profile" \
	bash -c "grep -q 'Verification code' '$T/pam.out' && ! grep -q 'successfully' '$T/pam.out'"

AT=$NOW pam_auth nullok mallory
check "nullok: an unknown account gets the same answer as one without a profile" \
	bash -c "! grep -q 'Verification code' '$T/pam.out' && grep -q 'successfully' '$T/pam.out'"
AT=$NOW pam_auth nullok_only mallory
check "nullok: ...and is still not authenticated by this module alone" test $? -ne 0

AT=$NOW pam_auth svc mallory 123456
check "unknown user: refused" test $? -ne 0
check "unknown user: prompted like everyone else" prompted
AT=$NOW pam_auth svc '../../etc/passwd' 123456
check "hostile user name: refused" test $? -ne 0
check "hostile user name is not echoed into the log" logged "user=(invalid user name)"

# --- the fail delay: a refusal takes as long whoever asks -----------------
# libpam waits the module's fail_delay (randomised around it) before it
# reports a failure.  Lower bounds only, and generous: each refusal takes at
# least half the delay (without it a refusal took 0.1-0.25 s here, most of it
# pamtester starting under load).
# ms_of CMD...: run CMD, print its wall time in ms
ms_of() {
	local t0
	t0=$(date +%s%N)
	"$@" > /dev/null 2>&1
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
pam_stack delay "auth required $MODULE config=$TP_CONF fail_delay=1500"
mkprofile alice
for who in "alice (wrong code)" "dave (no profile)" "mallory (unknown account)"; do
	ms=$(AT=$NOW ms_of pam_auth delay "${who%% *}" 000000)
	check "fail_delay=1500: refusal for $who takes at least 750 ms" test "$ms" -ge 750
	echo "# fail_delay=1500: refusal for $who took $ms ms"
done
pam_stack nodelay_ok "auth required $MODULE config=$TP_CONF fail_delay=60000"
AT=$NOW pam_auth nodelay_ok alice "$C0"
# pam_auth gives up after 30 s: a delayed success would fail here
check "the fail delay holds back only failures: a right code gets in at once" test $? -eq 0

# --- options -------------------------------------------------------------
mkprofile owner=$SVM_UUID carol
pam_service svm config="$TP_CONF" owner=vs0
AT=$NOW pam_auth svm carol "$C0"
check "owner=NAME: SVM account logs in" test $? -eq 0
pam_service svm_uuid config="$TP_CONF" owner=$SVM_UUID
AT=$((NOW + 30)) pam_auth svm_uuid carol "$(code_at $((NOW + 30)))"
check "owner=UUID: SVM account logs in" test $? -eq 0
mkprofile alice
AT=$NOW pam_auth svm alice "$C0"
check "owner=vs0: a cluster account that is not an SVM member is refused" test $? -ne 0
pam_service badowner config="$TP_CONF" owner=nosuchsvm
AT=$NOW pam_auth badowner alice "$C0"
check "owner= naming no owner: refused" test $? -ne 0
check "owner= naming no owner: logged" logged "owner=nosuchsvm is not in"

# --- a case-insensitive user database (SSSD, winbind): getpwnam("CAROL")
# answers with carol, so CAROL is carol in every owner ----------------------
CASEFOLD="$BUILD/tests/casefold_nss.so"
mkprofile owner=$SVM_UUID carol
pam_stack svm_nullok "auth required $MODULE config=$TP_CONF owner=vs0 nullok" \
	"auth required pam_permit.so"
clear_log
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth svm_nullok CAROL
rc=$?
check "owner=vs0 nullok: CAROL (carol's profile) is asked for a code" prompted
check "owner=vs0 nullok: CAROL without carol's code is refused" test $rc -ne 0
check "owner=vs0: the mapping is logged" logged "user=CAROL is account carol"
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth svm_nullok CAROL "$C0"
check "owner=vs0 nullok: CAROL with carol's code logs in" test $? -eq 0
check "owner=vs0: the code was checked against carol's profile" \
	test "$(profile_state carol $SVM_UUID | cut -d' ' -f2)" -eq $((NOW / 30))
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth svm_nullok ERIN
check "owner=vs0 nullok: a member without a profile (any spelling) is still exempt" \
	bash -c "! grep -q 'Verification code' '$T/pam.out' && grep -q 'successfully' '$T/pam.out'"
mkprofile owner=$SVM_UUID dave
AT=$NOW pam_auth svm_nullok dave
check "owner=vs0 nullok: a non-member with a profile in this owner is not exempt" \
	bash -c "grep -q 'Verification code' '$T/pam.out' && ! grep -q 'successfully' '$T/pam.out'"
rmprofile dave $SVM_UUID

mkprofile alice
clear_log
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth nullok ALICE
check "cluster nullok: ALICE (alice's profile) is asked for a code and refused without it" \
	bash -c "grep -q 'Verification code' '$T/pam.out' && ! grep -q 'successfully' '$T/pam.out'"
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth svc ALICE "$C0"
check "cluster: ALICE with alice's code logs in" test $? -eq 0
check "cluster: the mapping is logged" logged "user=ALICE is account alice"
check "cluster: the code was checked against alice's profile" \
	test "$(profile_state alice | cut -d' ' -f2)" -eq $((NOW / 30))
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth nullok DAVE
check "cluster nullok: an account without a profile (any spelling) is still exempt" \
	bash -c "! grep -q 'Verification code' '$T/pam.out' && grep -q 'successfully' '$T/pam.out'"
# the user database answers for BAD..NAME with an account whose name no
# profile can have: neither that account nor "no profile", so nullok does
# not exempt it
echo "bad..name:x:4009:4009:Bad:$T:/bin/sh" >> "$T/passwd"
clear_log
PAM_PRELOAD=$CASEFOLD AT=$NOW pam_auth nullok BAD..NAME 000000
check "cluster nullok: a name the database maps to an invalid account name is refused" \
	test $? -ne 0
check "cluster nullok: ...and logged so" logged "the user database names another account, not a valid login name"
sed -i '/^bad\.\.name:/d' "$T/passwd"

pam_service typo config="$TP_CONF" nullokk
mkprofile alice
AT=$NOW pam_auth typo alice "$C0"
check "unknown option: refused (fail closed)" test $? -ne 0
check "unknown option: logged" logged 'unknown or malformed module option "nullokk"'
pam_service relconf config=relative.conf
AT=$NOW pam_auth relconf alice "$C0"
check "config= with a relative path: refused" test $? -ne 0
check "config= with a relative path: logged as a malformed option" \
	logged 'malformed module option "config=relative.conf"'
# fail_delay= takes 0 to 60000 ms, digits only; anything else refuses all
for v in 60001 1x 1e3 -1 ""; do
	pam_service baddelay config="$TP_CONF" "fail_delay=$v"
	clear_log
	AT=$NOW pam_auth baddelay alice "$C0"
	check "fail_delay=$v: refused (fail closed)" test $? -ne 0
	check "fail_delay=$v: logged as a malformed option" \
		logged "malformed module option \"fail_delay=$v\""
done

pam_service prompt config="$TP_CONF" "prompt=OTP:"
AT=$NOW pam_auth prompt alice "$C0"
check "prompt= changes the prompt" prompted "OTP:"

clear_log
pam_service dbg config="$TP_CONF" debug
mkprofile alice
AT=$NOW pam_auth dbg alice "$C0"
check "debug: extra log line" logged "alice owner=cluster1: asking for a code"
check "debug: never logs the code or the secret" \
	bash -c "! grep -q -e '$C0' -e '$SECRET' '$TP_SYSLOG'"

mkprofile alice
pam_stack usefirst "auth required $(dirname "$PAM_WRAPPER_LIB")/pam_wrapper/pam_set_items.so" \
	"auth required $MODULE config=$TP_CONF use_first_pass"
PAM_ENV="PAM_AUTHTOK=$C0" AT=$NOW pam_auth usefirst alice
check "use_first_pass: the code from PAM_AUTHTOK is accepted" test $? -eq 0
check "use_first_pass: no prompt" fails prompted
PAM_ENV="PAM_AUTHTOK=000000" AT=$((NOW + 30)) pam_auth usefirst alice
check "use_first_pass: a wrong PAM_AUTHTOK is refused without a prompt" \
	bash -c "! grep -q 'Verification code' '$T/pam.out' && ! grep -q 'successfully authenticated' '$T/pam.out'"
PAM_ENV=$'PAM_AUTHTOK=\b\n\r\177INCORRECT' AT=$((NOW + 30)) pam_auth usefirst alice
check "sshd's fake password for invalid users is a failure" test $? -ne 0

mkprofile alice
pam_stack tryfirst "auth required $(dirname "$PAM_WRAPPER_LIB")/pam_wrapper/pam_set_items.so" \
	"auth required $MODULE config=$TP_CONF try_first_pass"
PAM_ENV="PAM_AUTHTOK=$C0" AT=$NOW pam_auth tryfirst alice
check "try_first_pass: a good PAM_AUTHTOK needs no prompt" bash -c "! grep -q 'Verification code' '$T/pam.out' && grep -q 'successfully authenticated' '$T/pam.out'"
PAM_ENV="PAM_AUTHTOK=hunter2" AT=$((NOW + 30)) pam_auth tryfirst alice "$(code_at $((NOW + 30)))"
check "try_first_pass: a password in PAM_AUTHTOK falls back to the prompt" test $? -eq 0
check "try_first_pass: ...and the prompt was shown" prompted
# a locked profile: PAM_AUTHTOK's code (the right one) is refused and no
# other is asked for, since none could be accepted until the lock runs out
write_config "lockout = { max_failures = 2; seconds = 120; };"
mkprofile alice
for i in 1 2; do AT=$NOW pam_auth svc alice 111111; done
PAM_ENV="PAM_AUTHTOK=$C0" AT=$NOW pam_auth tryfirst alice "$C0"
rc=$?
check "try_first_pass, locked profile: refused" test $rc -ne 0
check "try_first_pass, locked profile: no prompt" fails prompted
write_config

mkprofile alice codes=55554444
pam_service fwd config="$TP_CONF" forward_pass
AT=$NOW pam_auth fwd alice "hunter2$C0"
check "forward_pass: password+code in one answer is accepted" test $? -eq 0
check "forward_pass: the combined prompt is shown" prompted "Password & verification code: "
AT=$((NOW + 30)) pam_auth fwd alice "hunter2000000"
check "forward_pass: password+wrong code is refused" test $? -ne 0
AT=$((NOW + 30)) pam_auth fwd alice "hunter255554444"
check "forward_pass: password+emergency code is accepted" test $? -eq 0
# both tails of one answer are one attempt: one miss, one failure, and an
# emergency code one failure short of the lock still gets in
write_config "lockout = { max_failures = 5; seconds = 120; };"
mkprofile alice codes=55554444 failures=3
AT=$NOW pam_auth fwd alice "hunter212345678"
check "forward_pass: a wrong answer counts one failure, not one per tail" \
	test "$(profile_state alice | cut -d" " -f3)" -eq 4
AT=$NOW pam_auth fwd alice "hunter255554444"
check "forward_pass: an emergency code one failure short of the lock is accepted" test $? -eq 0
write_config

# forward_pass hands the password on, for real and unknown accounts alike
# (a test module after ours logs the PAM_AUTHTOK it receives)
pam_stack fwdnext "auth requisite $MODULE config=$TP_CONF forward_pass" \
	"auth required $BUILD/tests/pam_show_authtok.so"
pam_stack fwdnext_any "auth optional $MODULE config=$TP_CONF forward_pass" \
	"auth required $BUILD/tests/pam_show_authtok.so"
mkprofile alice
AT=$NOW pam_auth fwdnext alice "hunter2$C0"
check "forward_pass: the next module gets the password part as PAM_AUTHTOK" \
	logged "next module sees PAM_AUTHTOK=\[hunter2\]"
clear_log
mkprofile alice codes=24681357
AT=$NOW pam_auth fwdnext alice "hunter224681357"
check "forward_pass: with an emergency code, the next module gets the password alone" \
	logged "next module sees PAM_AUTHTOK=\[hunter2\]"
clear_log
AT=$NOW pam_auth fwdnext_any mallory "hunter2123456"
check "forward_pass: an unknown account's password is handed on the same way" \
	logged "next module sees PAM_AUTHTOK=\[hunter2\]"

# an answer with no code tail (shorter than the code, empty, or over the
# 256-byte limit): one failure, logged, nothing handed on, no crash
write_config "lockout = { max_failures = 0; };"
pam_stack fwdreq "auth required $MODULE config=$TP_CONF forward_pass" \
	"auth required $BUILD/tests/pam_show_authtok.so"
mkprofile alice
LONG_ANSWER=$(head -c 300 /dev/zero | tr '\0' 1)
i=0
for a in x "" 12345 "$LONG_ANSWER"; do
	i=$((i + 1))
	clear_log
	AT=$NOW pam_auth fwdreq alice "$a"
	rc=$?
	check "forward_pass: answer of ${#a} bytes with no code tail: refused, no crash" test $rc -eq 1
	check "forward_pass: answer of ${#a} bytes: counted as one failure" \
		test "$(profile_state alice | cut -d' ' -f3)" -eq $i
	check "forward_pass: answer of ${#a} bytes: logged" \
		bash -c "grep -q 'user=alice owner=cluster1: the answer has no code at its end' '$TP_SYSLOG' &&
			grep -q 'user=alice owner=cluster1: refused: wrong code' '$TP_SYSLOG'"
	check "forward_pass: answer of ${#a} bytes: no password handed on" \
		logged "next module sees PAM_AUTHTOK=\[(none)\]"
done
AT=$NOW pam_auth fwdreq mallory x
check "forward_pass: a short answer for an unknown account: refused, no crash" test $? -eq 1
mkprofile alice
clear_log
AT=$NOW pam_auth fwdreq alice "$C0"
check "forward_pass: a bare code is a code with an empty password" \
	bash -c "grep -q 'accepted TOTP code' '$TP_SYSLOG' && grep -q 'next module sees PAM_AUTHTOK=\[\]' '$TP_SYSLOG'"
write_config

PAM_OP=setcred pam_auth svc alice
check "pam_sm_setcred returns success" test $? -eq 0

# --- faults: every one refuses the login and says why in the log ---------
mkprofile alice
pam_service missingconf config="$T/nope.conf"
AT=$NOW pam_auth missingconf alice "$C0"
check "missing config: refused" test $? -ne 0
check "missing config: logged" logged "configuration error, refusing login: $T/nope.conf"

chmod 0666 "$TP_CONF"
AT=$NOW pam_auth svc alice "$C0"
check "group/world-writable config: refused" test $? -ne 0
check "group/world-writable config: logged" logged "must not be writable by group or others"
write_config

echo 'store = { path = "/x"; }; bogus = 1;' > "$T/bad.conf"; chmod 0644 "$T/bad.conf"
pam_service badconf config="$T/bad.conf"
AT=$NOW pam_auth badconf alice "$C0"
check "config with an unknown setting: refused, file:line:setting logged" logged "$T/bad.conf:1: bogus: unknown setting"

# The profile files themselves: these are the file store's own faults
# (format, size, mode, owner, links, the folder); the database's faults
# (server down or silent, schema missing or of another version, a role
# without the right) are tests/pg/module.sh's.
if on_backend files; then
	P="$TP_STORE/$CLUSTER_UUID/alice.ini"
	mkprofile alice
	head -c 100 "$P" > "$T/trunc" && cat "$T/trunc" > "$P"
	AT=$NOW pam_auth svc alice "$C0"
	check "truncated profile: refused" test $? -ne 0
	check "truncated profile: logged" logged "corrupt, truncated or over-large profile file"
	check "truncated profile: left as it was" cmp -s "$P" "$T/trunc"

	mkprofile alice
	head -c 9000 /dev/urandom | base64 -w 70 >> "$P"
	AT=$NOW pam_auth svc alice "$C0"
	check "over-large profile: refused" test $? -ne 0

	mkprofile alice
	chmod 0644 "$P"
	AT=$NOW pam_auth svc alice "$C0"
	check "profile with mode 0644: refused" test $? -ne 0
	check "profile with mode 0644: logged" logged "mode 0600"

	mkprofile alice
	chown 4001 "$P"
	AT=$NOW pam_auth svc alice "$C0"
	check "profile owned by another uid: refused" test $? -ne 0
	rm -f "$P"

	mkprofile bob
	ln -s "$TP_STORE/$CLUSTER_UUID/bob.ini" "$P"
	AT=$NOW pam_auth svc alice "$C0"
	check "symlinked profile: refused" test $? -ne 0
	check "symlinked profile: logged" logged "is a symbolic link"
	rm -f "$P"

	mkprofile alice
	ln "$P" "$T/hardlink"
	AT=$NOW pam_auth svc alice "$C0"
	check "hard-linked profile: refused" test $? -ne 0
	rm -f "$T/hardlink"

else
	for c in "truncated profile" "over-large profile" "profile with mode 0644" \
		 "profile owned by another uid" "symlinked profile" "hard-linked profile"; do
		skip "$c" "a fault of the file store's files; postgresql has no profile files"
	done
fi

# unreachable: the folder gone, or the hosts' role no longer let in
store_away() {
	if on_backend postgresql; then
		pg_psql -c "ALTER ROLE tp_host $1" > /dev/null
	elif [ "$1" = NOLOGIN ]; then
		mv "$TP_STORE" "$T/store.away"
	else
		mv "$T/store.away" "$TP_STORE"
	fi
}
mkprofile alice
store_away NOLOGIN
AT=$NOW pam_auth svc alice "$C0"
check "missing store: refused" test $? -ne 0
check "missing store: logged" logged "profile store unavailable"
store_away LOGIN

# read-only: the folder bind-mounted read-only in the login's own mount
# namespace (private_tmp), or every transaction of the hosts' role
# read-only (as on a standby)
store_read_only() {
	if on_backend postgresql; then
		pg_psql -c "ALTER ROLE tp_host SET default_transaction_read_only = $1" > /dev/null
	elif [ "$1" = on ]; then
		[ "$(id -u)" -eq 0 ] && command -v unshare > /dev/null &&
			export PRIVATE_TMP_RO="$TP_STORE"
	else
		unset PRIVATE_TMP_RO
	fi
}
mkprofile alice
before=$(profile_dump alice | sha256sum)
if store_read_only on; then
	AT=$NOW pam_auth svc alice "$C0"
	check "read-only store: a login that cannot record its step is refused" test $? -ne 0
	check "read-only store: logged" logged "cannot record the attempt: store is read-only"
	store_read_only off
	check "read-only store: profile untouched" test "$(profile_dump alice | sha256sum)" = "$before"
else
	skip "read-only store" "cannot bind-mount here (needs root with CAP_SYS_ADMIN)"
fi

# --- fail closed behind a module that already said yes ---------------------
# In "auth required pam_permit.so" + this module, PAM_IGNORE would be a
# login without a second factor: a broken setup (unknown option, unknown
# owner) and a conversation that gives no answer must each be a refusal.
permit_first() {
	local name=$1; shift
	pam_stack "$name" "auth required pam_permit.so" "auth required $MODULE $*" \
		"account required pam_permit.so"
}
mkprofile alice
permit_first pf_option config="$TP_CONF" nullokk
AT=$NOW pam_auth pf_option alice "$C0"
check "unknown option behind pam_permit: refused" test $? -ne 0
permit_first pf_owner config="$TP_CONF" owner=nosuchsvm
AT=$NOW pam_auth pf_owner alice "$C0"
check "owner= naming no owner behind pam_permit: refused" test $? -ne 0
permit_first pf_noanswer config="$TP_CONF"
AT=$NOW pam_env_args
# (30 s: pam_auth's watchdog; a module that waited for the answer would
# be killed there, and the log check below fails)
timeout 30 "$PRIVATE_TMP" env "${PAM_ENV_ARGS[@]}" pamtester -v pf_noanswer alice authenticate \
	< /dev/null > "$T/pam.out" 2>&1
check "no answer to the prompt behind pam_permit: refused" test $? -ne 0
check "no answer to the prompt: logged" logged "user=alice: no answer to the prompt"
check "no answer to the prompt: nothing counted" \
	test "$(profile_state alice | cut -d' ' -f3)" -eq 0
