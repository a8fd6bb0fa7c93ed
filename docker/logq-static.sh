#!/bin/bash
# Links logq fully static against the libzmq.a that docker/libzmq-static.sh
# built into PREFIX, writing OUT_DIR/logq; one recipe for `make build` and
# the tests' and the bench's builds (tests/harness). (The image links every
# binary static its own way, docker/Dockerfile.)
#
# glibc's getaddrinfo, getpwuid and dlopen stay usable in a static binary
# only with the host's own glibc, which is where this one runs (or, in the
# image, the only libc there is); ld's warnings saying so are silenced.
# netgo and osusergo keep Go's own resolver and user lookup off glibc.
#
# usage: logq-static.sh PREFIX OUT_DIR; LOGQ_TAGS (default sqlite_fts5) and
# LOGQ_LDFLAGS (e.g. the version) are the build's own tags and -ldflags.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PREFIX OUT_DIR" >&2; exit 2; }
prefix=$(realpath "$1") out=$(realpath -m "$2")
tags="${LOGQ_TAGS:-sqlite_fts5},netgo,osusergo"
ldflags='-linkmode external -extldflags "-static -Wl,--no-warnings -lsodium -lstdc++ -lm -lrt -lpthread"'
cd "$(dirname "$0")/.."
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" go build -tags "$tags" -ldflags "${LOGQ_LDFLAGS:-} $ldflags" -o "$out/" ./query/cmd/logq
