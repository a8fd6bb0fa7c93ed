#!/bin/sh
# Makes a Debian bookworm base image from Debian's packages (debootstrap,
# minbase) and loads it with docker import, for engines that cannot pull.
# Usage: docker/make-base.sh [IMAGE]   (default zlog-base/debian:bookworm)
set -eu
image=${1:-zlog-base/debian:bookworm}
if docker image inspect "$image" >/dev/null 2>&1; then
	echo "base image $image present"
	exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	apt-get update -qq && apt-get install -y -qq debootstrap
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "building $image with debootstrap (about 30 s)"
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 || { tail -20 "$root.log"; exit 1; }
rm -f "$root.log"
tar -C "$root" -c . | docker import - "$image"
