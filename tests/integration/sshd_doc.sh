#!/bin/bash
# docs/sshd.md as written: its marked command blocks (<!-- sshd-doc-test:
# NAME --> before a ```sh fence) are extracted and run, in the doc's
# order, against copies of stock Debian 12's /etc/ssh/sshd_config and
# /etc/pam.d/sshd (from the openssh-server package) in $T, with paths
# moved there; then a real sshd on 127.0.0.1 with that configuration is
# logged into after each step.  Users (nss_wrapper, lib.sh): root enrols
# (in totp_group here), bob is in totp_group without a profile, dave is
# outside it.  Nothing under /etc is read for writing.
source "$(dirname "$0")/lib.sh"

SSHD=/usr/sbin/sshd
DOC="$TOP/docs/sshd.md"
if [ "$(id -u)" -ne 0 ]; then
	skip "docs/sshd.md as written" "needs root to start sshd with privilege separation"
	exit 0
fi

# block NAME: the commands of the doc's block NAME, exactly as printed
block() {
	awk -v name="$1" '
		$0 == "<!-- sshd-doc-test: " name " -->" { want = 1; next }
		want && /^```sh$/ { inside = 1; want = 0; next }
		inside && /^```$/ { exit }
		inside { print }' "$DOC"
}
for b in pam-rollout sshd enrol pam-final; do
	if [ -z "$(block $b)" ]; then
		echo "not ok - docs/sshd.md has a block marked sshd-doc-test: $b"
		exit 1
	fi
done

# stock Debian files: sshd_config as openssh-server ships it (postinst
# copies it to /etc), /etc/pam.d/sshd from the package itself
E="$T/etc"
mkdir -p "$E/ssh/sshd_config.d" "$E/pam.d"
if [ ! -r /usr/share/openssh/sshd_config ]; then
	skip "docs/sshd.md as written" "no /usr/share/openssh/sshd_config (openssh-server)"
	exit 0
fi
cp /usr/share/openssh/sshd_config "$E/ssh/sshd_config"
deb=$(ls /var/cache/apt/archives/openssh-server_*.deb 2>/dev/null | tail -n 1)
if [ -z "$deb" ]; then
	(cd "$T" && apt-get download -q openssh-server > /dev/null 2>&1)
	deb=$(ls "$T"/openssh-server_*.deb 2>/dev/null | tail -n 1)
fi
if [ -n "$deb" ]; then
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/pam.d/sshd > "$E/pam.d/sshd"
fi
if [ ! -s "$E/pam.d/sshd" ]; then
	skip "docs/sshd.md as written" "cannot get openssh-server's /etc/pam.d/sshd"
	exit 0
fi
check "the copies are stock Debian: KbdInteractiveAuthentication no, @include common-auth" \
	bash -c "grep -q '^KbdInteractiveAuthentication no' '$E/ssh/sshd_config' &&
		 grep -q '^@include common-auth' '$E/pam.d/sshd'"
# the machine's common-* files, which the stock file includes (read only)
cp /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-session \
	/etc/pam.d/common-password "$E/pam.d/"
sed -i "s|/etc/ssh/|$E/ssh/|g" "$E/ssh/sshd_config"

# the store and config: the shipped example, with this world's store
sed -e "s|\"/var/lib/totp_profile\"|\"$TP_STORE\"|" -e 's|user = "_totp";|user = "root";|' \
	"$TOP/conf/totp_profile.conf" > "$TP_CONF"
chmod 0644 "$TP_CONF"
# step 2's `usermod -aG totp`, in nss_wrapper's group file; sshd's
# privilege separation account
sed -i 's/^totp:x:4100:/totp:x:4100:root,/' "$T/group"
getent passwd sshd >> "$T/passwd"
# stock common-account runs pam_unix, which looks up an "x" password in
# /etc/shadow (the real one: nss_wrapper has none) and takes a name missing
# there for an expired account; these fake users have no password at all
sed -i 's/^\(bob\|dave\):x:/\1:*:/' "$T/passwd"

# run NAME: the doc's block NAME with paths moved to $T and sudo dropped
run() {
	block "$1" | sed -e 's/\bsudo //g' -e "s|/etc/ssh/|$E/ssh/|g" -e "s|/etc/pam.d/|$E/pam.d/|g" \
		-e "s|\bsshd -t|$SSHD -t -f $E/ssh/sshd_config|g" \
		-e 's|systemctl reload ssh|reload_sshd|g' \
		-e "s|^totpctl |$TOTPCTL --config $TP_CONF |" > "$T/step-$1.sh"
	# a reload is done when the re-executed sshd says it listens again
	# (a fixed sleep raced with a slow re-exec under load); bound 10 s
	( reload_sshd() {
		local n
		n=$(grep -c "Server listening" "$T/sshd.log")
		kill -HUP "$(cat "$T/sshd.pid")" || return 1
		for _ in $(seq 100); do
			[ "$(grep -c "Server listening" "$T/sshd.log")" -gt "$n" ] && return 0
			sleep 0.1
		done
		echo "sshd did not listen again within 10 s of its reload" >&2
		return 1
	  }
	  export LD_PRELOAD="$NSS_WRAPPER_LIB"
	  source "$T/step-$1.sh" ) > "$T/step-$1.out" 2>&1
}
# the PAM service sshd runs: the doc-edited file with the module's path
# (and the test's config, no fail delay) in place of its name
pam_sync() {
	sed "s|pam_totp_profile.so|$MODULE config=$TP_CONF nodelay|" "$E/pam.d/sshd" > "$T/pam.d/sshd"
	cp "$E"/pam.d/common-* "$T/pam.d/"
}

