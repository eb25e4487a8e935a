#!/bin/bash
# Faults around the store: a full or read-only file system, and unsafe
# files (owner, mode, symlinks, hard links, FIFOs) in the config and the
# store, for the PAM module and for totpctl.  Every refusal must say why
# in the log (module) or on stderr (totpctl), and change nothing; and a
# fault is an error, never PAM_IGNORE, even where pam_permit follows.
#
# Already covered in pam.sh, not repeated here (module only):
#   "missing config", "group/world-writable config" (mode 0666),
#   "truncated profile", "over-large profile", "profile with mode 0644",
#   "profile owned by another uid", "symlinked profile" (to another
#   profile of the store), "hard-linked profile", "missing store",
#   "read-only store" (bind mount; the TOTP step of a right code).
# totpctl.sh covers the privilege model, not these faults.
#
# totpctl runs here as an unprivileged copy (the build tree's, as root,
# with --config and nss_wrapper's users); root is an admin and gets a
# TOTP group membership below so it can create its own profile.
source "$(dirname "$0")/lib.sh"

NOW=1800000000
C0=$(code_at $NOW)
C1=$(code_at $((NOW + 30)))
U=$CLUSTER_UUID
P="$TP_STORE/$U/alice.ini"
pam_service svc config="$TP_CONF"
sed -i 's/^totp:x:4100:/&root,/' "$T/group"

RC=0
# ctl ARGS...: totpctl as root (an admin) with the test config; $T/out, $T/err
ctl() {
	env LD_PRELOAD="$ASAN_LIB $NSS_WRAPPER_LIB" \
		"$TOTPCTL" --config "${CTL_CONF:-$TP_CONF}" "$@" > "$T/out" 2> "$T/err"
	RC=$?
}
# ctl_err CODE TEXT: failed with API error CODE and TEXT in the message
ctl_err() {
	[ "$RC" -ne 0 ] && grep -q "^totpctl: error $1: " "$T/err" && grep -q -- "$2" "$T/err"
}
# snap DIR: every name under DIR and every file's hash (lock files and the
# filler left out: they carry no data)
snap() {
	(cd "$1" && find . ! -name '.*.lock' ! -name 'fill*' | sort &&
		find . -type f ! -name '.*.lock' ! -name 'fill*' -print0 | sort -z |
		xargs -0 -r sha256sum)
}
same_as() { [ "$(snap "$TP_STORE")" = "$1" ]; }
no_tmp() { [ -z "$(find "$TP_STORE" -name '.*.tmp')" ]; }
refused() { [ "$1" -ne 0 ] && ! grep -q 'successfully' "$T/pam.out"; }

# ---- a full file system ------------------------------------------------
MNT=0
tp_at_exit '[ "$MNT" = 1 ] && umount "$TP_STORE" 2>/dev/null'
# fill: use every block of the tmpfs (then prove it: a 1-byte write fails)
fill() {
	dd if=/dev/zero of="$TP_STORE/fill" bs=64k > /dev/null 2>&1
	! (echo x > "$TP_STORE/fill.probe") 2>/dev/null
}
unfill() { rm -f "$TP_STORE"/fill*; }

if mount -t tmpfs -o size=256k,mode=0755 tp-faults "$TP_STORE" 2> "$T/mount.err"; then
	MNT=1
else
	skip "full store" "cannot mount tmpfs ($(head -n 1 "$T/mount.err"))"
	skip "read-only store" "cannot mount tmpfs ($(head -n 1 "$T/mount.err"))"
fi

