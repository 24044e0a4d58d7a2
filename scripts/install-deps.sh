#!/usr/bin/env bash
# Installs the Debian 12 packages tern needs to build and test, only those
# missing (idempotent), and the unprivileged system user `tern` that
# `tern serve` drops to. Run as root.
set -euo pipefail

packages=(
	# build
	meson ninja-build pkg-config gcc libc6-dev clang libclang-rt-14-dev
	libssl-dev libunbound-dev libyaml-dev libcmocka-dev libsqlite3-dev libsodium-dev libidn2-dev libjansson-dev libarchive-dev libxml2-dev zlib1g-dev libcurl4-openssl-dev
	# libunbound's pkg-config file names these, so they must be present
	libevent-dev nettle-dev libgmp-dev
	# run: the DNSSEC root trust anchor used when none is configured
	dns-root-data
	# run: the Public Suffix List (DMARC organizational domains)
	publicsuffix
	# tests: Python clients and fixtures, the DNS servers and zone signing
	python3 python3-pytest python3-dnslib python3-yaml nsd ldnsutils openssl
	# tests: a test CA and certificates for the SMTP client (MTA-STS, DANE)
	python3-cryptography
	# tests: named-checkzone, for the zone fragment of tern quickstart
	bind9utils
	# tests: network namespaces for servers on the standard ports
	iproute2
	# tests: real SMTP peers (a private Postfix relay instance, swaks; swaks
	# needs Net::SSLeay, one of its Recommends, for STARTTLS)
	postfix swaks libnet-ssleay-perl
	# tests: DKIM interop (opendkim-testmsg, opendkim-genkey)
	opendkim-tools
	# tests: IMAP peers: Dovecot (imaptest scripts and benchmarks compared
	# against it), and real clients (mbsync, offlineimap, fetchmail, mutt in tmux)
	dovecot-imapd isync offlineimap3 fetchmail mutt tmux
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# postfix asks what kind of mail system this is: none. Tests run their own
	# instances (postfix -c DIR) on loopback ports.
	if [[ " ${missing[*]} " == *" postfix "* ]]; then
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nsd's package starts a system nsd; tests run their own on loopback ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nsd 2>/dev/null; then
	systemctl stop nsd || true
fi

# dovecot's package may start a system Dovecot; tests run their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
	systemctl stop dovecot || true
fi

if [ "$(id -u)" = 0 ] && ! getent passwd tern >/dev/null; then
	useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tern
	echo "install-deps: created system user tern"
fi
