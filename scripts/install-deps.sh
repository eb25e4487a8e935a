#!/bin/sh
# Install the Debian packages a job needs, and nothing more:
#
#   install-deps.sh            building and running (a server builds with this)
#   install-deps.sh --test     + the test tools: make check, make demo, check-pg,
#                              fuzz, valgrind (pamtester, pam_wrapper, sshd,
#                              postgresql, clang, ...)
#   install-deps.sh --bench    + the peer modules make bench compares against
#   install-deps.sh --deb      + debhelper and lintian: make deb, make check-deb
#
# Flags combine (`--test --bench`).  The test set is kept off servers on
# purpose: Debian's postgresql creates and starts a cluster, and a server
# has no use for pam_wrapper, faketime or a compiler's fuzzing runtime.
# Idempotent: when everything is present it prints nothing and touches
# nothing, so it is cheap to call from every entry point.
set -eu

# the compiler, and the -dev packages whose libraries the product links
# (their runtime libraries come with them); libpq-dev: lib/store_pg.c's
# header (libpq itself is loaded only when the PostgreSQL store is used)
PACKAGES="
build-essential pkg-config
libpam0g-dev libssl-dev libconfig-dev libiniparser-dev libjansson-dev
libqrencode-dev libmicrohttpd-dev libpq-dev
"
# postgresql: make check-pg runs a throwaway server; pgcrypto ships in
# postgresql-15 itself (postgresql-contrib only points at it); pgbouncer:
# tests/pg/pgbouncer.sh puts a pooler in front of it; systemd:
# systemd-socket-activate, for totpd's socket activation check (a stock
# Debian has it; a minimal container does not, and the check would skip)
TEST_PACKAGES="
clang libclang-rt-14-dev libcmocka-dev curl
pamtester libpam-wrapper libnss-wrapper openssh-server openssh-client
faketime oathtool valgrind python3 util-linux procps
postgresql postgresql-contrib pgbouncer systemd
"
BENCH_PACKAGES="libpam-google-authenticator libpam-oath"
DEB_PACKAGES="debhelper lintian fakeroot dpkg-dev"

for flag in "$@"; do
	case "$flag" in
	--test)  PACKAGES="$PACKAGES $TEST_PACKAGES" ;;
	--bench) PACKAGES="$PACKAGES $BENCH_PACKAGES" ;;
	--deb)   PACKAGES="$PACKAGES $DEB_PACKAGES" ;;
	*) echo "usage: install-deps.sh [--test] [--bench] [--deb]" >&2
	   exit 2 ;;
	esac
done

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: sudo $0 $*) to install them" >&2
	exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
