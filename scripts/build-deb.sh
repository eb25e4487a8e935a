#!/bin/sh
# make deb: build the Debian packages (debian/) into OUT with
# `dpkg-buildpackage -us -uc -b`, from a copy of the tree in OUT/src (the
# build writes its packages next to the source folder, and the copy keeps
# this tree's build/ out of it).  Then lintian, which must report no error
# and no warning that debian/*.lintian-overrides does not justify.
#
#   scripts/build-deb.sh OUT [VERSION]
#
# VERSION: build as this version, with a changelog entry of its own (the
# upgrade test in tests/deb/check.sh builds a "next" version this way).
set -eu
OUT=${1:?usage: build-deb.sh OUT [VERSION]}
VERSION=${2:-}
TOP=$(cd "$(dirname "$0")/.." && pwd)

for tool in dpkg-buildpackage dh; do
	if ! command -v $tool > /dev/null; then
		echo "build-deb: $tool is missing: sh scripts/install-deps.sh --deb" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC="$OUT/src/pam-totp-profile"
rm -rf "$OUT/src"
mkdir -p "$SRC"
# the tree as it is (uncommitted changes included), without build output
(cd "$TOP" && tar --exclude=./.git --exclude='./build*' --exclude=./bench/out \
	--exclude='./crash-*' --exclude='./leak-*' --exclude='./timeout-*' -cf - .) |
	tar -C "$SRC" -xf -
if [ -n "$VERSION" ]; then
	# a day after the entry it follows (lintian wants a later date)
	prev=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Date)
	{
		echo "pam-totp-profile ($VERSION) bookworm; urgency=medium"
		echo
		echo "  * Rebuilt as $VERSION."
		echo
		echo " -- $(sed -n 's/^Maintainer: //p' "$SRC/debian/control")  $(LC_ALL=C date -R -d "$prev + 1 day")"
		echo
		cat "$SRC/debian/changelog"
	} > "$SRC/debian/changelog.new"
	mv "$SRC/debian/changelog.new" "$SRC/debian/changelog"
fi
# noddebs: `apt install ./build/deb/*.deb` installs the two packages only
(cd "$SRC" && DEB_BUILD_OPTIONS="noddebs nocheck parallel=2" \
	dpkg-buildpackage -us -uc -b > "$OUT/build.log" 2>&1) || {
	tail -n 40 "$OUT/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed; the whole log is $OUT/build.log" >&2
	exit 1
}
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
mv "$OUT"/src/*.deb "$OUT"/src/*.changes "$OUT"/src/*.buildinfo "$OUT"/
ls "$OUT"/*.deb
if command -v lintian > /dev/null; then
	# --fail-on warning: a warning is fixed or overridden with its reason
	lintian --fail-on error,warning --pedantic -I "$OUT"/*.changes 2>&1 |
		grep -v '^running with root privileges is not recommended' | tee "$OUT/lintian.log"
	echo
	status=$(sed -n 's/^\([EW]\): .*/\1/p' "$OUT/lintian.log" | head -n 1)
	if [ -n "$status" ]; then
		echo "build-deb: lintian reports errors or warnings ($OUT/lintian.log)" >&2
		exit 1
	fi
	echo "lintian: no error, no warning"
else
	echo "build-deb: lintian is not installed (sh scripts/install-deps.sh --deb); not checked" >&2
fi
