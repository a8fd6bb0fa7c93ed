#!/usr/bin/env bash
# Unpacks rsyslog and syslog-ng from Debian's packages into DIR/root, without
# installing them: they conflict with each other as packages, and neither may
# become this machine's system logger. Their shared-library dependencies are
# installed normally (they start nothing).
set -euo pipefail
dir=${1:?usage: peers.sh DIR}
mkdir -p "$dir"
cd "$dir"
if [ -x root/usr/sbin/rsyslogd ] && [ -x root/usr/sbin/syslog-ng ]; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
deps="libestr0 libfastjson4 liblognorm5 libivykis0 libjson-c5 libnet1 libpcre3 libwrap0"
missing=""
for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
rm -f ./*.deb
apt-get download rsyslog syslog-ng-core >/dev/null 2>&1 || { $SUDO apt-get update -qq; apt-get download rsyslog syslog-ng-core >/dev/null; }
for deb in ./*.deb; do dpkg -x "$deb" root; done
