#!/bin/bash
# make check-deb: the Debian packages on this machine, as an admin uses
# them (a piuparts-style run without the chroot).  Installs build/deb's
# packages with apt, logs in through the installed module (pamtester under
# pam_wrapper, the module by name from the multiarch PAM folder), upgrades
# to a rebuilt next version and checks no profile, step or spent code is
# lost, removes (config and store stay), purges (nothing of ours stays),
# and compares the file lists before and after.
#
# It writes the package's own files (/etc/totp_profile, /usr, /var/lib)
# and edits the installed conffile as step 2 of docs/sshd.md says; it
# refuses to run when the packages are already installed, so an admin's
# installation is never touched.
source "$(dirname "$0")/../integration/lib.sh"

PKGS="libpam-totp-profile totpd"
DEBS=("$BUILD"/deb/*.deb)
CONF=/etc/totp_profile/totp_profile.conf
STORE=/var/lib/totp_profile
if [ "$(id -u)" -ne 0 ]; then
	skip "check-deb" "needs root: it installs the packages on this machine"
	exit 0
fi
for p in $PKGS; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed\|config-files'; then
		echo "not ok - $p is already on this machine; check-deb will not touch it"
		exit 1
	fi
done
[ -e "${DEBS[0]}" ] || { echo "not ok - no package in $BUILD/deb (make deb)"; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# every path of the machine a package could leave behind (not the
# volatile ones: logs, caches, dpkg's and apt's own state)
file_list() {
	find /etc /usr /lib /var/lib /opt /srv -xdev \
		-path /var/lib/dpkg -prune -o -path /var/lib/apt -prune -o \
		-path /var/lib/postgresql -prune -o -path /var/lib/systemd/timers -prune -o \
		-print 2>/dev/null | sort
}
file_list > "$T/before"
dpkg-statoverride --list | sort > "$T/overrides.before"

apt_q() { apt-get -y -q -o Dpkg::Options::=--force-confdef "$@" > "$T/apt.out" 2>&1; }
check "apt-get install ./build/deb/*.deb" apt_q install "${DEBS[@]}"
tail -n 5 "$T/apt.out" | sed 's/^/#   apt: /'

MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$MULTIARCH")
check "the module is in the multiarch PAM folder" \
	test -f "/usr/lib/$MULTIARCH/security/pam_totp_profile.so"
check "the _totp system account exists" getent passwd _totp > /dev/null
# the module runs under nss_wrapper (lib.sh): let it see the new account
getent passwd _totp >> "$T/passwd"
getent group _totp >> "$T/group"
check "the store is a folder owned by _totp, mode 0755" \
	test "$(stat -c '%U:%G %a' "$STORE")" = "_totp:_totp 755"
check "totpctl is setuid/setgid _totp (6755) through dpkg-statoverride" \
	test "$(stat -c '%U:%G %a' /usr/bin/totpctl)" = "_totp:_totp 6755"
check "dpkg-statoverride lists totpctl" grep -q '^_totp _totp 6755 /usr/bin/totpctl$' \
	<(dpkg-statoverride --list /usr/bin/totpctl)
check "the configuration is a conffile" \
	grep -q " $CONF " <(dpkg-query -W -f='${Conffiles}\n' libpam-totp-profile)
check "the SQL migrations are in /usr/share/libpam-totp-profile/sql" \
	test -f /usr/share/libpam-totp-profile/sql/001_schema.sql
check "the man pages are installed" test -f /usr/share/man/man8/pam_totp_profile.8.gz -a \
	-f /usr/share/man/man1/totpctl.1.gz -a -f /usr/share/man/man5/totp_profile.conf.5.gz
check "totpd's socket unit is in the totpd package" \
	grep -q '/lib/systemd/system/totpd.socket' <(dpkg -L totpd)
check "no test tool among the runtime dependencies" \
	fails grep -E 'pamtester|pam-wrapper|faketime|postgresql|valgrind|clang' \
	<(dpkg-query -W -f='${Depends} ${Recommends}\n' $PKGS)

# step 2 of docs/sshd.md: the admin names who has TOTP (root, here)
sed -i 's/^\(\ttotp_group = "totp";\)$/\1 totp_accounts = [ "root" ];/' "$CONF"
check "the admin's edit of the config took" grep -q 'totp_accounts = \[ "root" \]' "$CONF"

/usr/bin/totpctl create --comment deb-test --no-qr --json > "$T/create.json" 2> "$T/create.err"
check "root enrols with the installed totpctl" test -s "$T/create.json"
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
KEY=$(json "$T/create.json" 'd["records"][0]["secret_key"]')
EC1=$(json "$T/create.json" 'd["records"][0]["emergency_codes"][0]')
EC2=$(json "$T/create.json" 'd["records"][0]["emergency_codes"][1]')
FPR=$(json "$T/create.json" 'd["records"][0]["sha_fingerprint"]')
check "the profile is in the store, owned by _totp" \
	test "$(find "$STORE" -type f -user _totp | wc -l)" -ge 1

# the installed module by name: libpam finds it in the multiarch folder
printf '%s\n' "auth required pam_totp_profile.so nodelay" \
	"account required pam_permit.so" > "$T/pam.d/deb"
s=$(( 30 - $(date +%s) % 30 )); [ "$s" -lt 5 ] && sleep "$s"
C=$(oathtool -b --totp "$KEY")
check "a login through the installed module with the current code" pam_auth deb root "$C"
check "the same code again: refused (replay)" fails pam_auth deb root "$C"
check "an emergency code logs in" pam_auth deb root "$EC1"

# the next version, built from the same tree
scripts/build-deb.sh "$T/next" 99.0 > "$T/next.out" 2>&1 ||
	{ echo "not ok - the next version builds"; tail -n 20 "$T/next.out" | sed 's/^/#   /'; }
check "upgrade to the next version" apt_q install "$T"/next/*.deb
check "upgraded: the version is the next one" \
	test "$(dpkg-query -W -f='${Version}' libpam-totp-profile)" = 99.0
check "upgraded: the admin's config is kept" grep -q 'totp_accounts = \[ "root" \]' "$CONF"
check "upgraded: totpctl is still 6755 _totp" \
	test "$(stat -c '%U:%G %a' /usr/bin/totpctl)" = "_totp:_totp 6755"
check "upgraded: the profile is the same key" \
	grep -q "$FPR" <(/usr/bin/totpctl show --account root --json)
check "upgraded: the step accepted before is still spent" fails pam_auth deb root "$C"
check "upgraded: the spent emergency code is still spent" fails pam_auth deb root "$EC1"
check "upgraded: another emergency code logs in" pam_auth deb root "$EC2"

# an admin ends a lockout with the installed totpctl
for _ in 1 2 3 4 5; do pam_auth deb root 000000; done
check "five wrong codes lock the installed profile" \
	grep -q 'Locked until: .* UTC' <(/usr/bin/totpctl show --account root)
/usr/bin/totpctl unlock --account root > "$T/unlock.out" 2>&1
check "totpctl unlock (installed) ends the lock" \
	grep -q 'Locked until: not locked' <(/usr/bin/totpctl show --account root)

# an admin's own mode survives an upgrade
dpkg-statoverride --update --force-all --remove /usr/bin/totpctl > /dev/null 2>&1
dpkg-statoverride --update --add _totp _totp 4750 /usr/bin/totpctl
check "reinstall keeps an admin's own statoverride" apt_q install --reinstall "$T"/next/libpam*.deb
check "... the mode is the admin's (4750)" test "$(stat -c '%a' /usr/bin/totpctl)" = 4750

check "apt-get remove" apt_q remove $PKGS
check "removed: the module is gone" fails test -e "/usr/lib/$MULTIARCH/security/pam_totp_profile.so"
check "removed: the config stays" grep -q 'totp_accounts = \[ "root" \]' "$CONF"
check "removed: the store and its profile stay" \
	test "$(find "$STORE" -type f | wc -l)" -ge 1

check "apt-get purge" apt_q purge $PKGS
check "purged: no config" fails test -e /etc/totp_profile
check "purged: no store" fails test -e "$STORE"
check "purged: no statoverride of ours" \
	test "$(dpkg-statoverride --list | sort)" = "$(cat "$T/overrides.before")"
file_list > "$T/after"
# a path that is new after the purge and no package owns is ours; a file
# another package installed meanwhile (the machine is shared) is not
comm -13 "$T/before" "$T/after" | while read -r f; do
	dpkg -S "$f" > /dev/null 2>&1 || echo "$f"
done > "$T/left"
check "purged: no file of ours is left (file lists before/after)" test ! -s "$T/left"
sed 's/^/#   left: /' "$T/left" | head -n 20
comm -23 "$T/before" "$T/after" | grep -v '^/etc/\(passwd\|group\|shadow\|gshadow\)-$' > "$T/gone"
check "purged: no file that was there before is gone" test ! -s "$T/gone"
sed 's/^/#   gone: /' "$T/gone" | head -n 20