if [ "$MNT" = 1 ]; then
	mkprofile alice
	mkprofile bob codes=12345678,87654321
	mkprofile tpadmin
	before=$(snap "$TP_STORE")
	check "full store: the tmpfs is full" fill

	# a login writes its state in place, in the block enrolment laid out:
	# a full store does not stop it, and what it records holds
	clear_log
	AT=$NOW pam_auth svc alice "$C0"
	check "full store: right TOTP code accepted (its step written in place)" test $? -eq 0
	AT=$NOW pam_auth svc alice "$C0"
	check "full store: ...and recorded: the same code is refused" refused $?
	AT=$NOW pam_auth svc bob 12345678
	check "full store: emergency code accepted and spent" test $? -eq 0
	AT=$NOW pam_auth svc bob 12345678
	check "full store: ...and refused the second time" refused $?
	AT=$NOW pam_auth svc tpadmin 000000
	check "full store: wrong code refused" refused $?
	check "full store: ...and counted" test "$(profile_state tpadmin | cut -d' ' -f3)" = 1
	check "full store: profiles byte-identical" same_as "$before"
	check "full store: no temp file left" no_tmp

	ctl create --no-qr
	check "full store: totpctl create fails with error 5 and the reason" ctl_err 5 "no space left"
	check "full store: totpctl create leaves no file" bash -c "[ ! -e '$TP_STORE/$U/root.ini' ]"
	ctl modify --owner cluster1 --account alice --comment new
	check "full store: totpctl modify fails with error 5" ctl_err 5 "no space left"
	unfill; mkprofile root enabled=0; before=$(snap "$TP_STORE"); fill
	ctl create --no-qr
	check "full store: totpctl create over a disabled profile fails with error 5" ctl_err 5 "no space left"
	check "full store: totpctl changed nothing" same_as "$before"
	check "full store: ...and left no temp file" no_tmp

	unfill
	AT=$NOW pam_auth svc alice "$C0"
	check "space freed: the TOTP code recorded on the full store stays spent" refused $?
	AT=$NOW pam_auth svc bob 87654321
	check "space freed: the other emergency code works" test $? -eq 0
	check "space freed: no emergency code left" test "$(profile_state bob | cut -d' ' -f5)" -eq 0
	umount "$TP_STORE"; MNT=0

	# no free inode: even the lock or temp file cannot be created
	if mount -t tmpfs -o size=1m,nr_inodes=24,mode=0755 tp-faults "$TP_STORE" 2>/dev/null; then
		MNT=1
		mkprofile alice
		before=$(snap "$TP_STORE")
		i=0
		while [ $i -lt 100 ] && : 2>/dev/null > "$TP_STORE/fill.$i"; do i=$((i + 1)); done
		clear_log
		# a login writes its state in place, into the existing lock file
		AT=$NOW pam_auth svc alice "$C0"
		check "no free inode: a login still works (its state needs no new file)" test $? -eq 0
		check "no free inode: profile byte-identical" same_as "$before"
		AT=$NOW pam_auth svc alice "$C0"
		check "no free inode: ...and its code was recorded" refused $?
		# a store older than the state record: no lock file yet
		rm -f "$TP_STORE/$U/.alice.lock"
		while [ $i -lt 100 ] && : 2>/dev/null > "$TP_STORE/fill.$i"; do i=$((i + 1)); done
		AT=$((NOW + 30)) pam_auth svc alice "$C1"
		check "no free inode, no lock file yet: login refused" refused $?
		check "no free inode, no lock file yet: logged" logged "user=alice owner=cluster1: login refused: cannot record the attempt: no space"
		rm -f "$TP_STORE"/fill.*
		AT=$((NOW + 30)) pam_auth svc alice "$C1"
		check "inodes freed: the refused code now works" test $? -eq 0
		umount "$TP_STORE"; MNT=0
	else
		skip "no free inode" "cannot mount tmpfs with nr_inodes"
	fi
fi

