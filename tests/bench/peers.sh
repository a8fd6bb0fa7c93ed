#!/usr/bin/env bash
# Unpacks the peers and real senders the tests and benchmarks run into
# DIR/root, without installing them: rsyslog and syslog-ng (whose loggen is
# a sender too) conflict with each other as packages and neither may become
# this machine's system logger; systemd-journal-remote writes real journal
# files from journald's export format. Their shared-library dependencies
# are installed normally (they start nothing).
set -euo pipefail
dir=${1:?usage: peers.sh DIR}
mkdir -p "$dir"
cd "$dir"
if [ -x root/usr/sbin/rsyslogd ] && [ -x root/usr/sbin/syslog-ng ] && [ -x root/usr/bin/loggen ] &&
	[ -x root/lib/systemd/systemd-journal-remote ] &&
	ls root/usr/lib/*/rsyslog/omelasticsearch.so root/usr/lib/syslog-ng/*/libhttp.so root/usr/share/syslog-ng/include/scl/elasticsearch/elastic-http.conf >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
deps="libestr0 libfastjson4 liblognorm5 libivykis0 libjson-c5 libnet1 libpcre3 libwrap0 libmicrohttpd12 libcurl4"
missing=""
for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
rm -f ./*.deb
# rsyslog-elasticsearch and syslog-ng-mod-http: shippers of the
# Elasticsearch bulk API (omelasticsearch, elasticsearch-http()).
pkgs="rsyslog syslog-ng-core systemd-journal-remote rsyslog-elasticsearch syslog-ng-mod-http syslog-ng-scl"
apt-get download $pkgs >/dev/null 2>&1 || { $SUDO apt-get update -qq; apt-get download $pkgs >/dev/null; }
for deb in ./*.deb; do dpkg -x "$deb" root; done
