#!/bin/bash
# End to end through a real sshd on 127.0.0.1: generated config and host
# key, publickey then keyboard-interactive, the PAM service from
# pam_wrapper's service dir, and the real ssh client answering the prompt
# through SSH_ASKPASS.  The login account is root (the one account that
# exists on every machine), so nothing under /etc is touched.
source "$(dirname "$0")/lib.sh"

SSHD=/usr/sbin/sshd
if [ "$(id -u)" -ne 0 ]; then
	skip "sshd end to end" "needs root to start sshd with privilege separation"
	exit 0
fi
mkdir -p /run/sshd                   # sshd's privilege separation folder
chmod 0755 /run/sshd

sshd_test_server
{ sshd_test_config; cat <<CONF; } > "$T/sshd_config"
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
AuthenticationMethods publickey,keyboard-interactive
MaxAuthTries 10
LogLevel VERBOSE
CONF
printf '%s\n' "auth required $MODULE config=$TP_CONF nodelay" \
	"account required pam_permit.so" "session required pam_permit.so" \
	"password required pam_deny.so" > "$T/pam.d/sshd"

# root is in no SVM, so give the cluster owner an explicit TOTP list
write_config
sed -i 's/totp_group = "totp";/totp_group = "totp"; totp_accounts = [ "root" ];/' "$TP_CONF"
mkprofile root codes=24681357

# sshd and its children get a /tmp of their own ($PRIVATE_TMP): under
# pam_wrapper, an sshd child whose PAM folder another process on the
# machine shares and deletes fails in pam_start before the prompt, and its
# login is neither asked nor logged (the forward_pass checks below failed
# so in a make check beside another, at load 13).
"$PRIVATE_TMP" env LD_PRELOAD="$ASAN_LIB $SYSLOG_SHIM $PAM_WRAPPER_LIB" PAM_WRAPPER=1 \
	PAM_WRAPPER_USE_SYSLOG=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
	"$SSHD" -D -e -f "$T/sshd_config" 2> "$T/sshd.log" &
SSHD_PID=$!
# bound 10 s (sshd_doc.sh's for a reload): it listens in well under 1 s
for _ in $(seq 100); do
	grep -q "Server listening" "$T/sshd.log" && break
	sleep 0.1
done
if ! grep -q "Server listening" "$T/sshd.log"; then
	echo "not ok - sshd starts on 127.0.0.1 (within 10 s)"
	sed 's/^/#   sshd: /' "$T/sshd.log"
	exit 1
fi

# ASKPASS answers every prompt with the contents of $T/answer and records it
# (in prompts, the last login's; in all_prompts, every login's)
cat > "$T/askpass" <<'ASK'
#!/bin/sh
echo "$1" >> "$(dirname "$0")/prompts"
echo "$1" >> "$(dirname "$0")/all_prompts"
cat "$(dirname "$0")/answer"
ASK
chmod 0755 "$T/askpass"

# ssh_login ANSWER: run a command over ssh; its output in $T/ssh.out.
# Bounds: a whole login (key exchange, publickey, the PAM conversation and
# a 300 ms fail delay) takes 0.3 s on an idle machine and 6 s with this
# suite held to 2.5 % of one CPU; 60 s (30 s to connect and exchange keys)
# leaves room for load 13 on 2 cores.  sshd's LoginGraceTime (120 s) is
# longer still, so it never cuts a login short first.
ssh_login() {
	printf '%s\n' "$1" > "$T/answer"
	: > "$T/prompts"
	SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=none \
	timeout 60 setsid -w ssh -F /dev/null -p "$PORT" -i "$T/client_key" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o PreferredAuthentications=publickey,keyboard-interactive \
		-o NumberOfPasswordPrompts=1 -o ConnectTimeout=30 \
		root@127.0.0.1 'echo LOGIN-OK-$((6*7))' > "$T/ssh.out" 2>&1 < /dev/null
}

