#!/usr/bin/env bash
# The peer for bench/smtp_bench.sh: Postfix -> LMTP -> Dovecot, each from its
# own configuration, all of it under WORKDIR and on loopback only.
#
#   bench/smtp_peer.sh start WORKDIR PORT   (as root)
#   bench/smtp_peer.sh stop  WORKDIR
#
# start installs postfix, dovecot-core and dovecot-lmtpd with apt-get when
# missing, stops the system's own postfix/dovecot if they run, then starts
#   - Postfix (postfix -c WORKDIR/postfix/conf) listening on 127.0.0.1:PORT
#     only, mydestination = example.test, local_transport = lmtp over the
#     unix socket WORKDIR/dovecot/run/lmtp, queue in WORKDIR/postfix/queue;
#   - Dovecot (dovecot -c WORKDIR/dovecot/dovecot.conf), protocols = lmtp
#     only, one user bench@example.test (uid of system user ternbench) in a
#     passwd-file, maildir WORKDIR/mail/bench/Maildir, fsync at its default.
# and checks that a probe message sent to 127.0.0.1:PORT lands as a file in
# that maildir (the probe stays there; it prints the maildir path on stdout). Postfix logs to WORKDIR/postfix/maillog, Dovecot to
# WORKDIR/dovecot/dovecot.log.
#
# /etc/postfix/main.cf is neither needed nor touched: Postfix checks
# alternate_config_directories only for callers that are not root
# (mail_conf_read: geteuid() != 0), and everything here runs as root.
set -euo pipefail

