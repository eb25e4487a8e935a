#!/bin/sh
# Install every Debian package that the build, the tests, the demo and the
# benchmarks need.  Idempotent: when everything is present it prints nothing
# and touches nothing, so it is cheap to call from every entry point.
set -eu

# postgresql: make check-pg runs a throwaway server; pgcrypto ships in
# postgresql-15 itself (postgresql-contrib only points at it); pgbouncer:
# tests/pg/pgbouncer.sh puts a pooler in front of it
PACKAGES="
build-essential pkg-config clang libclang-rt-14-dev
libpam0g-dev libssl-dev libconfig-dev libiniparser-dev libjansson-dev
libqrencode-dev libcmocka-dev libmicrohttpd-dev curl libpq-dev
pamtester libpam-wrapper libnss-wrapper openssh-server openssh-client
faketime oathtool valgrind python3 util-linux procps
postgresql postgresql-contrib pgbouncer
"
if [ "${1:-}" = "--bench" ]; then
	PACKAGES="$PACKAGES libpam-google-authenticator libpam-oath"
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0) to install them" >&2
	exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