# ---- a read-only file system (pam.sh has the TOTP step) -----------------
if mount -t tmpfs -o size=1m,mode=0755 tp-faults "$TP_STORE" 2> "$T/mount.err"; then
	MNT=1
	mkprofile alice
	mkprofile bob codes=12345678
	mkprofile tpadmin
	mkprofile root enabled=0
	before=$(snap "$TP_STORE")
	if mount -o remount,ro "$TP_STORE" 2> "$T/mount.err"; then
		clear_log
		AT=$NOW pam_auth svc bob 12345678
		check "read-only store: emergency code refused" refused $?
		check "read-only store: emergency refusal logged" \
			logged "user=bob owner=cluster1: login refused: cannot record the attempt: store is read-only"
		AT=$NOW pam_auth svc tpadmin 000000
		check "read-only store: wrong code refused, logged" \
			bash -c "[ $? -ne 0 ] && grep -q 'user=tpadmin owner=cluster1: login refused: cannot record the attempt: store is read-only' '$TP_SYSLOG'"
		ctl create --no-qr
		check "read-only store: totpctl create fails with error 5" ctl_err 5 "read-only"
		ctl modify --owner cluster1 --account alice --comment new
		check "read-only store: totpctl modify fails with error 5" ctl_err 5 "read-only"
		ctl delete --owner cluster1 --account alice
		check "read-only store: totpctl delete fails with error 5" ctl_err 5 "read-only"
		check "read-only store: nothing changed" same_as "$before"
		ctl show --owner cluster1 --account alice --json
		check "read-only store: totpctl show still works" \
			bash -c "[ $RC -eq 0 ] && grep -q '\"alice\"' '$T/out'"
		mount -o remount,rw "$TP_STORE"
		check "read-only store: profile files byte-identical afterwards" same_as "$before"
		check "read-only store: emergency code still unspent" test "$(profile_state bob | cut -d' ' -f5)" -eq 1
	else
		skip "read-only store" "cannot remount tmpfs read-only ($(head -n 1 "$T/mount.err"))"
	fi
	umount "$TP_STORE"; MNT=0
else
	skip "read-only store" "cannot mount tmpfs ($(head -n 1 "$T/mount.err"))"
fi

# ---- the config file ----------------------------------------------------
mkprofile alice
ctl_conf_refused() {    # NAME TEXT: module and totpctl refuse, both say TEXT
	local name=$1 text=$2
	clear_log
	AT=$NOW pam_auth svc alice "$C0"
	check "$name: login refused" refused $?
	check "$name: logged" logged "configuration error, refusing login: .*$text"
	ctl list
	check "$name: totpctl fails with error 5 and says why" ctl_err 5 "$text"
}
chmod 0664 "$TP_CONF"
ctl_conf_refused "config writable by its group" "must not be writable by group or others"
write_config
chown 4001 "$TP_CONF"
ctl_conf_refused "config owned by another user" "must be owned by root"
write_config
mv "$TP_CONF" "$T/real.conf"
ln -s "$T/real.conf" "$TP_CONF"
ctl_conf_refused "symlinked config" "is a symbolic link"
rm -f "$TP_CONF"
ctl list
check "missing config: totpctl fails with error 5 and names the file" ctl_err 5 "$TP_CONF"
write_config

# ---- the store folder ---------------------------------------------------
store_refused() {       # NAME TEXT
	local name=$1 text=$2
	clear_log
	AT=$NOW pam_auth svc alice "$C0"
	check "$name: login refused" refused $?
	check "$name: logged" logged "profile store unavailable, refusing login: .*$text"
	ctl show --owner cluster1 --account alice
	check "$name: totpctl fails with error 5 and says why" ctl_err 5 "$text"
}
chmod 0775 "$TP_STORE"
store_refused "group-writable store" "not writable by group or others"
chmod 0755 "$TP_STORE"
chown 4001 "$TP_STORE"
store_refused "store owned by another user" "must be owned by root"
chown 0 "$TP_STORE"
mv "$TP_STORE" "$T/store.real"
ln -s "$T/store.real" "$TP_STORE"
store_refused "symlinked store folder" "is a symbolic link"
rm -f "$TP_STORE"
store_refused "missing store" "No such file"
mv "$T/store.real" "$TP_STORE"

# ---- the owner folder ---------------------------------------------------
owner_refused() {       # NAME TEXT
	local name=$1 text=$2
	clear_log
	AT=$NOW pam_auth svc alice "$C0"
	check "$name: login refused" refused $?
	check "$name: logged" logged "user=alice owner=cluster1: profile unreadable, refusing login: .*$text"
	ctl show --owner cluster1 --account alice
	check "$name: totpctl show fails with error 5 and says why" ctl_err 5 "$text"
	ctl modify --owner cluster1 --account alice --comment x
	check "$name: totpctl modify fails with error 5" ctl_err 5 "$text"
}
mkprofile alice
chmod 0755 "$TP_STORE/$U"
owner_refused "owner folder with mode 0755" "must be owned by uid 0 with mode 0700"
chmod 0700 "$TP_STORE/$U"
chown 4001 "$TP_STORE/$U"
owner_refused "owner folder owned by another user" "must be owned by uid 0 with mode 0700"
chown 0 "$TP_STORE/$U"

