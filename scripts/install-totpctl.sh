#!/bin/sh
# Install totpctl setuid to the store user and setgid to that user's
# primary group (never root), and the store folder owned by that user.
# setgid: every file totpctl creates in the store gets the store's group,
# not the primary group of whoever happened to run it.  Called by `make install` with:
#   DESTDIR BINDIR STOREDIR STORE_USER TOTPCTL (the built binary)
# The system account is created (useradd --system) when it is missing,
# unless DESTDIR is set: a staged install (packaging) leaves the account,
# the owner and the setuid/setgid bits to the package's maintainer scripts
# (debian/libpam-totp-profile.postinst: dpkg-statoverride), and installs
# a plain 0755 binary.
set -eu

: "${BINDIR:?}" "${STOREDIR:?}" "${STORE_USER:?}" "${TOTPCTL:?}"
DESTDIR=${DESTDIR:-}

case "$STORE_USER" in
root|0|'') echo "install-totpctl: STORE_USER must be a dedicated non-root account" >&2
	   exit 1 ;;
esac

if ! getent passwd "$STORE_USER" >/dev/null; then
	if [ -n "$DESTDIR" ]; then
		echo "install-totpctl: $STORE_USER does not exist; create it before use" \
		     "(useradd --system --no-create-home --shell /usr/sbin/nologin $STORE_USER)" >&2
	else
		useradd --system --no-create-home --home-dir "$STOREDIR" \
			--shell /usr/sbin/nologin "$STORE_USER"
	fi
fi

if [ -z "$DESTDIR" ] && getent passwd "$STORE_USER" >/dev/null; then
	uid=$(getent passwd "$STORE_USER" | cut -d: -f3)
	if [ "$uid" = 0 ]; then
		echo "install-totpctl: $STORE_USER has uid 0; refusing to install setuid root" >&2
		exit 1
	fi
	gid=$(getent passwd "$STORE_USER" | cut -d: -f4)
	if [ "$gid" = 0 ]; then
		echo "install-totpctl: $STORE_USER's primary group is gid 0; refusing to" \
		     "install setgid root (give it a group of its own)" >&2
		exit 1
	fi
	owner="$STORE_USER"
else
	owner=""                       # staged: ownership set at package install
fi

install -d -m 0755 "$DESTDIR$BINDIR"
install -d -m 0755 "$DESTDIR$STOREDIR"
install -m 0755 "$TOTPCTL" "$DESTDIR$BINDIR/totpctl.new"
if [ -n "$owner" ]; then
	chown "$owner:" "$DESTDIR$STOREDIR" "$DESTDIR$BINDIR/totpctl.new"
	# u+s,g+s after chown: chown clears both bits
	chmod 6755 "$DESTDIR$BINDIR/totpctl.new"
fi
mv -f "$DESTDIR$BINDIR/totpctl.new" "$DESTDIR$BINDIR/totpctl"
