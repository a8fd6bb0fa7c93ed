#!/bin/bash
# Builds libzmq as a static library into PREFIX (PREFIX/lib/libzmq.a and
# its pkg-config file), from Debian's own source package: the version the
# distribution ships, with its patches. CURVE over libsodium; no gssapi,
# pgm or norm, whose Debian packages ship no static libraries.
#
# Used by the image (docker/Dockerfile) and by `make build` for a static
# logq: a search is one short process, and loading libzmq.so with the 18
# libraries behind it was about half of logq's start-up (measured: 19.8 ms
# CPU for `logq --help` dynamic, 9.6 ms static, on a 2-core VM).
#
# Needs cmake, g++, dpkg-dev and libsodium-dev. The source index is read
# into a directory of its own, so the host's apt configuration is left as
# it is. Does nothing when PREFIX already holds the library.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 PREFIX" >&2; exit 2; }
prefix=$(realpath -m "$1")
[ -f "$prefix/lib/libzmq.a" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. /etc/os-release
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
signed=""
[ -f "$keyring" ] && signed="[signed-by=$keyring] "
echo "deb-src ${signed}${mirror} ${VERSION_CODENAME} main" > "$work/sources.list"
mkdir -p "$work/lists/partial" "$work/cache" "$work/parts" "$work/src"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
	-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
	-o APT::Sandbox::User="$(id -un)")
apt-get "${apt_opts[@]}" update -qq
(cd "$work/src" && apt-get "${apt_opts[@]}" source -qq zeromq3 >/dev/null)

log="$work/log"
trap 'cat "$log" >&2' ERR
cmake -S "$work"/src/zeromq3-*/ -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
	-DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED=OFF -DBUILD_STATIC=ON -DBUILD_TESTS=OFF -DWITH_DOCS=OFF \
	-DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DENABLE_DRAFTS=OFF -DWITH_LIBBSD=OFF >"$log" 2>&1
cmake --build "$work/build" -j"$(nproc)" >>"$log" 2>&1
# Installed last and whole, so an interrupted build leaves no half library.
cmake --install "$work/build" --prefix "$work/inst" >>"$log" 2>&1
if [ -e "$prefix" ]; then
	echo "$0: $prefix exists but holds no lib/libzmq.a; remove it first" >&2
	exit 1
fi
mkdir -p "$(dirname "$prefix")"
mv "$work/inst" "$prefix"
# The pkg-config file names the prefix it was configured with: the same.
echo "libzmq $(pkg-config --modversion --with-path "$prefix/lib/pkgconfig" libzmq 2>/dev/null || echo '?') (static) in $prefix"