# a symlinked owner folder pointing at a folder with a valid profile
mkprofile alice
mv "$TP_STORE/$U" "$T/elsewhere"
ln -s "$T/elsewhere" "$TP_STORE/$U"
before=$(snap "$T/elsewhere")
owner_refused "symlinked owner folder" "is a symbolic link"
ctl create --no-qr
check "symlinked owner folder: totpctl create fails with error 5" ctl_err 5 "is a symbolic link"
ctl delete --owner cluster1 --account alice
check "symlinked owner folder: totpctl delete fails with error 5" ctl_err 5 "is a symbolic link"
after=$(snap "$T/elsewhere")
check "symlinked owner folder: its target is unchanged" test "$after" = "$before"
rm -f "$TP_STORE/$U"
mv "$T/elsewhere" "$TP_STORE/$U"

# ---- profile files ------------------------------------------------------
# file_refused NAME TEXT TARGET: what owner_refused checks, and every other
# totpctl verb refuses the unsafe profile too; TARGET (what a link points
# at) is left as it was
file_refused() {
	local name=$1 text=$2 target=$3 sum
	sum=$(sha256sum < "$target")
	owner_refused "$name" "$text"
	ctl modify --owner cluster1 --account alice --enabled false
	check "$name: totpctl modify --enabled fails with error 5" ctl_err 5 "$text"
	ctl list --json
	check "$name: totpctl list leaves it out" bash -c "[ $RC -eq 0 ] && ! grep -q '\"alice\"' '$T/out'"
	check "$name: the target is unchanged" test "$(sha256sum < "$target")" = "$sum"
}

# a symlink to a valid profile outside the store
mkprofile alice
mv "$P" "$T/outside.ini"
ln -s "$T/outside.ini" "$P"
file_refused "symlinked profile (outside the store)" "is a symbolic link" "$T/outside.ini"
ctl delete --owner cluster1 --account alice
check "symlinked profile: totpctl delete leaves the target alone" \
	bash -c "[ -f '$T/outside.ini' ] && [ ! -L '$T/outside.ini' ]"
rm -f "$P" "$T/outside.ini"

mkprofile alice
ln "$P" "$T/hardlink"
file_refused "hard-linked profile" "one link" "$T/hardlink"
rm -f "$T/hardlink"

mkprofile alice
chmod 0640 "$P"
file_refused "group-readable profile" "mode 0600" "$P"
chmod 0600 "$P"

rm -f "$P"
mkfifo -m 0600 "$P"
start=$(date +%s)
file_refused "profile that is a FIFO" "must be a regular file" "/dev/null"
# a login and two totpctl calls take a second or two at load 13; an open
# that waits for a writer waits until pam_auth's 30 s watchdog
check "profile that is a FIFO: nothing waited for a writer" test $(( $(date +%s) - start )) -lt 20
rm -f "$P"

mkdir -m 0700 "$P"
file_refused "profile that is a folder" "refused" "/dev/null"
rmdir "$P"