# sshd_logged N PATTERN: sshd.log holds at least N lines matching PATTERN
# after line $mark.  sshd's unprivileged child sends its log lines to the
# privileged one, which writes them; the client may exit before that
# process has run, so wait for the lines, up to 10 s (a write that far
# behind is a dead child, not a slow one).
sshd_logged() {
	local n=$1 pattern=$2 i
	for i in $(seq 100); do
		[ "$(tail -n +$((mark + 1)) "$T/sshd.log" | grep -c -- "$pattern")" -ge "$n" ] && break
		sleep 0.1
	done
	test "$(tail -n +$((mark + 1)) "$T/sshd.log" | grep -c -- "$pattern")" -eq "$n"
}

# wait for the start of a fresh 30 s step if we are close to its end, so
# the code does not expire between computing and using it (with window 1
# it is then good for 35 s at least: the login and the replay after it,
# a few seconds each even on a loaded machine; a code out of the window
# would be refused as wrong, not as replayed)
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 5 ] && sleep "$s"
C=$(code 0)
ssh_login "$C"
check "right code: the remote command runs" grep -q "LOGIN-OK-42" "$T/ssh.out"
check "the client was asked 'Verification code: '" grep -q "Verification code" "$T/prompts"
check "sshd's PAM stack logged the acceptance" logged "user=root owner=cluster1: accepted TOTP code"

ssh_login "$C"
check "replayed code: refused" fails grep -q "LOGIN-OK" "$T/ssh.out"
check "replayed code: logged" logged "user=root owner=cluster1: refused: replayed TOTP code"

ssh_login 000000
check "wrong code: refused" fails grep -q "LOGIN-OK" "$T/ssh.out"

ssh_login 24681357
check "emergency code: the remote command runs" grep -q "LOGIN-OK-42" "$T/ssh.out"
ssh_login 24681357
check "spent emergency code: refused" fails grep -q "LOGIN-OK" "$T/ssh.out"
# the warning after an emergency login goes where sshd shows it to a
# terminal session only; with the prompt, `ssh host cmd` sees it too
if on_backend files; then
	check "ssh host cmd: the next prompt says how few emergency codes are left" \
		grep -q "0 emergency codes left; ask an admin to reset your TOTP profile soon." "$T/prompts"
else
	skip "ssh host cmd: the next prompt says how few emergency codes are left" \
		"a host learns the count from the database only with the verdict"
fi

cp "$T/client_key.pub" "$T/unused.pub"; : > "$T/authorized_keys"
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 5 ] && sleep "$s"
ssh_login "$(code 1)"
check "without the first factor (public key) the code alone does not log in" \
	fails grep -q "LOGIN-OK" "$T/ssh.out"

# forward_pass through sshd, with a short real fail delay: answers with no
# code tail are refused one by one, each logged and counted, and no sshd
# child dies on them
cp "$T/unused.pub" "$T/authorized_keys"
printf '%s\n' "auth required $MODULE config=$TP_CONF forward_pass fail_delay=300" \
	"account required pam_permit.so" "session required pam_permit.so" \
	"password required pam_deny.so" > "$T/pam.d/sshd"
mkprofile root
clear_log
mark=$(wc -l < "$T/sshd.log")
: > "$T/all_prompts"
refused=0
for _ in 1 2 3 4 5; do
	ssh_login x
	grep -q "LOGIN-OK" "$T/ssh.out" || refused=$((refused + 1))
done
check "forward_pass: five answers of 'x' are refused" test "$refused" -eq 5
check "forward_pass: the client was asked for password and code" \
	test "$(grep -c "Password & verification code" "$T/all_prompts")" -eq 5
# the module logs before it returns, so before the client hears the refusal
check "forward_pass: each of the five is logged" \
	test "$(grep -c 'user=root owner=cluster1: the answer has no code at its end' "$TP_SYSLOG")" -eq 5
# a PAM child that dies leaves its connection without this line
check "forward_pass: no sshd child died on them (five PAM failures reported)" \
	sshd_logged 5 'Failed keyboard-interactive/pam for root'
check "forward_pass: five failures locked the profile" \
	test "$(profile_state root | cut -d' ' -f4)" -gt 0
mkprofile root
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 5 ] && sleep "$s"
ssh_login "hunter2$(code 0)"
check "forward_pass: password+code logs in" grep -q "LOGIN-OK-42" "$T/ssh.out"
check "sshd is still running after all of this" kill -0 "$SSHD_PID"
