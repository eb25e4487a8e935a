#!/bin/bash
# The main job, end to end, in a throwaway folder (nothing under /etc is
# touched): build, enrol a demo profile with totpctl, then log in through
# the real PAM stack (libpam + pam_wrapper + pamtester) with the current
# code, show a replayed code refused and an emergency code working once,
# and the profile through the REST API (totpd, one curl call).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

W=$(mktemp -d /tmp/totp-demo.XXXXXX)
trap "trap '' INT TERM; "'rm -rf "$W"' EXIT
chmod 0755 "$W"
mkdir -m 0755 "$W/store" "$W/pam.d"
ME=$(id -un)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A throwaway config and store in $W"
cat > "$W/totp_profile.conf" <<CONF
store = { path = "$W/store"; user = "$ME"; };
issuer = "totp-demo";
lockout = { max_failures = 5; seconds = 300; };
cluster = { name = "demo-cluster"; uuid = "b009a9e7-4081-b576-7575-ada21efcaf16";
            totp_accounts = [ "$ME" ]; };
CONF
chmod 0644 "$W/totp_profile.conf"
cat "$W/totp_profile.conf"

step "$ME enrols: totpctl create"
# totpctl draws the QR code only on a terminal: on one, give it a pty of
# its own (script(1)) so the code shows while its output is kept here
CREATE=("$BUILD/totpctl" --config "$W/totp_profile.conf" create --comment "demo phone")
if [ -t 1 ] && command -v script > /dev/null; then
	script -qec "$(printf '%q ' "${CREATE[@]}")" /dev/null | tr -d '\r' | tee "$W/create.out"
else
	"${CREATE[@]}" | tee "$W/create.out"
fi
SECRET=$(sed -n 's/^ *Secret key: //p' "$W/create.out")
EMERGENCY=$(sed -n 's/^ *Emergency codes: //p' "$W/create.out" | awk '{print $1}')

step "What an admin sees: totpctl list / show --json (no secret)"
"$BUILD/totpctl" --config "$W/totp_profile.conf" list
"$BUILD/totpctl" --config "$W/totp_profile.conf" show --account "$ME" --json

printf 'auth required %s config=%s\naccount required pam_permit.so\n' \
	"$BUILD/pam_totp_profile.so" "$W/totp_profile.conf" > "$W/pam.d/demo"
echo; echo "PAM service 'demo' (pam_wrapper service dir $W/pam.d):"
cat "$W/pam.d/demo"

login() {   # login CODE: pamtester through libpam, the module by absolute path
	local rc=0
	printf '%s\n' "$1" | LD_PRELOAD="$BUILD/tests/syslog_capture.so /usr/lib/$MULTIARCH/libpam_wrapper.so" \
		PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$W/pam.d" TP_TEST_SYSLOG="$W/log" \
		pamtester demo "$ME" authenticate 2>&1 | grep -v PWRAP || rc=$?
	echo "   log: $(tail -n 1 "$W/log" 2>/dev/null | sed 's/^<[0-9]*> //')"
}

# stay clear of the end of a 30 s step so the code is still current
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 4 ] && sleep "$s"
CODE=$(oathtool --totp -b "$SECRET")
step "Login with the current code $CODE (computed by oathtool from the secret)"
login "$CODE"
step "The same code again: a replay, refused"
login "$CODE" || true
step "A wrong code: refused"
login 000000 || true
step "Emergency code $EMERGENCY: accepted once"
login "$EMERGENCY"
step "The same emergency code again: spent, refused"
login "$EMERGENCY" || true

step "The same profile through the REST API: totpd on a unix socket, one curl call"
# totpd runs as the store user and never as root: a root demo lends the
# store to 'daemon' for this step
mkdir -m 0755 "$W/run"
SOCK="$W/run/api.sock"
if [ "$(id -u)" -eq 0 ]; then
	DUSER=daemon
	sed "s/user = \"$ME\"/user = \"$DUSER\"/" "$W/totp_profile.conf" > "$W/totpd.conf"
	chmod 0644 "$W/totpd.conf"
	chown -R "$DUSER" "$W/store"
	chown "$DUSER" "$W/run"
	RUN=(setpriv --reuid="$DUSER" --regid="$(id -g "$DUSER")" --clear-groups)
else
	cp "$W/totp_profile.conf" "$W/totpd.conf"
	RUN=()
fi
"${RUN[@]}" "$BUILD/totpd" --config "$W/totpd.conf" --socket "$SOCK" 2> "$W/totpd.log" &
TPID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
echo "\$ curl --unix-socket $SOCK 'http://localhost/api/security/login/totps?fields=comment,enabled'"
curl -s --unix-socket "$SOCK" 'http://localhost/api/security/login/totps?fields=comment,enabled'
kill "$TPID"; wait "$TPID" 2>/dev/null || true
echo "   log: $(grep ' uid=' "$W/totpd.log")"
if [ "$(id -u)" -eq 0 ]; then chown -R "$ME" "$W/store"; fi

step "The profile file (owner-only, secret never leaves it except at creation)"
ls -l "$W/store"/*/
echo
echo "Demo done. Everything lived in $W and is removed now."