# ---- fail closed where PAM_IGNORE would let the user in -----------------
# The module `required`, then pam_permit: a fault answered with PAM_IGNORE
# (or success) would log the user in.  pamtester prints the stack's result,
# so each case also checks the exact PAM error.
pam_stack open "auth required $MODULE config=$TP_CONF" "auth required pam_permit.so"
UNAVAIL="Authentication service cannot retrieve authentication info"
SERVICE_ERR="Error in service module"
# open_refused NAME PAM_MESSAGE [SERVICE]: refused with exactly that error
open_refused() {
	local name=$1 msg=$2 svc=${3:-open} rc
	AT=$NOW pam_auth "$svc" alice "$C0"
	rc=$?
	check "$name, permissive stack: refused with \"$msg\"" \
		bash -c "[ $rc -ne 0 ] && grep -q 'pamtester: $msg' '$T/pam.out' && ! grep -q successfully '$T/pam.out'"
}
mkprofile alice
pam_stack open_noconf "auth required $MODULE config=$T/nope.conf" "auth required pam_permit.so"
open_refused "missing config" "$UNAVAIL" open_noconf
pam_stack open_owner "auth required $MODULE config=$TP_CONF owner=nosuchsvm" "auth required pam_permit.so"
open_refused "owner not in the config" "$SERVICE_ERR" open_owner
pam_stack open_opt "auth required $MODULE config=$TP_CONF nullokk" "auth required pam_permit.so"
open_refused "unknown module option" "$SERVICE_ERR" open_opt
pam_stack open_delay "auth required $MODULE config=$TP_CONF fail_delay=2s" "auth required pam_permit.so"
open_refused "malformed fail_delay" "$SERVICE_ERR" open_delay
chmod 0775 "$TP_STORE"
open_refused "group-writable store" "$UNAVAIL"
chmod 0755 "$TP_STORE"
mv "$TP_STORE" "$T/store.away"
open_refused "missing store" "$UNAVAIL"
mv "$T/store.away" "$TP_STORE"
mkprofile alice
chmod 0644 "$P"
open_refused "profile with mode 0644 (unreadable)" "$UNAVAIL"
mkprofile alice
head -c 100 "$P" > "$T/trunc" && cat "$T/trunc" > "$P"
open_refused "truncated profile (corrupt)" "$UNAVAIL"
mkprofile alice
# another holder keeps the account's lock past the store's 10 s limit
flock "$TP_STORE/$U/.alice.lock" sleep 15 &
holder=$!
# held once flock has run its command (a fixed wait raced with load)
for _ in $(seq 200); do pgrep -P $holder -x sleep > /dev/null && break; sleep 0.05; done
clear_log
open_refused "account lock held too long" "$UNAVAIL"
check "account lock held too long: logged" logged "user=alice owner=cluster1: login refused: cannot record the attempt: .*still locked after"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# ---- lock and temp files ------------------------------------------------
mkprofile alice
echo "not a lock" > "$T/lock.target"
rm -f "$TP_STORE/$U/.alice.lock"
ln -s "$T/lock.target" "$TP_STORE/$U/.alice.lock"
sum=$(sha256sum < "$P")
clear_log
AT=$NOW pam_auth svc alice "$C0"
check "symlinked lock file: login refused" refused $?
check "symlinked lock file: logged" logged "user=alice owner=cluster1: .*refus.*is a symbolic link"
ctl modify --owner cluster1 --account alice --comment x
check "symlinked lock file: totpctl modify fails with error 5" ctl_err 5 "is a symbolic link"
check "symlinked lock file: target and profile unchanged" \
	bash -c "[ \"\$(cat '$T/lock.target')\" = 'not a lock' ] && [ \"\$(sha256sum < '$P')\" = '$sum' ]"
rm -f "$TP_STORE/$U/.alice.lock"

# a stale temp file that is a symlink is removed, never written through
mkprofile alice
echo "keep me" > "$T/tmp.target"
ln -s "$T/tmp.target" "$TP_STORE/$U/.alice.tmp"
AT=$NOW pam_auth svc alice "$C0"
check "symlinked stale temp file: login works" test $? -eq 0
check "symlinked stale temp file: its target is unchanged" test "$(cat "$T/tmp.target")" = "keep me"
check "symlinked stale temp file: the step was recorded in the profile" \
	test "$(profile_state alice | cut -d' ' -f2)" -eq $((NOW / 30))

# ---- a fault that cannot be recorded, in a stack that would let IGNORE in --
# With a module before this one that already said yes, PAM_IGNORE from
# this module would be a login without a second factor: a right code that
# cannot be recorded (here: the lock file is a symlink) must be refused
# with PAM_AUTHINFO_UNAVAIL, never ignored.
pam_stack permit_first_record "auth required pam_permit.so" \
	"auth required $MODULE config=$TP_CONF" "account required pam_permit.so"
mkprofile alice
rm -f "$TP_STORE/$U/.alice.lock"
ln -s "$T/lock.target" "$TP_STORE/$U/.alice.lock"
clear_log
AT=$NOW pam_auth permit_first_record alice "$C0"
check "unrecordable attempt behind pam_permit: login refused" refused $?
# (the login state lives in the lock file, so the first read already
# finds it unsafe)
check "unrecordable attempt behind pam_permit: logged as such" \
	logged "user=alice owner=cluster1: \(login refused: cannot record the attempt\|profile unreadable, refusing login\)"
rm -f "$TP_STORE/$U/.alice.lock"
