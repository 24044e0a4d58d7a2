#!/usr/bin/env bash
# The peer for bench/imap_bench.sh: Dovecot IMAP from its own configuration,
# everything under WORKDIR and on loopback only.
#
#   bench/imap_peer.sh start WORKDIR PORT   (as root)
#   bench/imap_peer.sh stop  WORKDIR
#   bench/imap_peer.sh pid   WORKDIR        (the master's pid)
#
# start expects the mailbox in WORKDIR/mail/bench/Maildir (imap_load gen
# writes it there), installs dovecot-imapd with apt-get when missing, stops
# the system's own Dovecot if it runs, then starts Dovecot (dovecot -c
# WORKDIR/dovecot/dovecot.conf) with
#   - protocols = imap, one listener on 127.0.0.1:PORT, no TLS, plain-text
#     LOGIN allowed (disable_plaintext_auth = no: loopback only);
#   - one user "bench", password "bench", in a passwd-file ({PLAIN}: the
#     cheapest password check), mail of system user ternbench in that
#     maildir, indexes beside it (Dovecot's default);
#   - limits raised so that 5,000+ connections can idle at once: imap-login
#     in high-performance mode (service_count = 0, one process per CPU
#     serving many clients), one imap process per connection (Dovecot's
#     default model) up to 10,000, client limits of auth, anvil and stats
#     raised to match, mail_max_userip_connections = 10000;
# and checks that "bench" can log in and SELECT INBOX. Logs go to
# WORKDIR/dovecot/dovecot.log.
set -euo pipefail

usage() {
	echo "usage: $0 start WORKDIR PORT | stop WORKDIR | pid WORKDIR" >&2
	exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
work=$(realpath -m "$2")
dvdir=$work/dovecot
maildir=$work/mail/bench/Maildir
mailuser=ternbench

prog=imap_peer
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root"

install_packages() {
	[ -x /usr/lib/dovecot/imap ] && command -v dovecot >/dev/null && return 0
	log "installing dovecot-imapd"
	apt_install dovecot-imapd
}

# The distribution's own Dovecot must not hold port 143 nor start at boot.
stop_system_dovecot() {
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now dovecot >/dev/null 2>&1 || true
		return 0
	fi
	if command -v update-rc.d >/dev/null; then
		update-rc.d dovecot disable >/dev/null 2>&1 || true
	fi
	if [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
		log "stopping the system's Dovecot"
		/etc/init.d/dovecot stop >/dev/null 2>&1 || doveadm stop >/dev/null 2>&1 || true
	fi
}

write_config() {
	local port=$1 uid gid
	system_user "$mailuser"
	mkdir -p "$dvdir/run" "$dvdir/state"
	chown -R "$uid:$gid" "$work/mail"
	printf 'bench:{PLAIN}bench:%s:%s::%s::\n' "$uid" "$gid" "$work/mail/bench" >"$dvdir/users"
	chmod 644 "$dvdir/users"
	cat >"$dvdir/dovecot.conf" <<EOF
instance_name = dovecot-imapbench
base_dir = $dvdir/run
state_dir = $dvdir/state
log_path = $dvdir/dovecot.log
info_log_path = $dvdir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = $uid
last_valid_uid = $uid
mail_location = maildir:~/Maildir
mail_privileged_group =
default_process_limit = 10000
default_client_limit = 20000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dvdir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dvdir/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = $(nproc)
  process_limit = $(($(nproc) * 2))
  client_limit = 10000
  vsz_limit = 1G
}
service imap {
  process_limit = 10000
  client_limit = 1
}
service auth {
  client_limit = 20000
}
service anvil {
  client_limit = 11000
}
service imap-urlauth-login {
  process_limit = 1
}
service stats {
  client_limit = 20000
}
protocol imap {
  mail_max_userip_connections = 10000
}
EOF
}

# Logs in as bench over plain TCP and selects INBOX; prints the EXISTS count.
probe() {
	local port=$1 out
	out=$(
		exec 3<>"/dev/tcp/127.0.0.1/$port"
		printf 'p1 LOGIN bench bench\r\np2 SELECT INBOX\r\np3 LOGOUT\r\n' >&3
		timeout 300 cat <&3
	) || true
	case $out in
	*"p2 OK"*) sed -n 's/^\* \([0-9]*\) EXISTS.*/\1/p' <<<"$out" | head -1 ;;
	*) die "probe on 127.0.0.1:$port failed: $(tr -d '\r' <<<"$out" | tail -3); see $dvdir/dovecot.log" ;;
	esac
}

master_pid() {
	[ -f "$dvdir/run/master.pid" ] && cat "$dvdir/run/master.pid"
}

do_stop() {
	[ -f "$dvdir/dovecot.conf" ] || return 0
	local pid
	pid=$(master_pid) || pid=
	doveadm -c "$dvdir/dovecot.conf" stop >/dev/null 2>&1 || { [ -n "$pid" ] && kill "$pid" 2>/dev/null; } || true
	# Wait for the master (and with it every imap process) to be gone.
	for _ in $(seq 1 100); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
}

case $cmd in
start)
	[ $# -eq 3 ] || usage
	port=$3
	[ -d "$maildir/cur" ] || die "no maildir at $maildir (imap_load gen writes it)"
	trap start_exit EXIT
	install_packages
	stop_system_dovecot
	if port_open "$port"; then
		die "port $port is already in use"
	fi
	write_config "$port"
	dovecot -c "$dvdir/dovecot.conf" || die "dovecot did not start; see $dvdir/dovecot.log"
	wait_port "$port" || die "dovecot never listened on 127.0.0.1:$port; see $dvdir/dovecot.log"
	n=$(probe "$port")
	log "Dovecot on 127.0.0.1:$port, INBOX has $n messages"
	;;
stop)
	do_stop
	;;
pid)
	master_pid || die "no Dovecot master pid in $dvdir/run"
	;;
*)
	usage
	;;
esac
