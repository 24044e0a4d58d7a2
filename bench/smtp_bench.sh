#!/usr/bin/env bash
# SMTP delivery benchmark: tern against Postfix -> LMTP -> Dovecot, same
# workload (bench/smtp_load: CONC connections, COUNT messages of SIZE bytes to
# bench@example.test), everything on 127.0.0.1. Figures, not assertions.
#
#   bench/smtp_bench.sh [BUILDDIR]        (default build/)
#   env: CONC (10), SIZE (4096), COUNT (2000), ONLY=tern|peer (one side only)
#
# tern answers 250 after the message is stored, so its accepted rate is its
# delivered rate. Postfix answers 250 once the message is in its queue and
# delivers over LMTP afterwards, so for the peer two rates are printed:
# accepted (smtp_load's own timing) and delivered (from the start of the load
# until the Postfix queue is empty and all COUNT messages are files in the
# Dovecot maildir). The ratio compares delivered rates. The peer needs root
# (bench/smtp_peer.sh installs and starts Postfix and Dovecot).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
conc=${CONC:-10}
size=${SIZE:-4096}
count=${COUNT:-2000}
only=${ONLY:-}
load=$build/bench/smtp_load
tern=$build/tern
peer=bench/smtp_peer.sh
prog=smtp_bench
. bench/lib.sh
[ -x "$load" ] || die "$load missing; build first (ninja -C $build)"

work=$(mktemp -d /tmp/tern-smtpbench-XXXXXX)
chmod 755 "$work"
tern_pid=
peer_started=
cleanup() {
	if [ -n "$dns_pid" ]; then
		kill "$dns_pid" 2>/dev/null || true
	fi
	stop_process "$tern_pid" 50
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs smtp_load against PORT; its output line goes to stdout and $work/load.out.
run_load() {
	"$load" -port "$1" -c "$conc" -s "$size" -n "$count" -to bench@example.test \
		-from bench@example.test -ehlo load.example.test | tee "$work/load.out"
}

# msg/s from smtp_load's output line.
load_rate() { sed -n 's/.*, \([0-9.]*\) msg\/s$/\1/p' "$work/load.out"; }

echo "== SMTP delivery: $count messages of $size bytes over $conc connections"

tern_rate=
dns_pid=
if [ "$only" != peer ]; then
	[ -x "$tern" ] || die "$tern missing; build first"
	tport=$(free_port 2500 2599)
	if [ "$(id -u)" = 0 ]; then tuser=tern; else tuser=$(id -un); fi
	mkdir -p "$work/tern/config"
	# tern checks iprev, SPF, DKIM and DMARC of every message on port 25; a
	# local DNS server (the tests' fixture, authoritative for the root: every
	# sender domain has no records) makes those lookups fast and repeatable
	/usr/bin/python3 -c 'import sys, time; sys.path.insert(0, sys.argv[1]); import dnsfixture
d = dnsfixture.DNSServer({".": {"@": ["SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60"]}})
print(d.addr, flush=True); time.sleep(86400)' tests >"$work/dns.addr" &
	dns_pid=$!
	for _ in $(seq 1 50); do [ -s "$work/dns.addr" ] && break; sleep 0.1; done
	[ -s "$work/dns.addr" ] || die "the benchmark's DNS server (tests/dnsfixture.py) did not start"
	cat >"$work/tern/config/tern.conf" <<EOF
DataDir: ../data
Hostname: bench.example.test
User: $tuser
LogLevel: warn
Resolver:
  Upstreams: ["$(cat "$work/dns.addr")"]
  DNSSEC: false
Listeners:
  bench:
    IPs: [127.0.0.1]
    SMTP:
      Enabled: true
      Port: $tport
EOF
	cat >"$work/tern/config/domains.conf" <<EOF
Domains:
  example.test: {}
Accounts:
  bench:
    Domain: example.test
    Destinations:
      bench@example.test: {}
EOF
	chmod -R a+rX "$work/tern"
	"$tern" -config "$work/tern/config/tern.conf" serve >"$work/tern.log" 2>&1 &
	tern_pid=$!
	if ! wait_listening "$tport" "$tern_pid"; then
		if kill -0 "$tern_pid" 2>/dev/null; then
			why="still running but never accepted connections on 127.0.0.1:$tport (15 s)"
		else
			wait "$tern_pid" && rc=0 || rc=$?
			tern_pid=
			why="exited with status $rc before 127.0.0.1:$tport accepted connections"
		fi
		echo "smtp_bench: tern step failed: '$tern -config .../tern.conf serve' $why; its output:" >&2
		sed 's/^/  | /' "$work/tern.log" >&2
		exit 1
	fi
	echo "-- tern (127.0.0.1:$tport)"
	run_load "$tport" || die "tern: smtp_load failed; tern output: $(tail -20 "$work/tern.log")"
	tern_rate=$(load_rate)
	kill -TERM "$tern_pid"
	wait "$tern_pid" || true
	tern_pid=
	if [ -s "$work/tern.log" ]; then
		echo "   tern logged (warn and above):"
		head -10 "$work/tern.log" | sed 's/^/   | /'
	fi
	printf 'tern: %s msg/s (replies 250 after the message is stored)\n' "$tern_rate"
fi

peer_rate=
if [ "$only" != tern ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "peer: skipped (Postfix and Dovecot need root)"
	else
		pport=$(free_port 2400 2499)
		peer_started=1
		maildir=$("$peer" start "$work/peer" "$pport") || die "peer did not start"
		queue=$work/peer/postfix/queue
		# Files in the maildir and in the Postfix queue right now, counted
		# with globs: no process per poll to take CPU from the peer.
		shopt -s nullglob
		count_files() {
			local f=("$maildir"/new/* "$maildir"/cur/*)
			nmail=${#f[@]}
			f=("$queue"/maildrop/* "$queue"/incoming/* "$queue"/active/* "$queue"/hold/*
				"$queue"/deferred/*/*)
			nqueue=${#f[@]}
		}
		deferred() {
			local f=("$queue"/deferred/*/*)
			[ "${#f[@]}" -gt 0 ]
		}
		count_files
		base=$nmail
		echo "-- Postfix -> LMTP -> Dovecot (127.0.0.1:$pport)"
		t0=$EPOCHREALTIME
		run_load "$pport" || die "peer: smtp_load failed; see above"
		accepted=$(load_rate)
		deadline=$((SECONDS + 600))
		while :; do
			count_files
			got=$((nmail - base))
			if [ "$got" -ge "$count" ] && [ "$nqueue" -eq 0 ]; then
				break
			fi
			if deferred || [ "$SECONDS" -ge "$deadline" ]; then
				echo "smtp_bench: peer: only $got of $count delivered; Postfix log tail:" >&2
				tail -20 "$work/peer/postfix/maillog" >&2
				exit 1
			fi
			sleep 0.02
		done
		t1=$EPOCHREALTIME
		peer_rate=$(awk -v n="$count" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
		printf 'peer: accepted %s msg/s, delivered %s msg/s (%d messages in the maildir after %s s)\n' \
			"$accepted" "$peer_rate" "$got" "$secs"
	fi
fi

if [ -n "$tern_rate" ] && [ -n "$peer_rate" ]; then
	awk -v t="$tern_rate" -v p="$peer_rate" \
		'BEGIN { printf "tern/peer (delivered): %.2f\n", t / p }'
fi