sshd_test_server
# what only this test needs: where to listen, its keys, root may log in
{ sshd_test_config; cat <<CONF; } > "$E/ssh/sshd_config.d/00-test.conf"
LogLevel VERBOSE
CONF
pam_sync
env LD_PRELOAD="$ASAN_LIB $SYSLOG_SHIM $PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" PAM_WRAPPER=1 \
	PAM_WRAPPER_USE_SYSLOG=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
	"$SSHD" -D -e -f "$E/ssh/sshd_config" 2> "$T/sshd.log" &
SSHD_PID=$!
# bound 10 s, as for a reload below
for _ in $(seq 100); do grep -q "Server listening" "$T/sshd.log" && break; sleep 0.1; done
if ! grep -q "Server listening" "$T/sshd.log"; then
	echo "not ok - the stock sshd_config starts on 127.0.0.1 (within 10 s)"
	sed 's/^/#   sshd: /' "$T/sshd.log" | tail -n 20
	exit 1
fi

cat > "$T/askpass" <<'ASK'
#!/bin/sh
echo "$1" >> "$(dirname "$0")/prompts"
cat "$(dirname "$0")/answer"
ASK
chmod 0755 "$T/askpass"
# login USER [ANSWER]: the command's output in $T/ssh.out, prompts in $T/prompts
# (bound 30 s a login: one takes 6 s with the suite held to 2.5 % of a
# CPU, see sshd.sh; fresh_step leaves a code 35 s in the window)
login() {
	printf '%s\n' "${2:-}" > "$T/answer"
	: > "$T/prompts"
	SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=none \
	timeout 30 setsid -w ssh -F /dev/null -p "$PORT" -i "$T/client_key" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o PreferredAuthentications=publickey,keyboard-interactive \
		-o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 \
		"$1@127.0.0.1" 'echo LOGIN-OK-$((6*7))' > "$T/ssh.out" 2>&1 < /dev/null
	grep -q LOGIN-OK-42 "$T/ssh.out"
}
asked() { grep -q "Verification code" "$T/prompts"; }
fresh_step() { local s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 5 ] && sleep "$s"; }

check "before: stock sshd, a key logs in" login bob

check "step 3 (PAM, roll-out) runs as printed" run pam-rollout
pam_sync
check "step 3: the module replaces common-auth, with nullok" \
	grep -q '^auth required pam_totp_profile.so configured_only nullok$' "$E/pam.d/sshd"
check "step 3: a key still logs in (sshd does not ask keyboard-interactive yet)" login bob

check "step 4 (sshd drop-in) runs as printed, sshd -t passes and sshd reloads" run sshd
sed 's/^/#   step 4: /' "$T/step-sshd.out"
check "step 4: sshd still runs after the reload" kill -0 "$SSHD_PID"
check "step 4: sshd reads the drop-in before the stock 'KbdInteractiveAuthentication no'" \
	bash -c "$SSHD -T -f '$E/ssh/sshd_config' -C user=bob,host=x,addr=127.0.0.1 2>/dev/null |
		grep -qx 'kbdinteractiveauthentication yes'"
check "roll-out: bob (totp_group, no profile yet) logs in on his key, not asked" login bob
check "roll-out: ...no code was asked" fails asked
check "roll-out: dave (outside totp_group) logs in on his key" login dave

check "step 5 (enrol) runs as printed" run enrol
SECRET_ROOT=$(sed -n 's/^ *Secret key: //p' "$T/step-enrol.out")
check "step 5: the key is shown" test -n "$SECRET_ROOT"
fresh_step
check "roll-out: the enrolled user logs in with key and code" login root "$(code 0 "$SECRET_ROOT")"
check "roll-out: ...and was asked for the code" asked
check "roll-out: a wrong code is refused" fails login root 000000

check "step 6 (end of roll-out) runs as printed" run pam-final
pam_sync
check "step 6: nullok is gone, the module line stays" \
	grep -q '^auth required pam_totp_profile.so configured_only$' "$E/pam.d/sshd"
fresh_step
check "after: the enrolled user logs in with key and code" login root "$(code 1 "$SECRET_ROOT")"
check "after: a wrong code is refused" fails login root 000000
check "after: bob (totp_group, never enrolled) is refused" fails login bob 123456
check "after: dave (outside totp_group) still logs in on his key" login dave
check "after: ...not asked" fails asked
check "sshd is still running" kill -0 "$SSHD_PID"