usage() {
	echo "usage: $0 start WORKDIR PORT | stop WORKDIR" >&2
	exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
work=$(realpath -m "$2")
pfdir=$work/postfix/conf
pfqueue=$work/postfix/queue
pfdata=$work/postfix/data
pflog=$work/postfix/maillog
dvdir=$work/dovecot
maildir=$work/mail/bench/Maildir
mailuser=ternbench

prog=smtp_peer
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root"

install_packages() {
	local missing=()
	command -v postfix >/dev/null || missing+=(postfix)
	command -v dovecot >/dev/null || missing+=(dovecot-core)
	[ -x /usr/lib/dovecot/lmtp ] || missing+=(dovecot-lmtpd)
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	echo "postfix postfix/mailname string bench.example.test" | debconf-set-selections
	apt_install "${missing[@]}"
}

# The distribution's own instances must not hold port 25, 143, ... nor start
# at boot; installing may have started them where no policy-rc.d stops it.
stop_system_services() {
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now postfix dovecot >/dev/null 2>&1 || true
		return 0
	fi
	local s
	for s in postfix dovecot; do
		if command -v update-rc.d >/dev/null; then
			update-rc.d "$s" disable >/dev/null 2>&1 || true
		fi
	done
	# Only instances of the default configuration, and only when running:
	# other Postfix/Dovecot instances on this machine are left alone.
	if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
		log "stopping the system's Postfix"
		/etc/init.d/postfix stop >/dev/null 2>&1 || postfix stop >/dev/null 2>&1 || true
	fi
	if [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
		log "stopping the system's Dovecot"
		/etc/init.d/dovecot stop >/dev/null 2>&1 || doveadm stop >/dev/null 2>&1 || true
	fi
}

write_postfix() {
	local port=$1
	# postfix-script wants everything under the config directory owned by
	# root, so queue and data sit beside it, not inside.
	mkdir -p "$pfdir" "$pfqueue" "$pfdata"
	chown root:root "$pfqueue"
	chmod 755 "$pfqueue"
	chown postfix:postfix "$pfdata"
	chmod 700 "$pfdata"
	cat >"$pfdir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pfqueue
data_directory = $pfdata
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-ternbench
maillog_file = $pflog
maillog_file_prefixes = $work/postfix
myhostname = peer.example.test
mydomain = example.test
myorigin = example.test
mydestination = example.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP
biff = no
alias_maps =
alias_database =
local_recipient_maps =
local_transport = lmtp:unix:$dvdir/run/lmtp
relay_transport = error:relay disabled in the benchmark peer
default_transport = error:relay disabled in the benchmark peer
smtputf8_enable = no
EOF
	# Every service runs unchrooted so the lmtp client reaches the socket.
	cat >"$pfdir/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

write_dovecot() {
	local uid gid
	system_user "$mailuser"
	mkdir -p "$dvdir/run" "$dvdir/state" "$work/mail/bench"
	chown -R "$uid:$gid" "$work/mail"
	printf 'bench@example.test::%s:%s::%s::\n' "$uid" "$gid" "$work/mail/bench" >"$dvdir/users"
	chmod 644 "$dvdir/users"
	cat >"$dvdir/dovecot.conf" <<EOF
instance_name = dovecot-ternbench
base_dir = $dvdir/run
state_dir = $dvdir/state
log_path = $dvdir/dovecot.log
info_log_path = $dvdir/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
first_valid_uid = $uid
last_valid_uid = $uid
mail_location = maildir:~/Maildir
mail_privileged_group =
passdb {
  driver = passwd-file
  args = $dvdir/users
}
userdb {
  driver = passwd-file
  args = $dvdir/users
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
EOF
}

maildir_count() {
	{ find "$maildir/new" "$maildir/cur" -type f 2>/dev/null || true; } | wc -l
}

probe() {
	local port=$1 before
	before=$(maildir_count)
	/usr/sbin/smtp-source -c -m 1 -s 1 -l 300 -f probe@example.test -t bench@example.test \
		-M peer-probe.example.test "127.0.0.1:$port" >/dev/null ||
		die "probe message to 127.0.0.1:$port was refused"
	for _ in $(seq 1 200); do
		if [ "$(maildir_count)" -gt "$before" ]; then
			log "probe delivered into $maildir"
			return 0
		fi
		sleep 0.05
	done
	die "probe message never reached $maildir; see $pflog and $dvdir/dovecot.log"
}

do_stop() {
	if [ -f "$pfdir/main.cf" ]; then
		postfix -c "$pfdir" stop >/dev/null 2>&1 || postfix -c "$pfdir" abort >/dev/null 2>&1 || true
	fi
	if [ -f "$dvdir/dovecot.conf" ]; then
		doveadm -c "$dvdir/dovecot.conf" stop >/dev/null 2>&1 || true
		if [ -f "$dvdir/run/master.pid" ]; then
			kill "$(cat "$dvdir/run/master.pid")" 2>/dev/null || true
		fi
	fi
	# Wait for both masters to be gone so WORKDIR can be removed.
	for _ in $(seq 1 50); do
		if ! postfix -c "$pfdir" status >/dev/null 2>&1 &&
			! { [ -f "$dvdir/run/master.pid" ] && kill -0 "$(cat "$dvdir/run/master.pid")" 2>/dev/null; }; then
			break
		fi
		sleep 0.1
	done
}

case $cmd in
start)
	[ $# -eq 3 ] || usage
	port=$3
	mkdir -p "$work"
	chmod 755 "$work"
	# A failed start leaves nothing running behind it.
	trap start_exit EXIT
	install_packages
	stop_system_services
	if port_open "$port"; then
		die "port $port is already in use"
	fi
	write_dovecot
	write_postfix "$port"
	dovecot -c "$dvdir/dovecot.conf" || die "dovecot did not start; see $dvdir/dovecot.log"
	for _ in $(seq 1 50); do
		[ -S "$dvdir/run/lmtp" ] && break
		sleep 0.1
	done
	[ -S "$dvdir/run/lmtp" ] || die "dovecot lmtp socket missing; see $dvdir/dovecot.log"
	postfix -c "$pfdir" check >"$work/postfix/check.log" 2>&1 || die "postfix check failed: $(cat "$work/postfix/check.log")"
	postfix -c "$pfdir" start >"$work/postfix/start.log" 2>&1 ||
		die "postfix did not start: $(cat "$work/postfix/start.log"; tail -5 "$pflog" 2>/dev/null)"
	wait_port "$port" || die "postfix never listened on 127.0.0.1:$port; see $pflog"
	probe "$port"
	echo "$maildir"
	;;
stop)
	do_stop
	;;
*)
	usage
	;;
esac
