#!/usr/bin/env bash
# IMAP benchmark: tern against Dovecot, the same mailbox and the same
# workloads (bench/imap_load), everything on 127.0.0.1, plain TCP with LOGIN.
# Figures, not assertions.
#
#   bench/imap_bench.sh [BUILDDIR]                (default build/)
#   IMAP_BENCH_QUICK=1 bench/imap_bench.sh build  (500 messages, 50 idle
#                                                  connections, under a minute)
#   env: MSGS (10000), CONC (4), ROUNDS (5), BODIES (20000), SEARCHES (200),
#        BODY_SEARCHES (8), IDLE (5000), HOLD (10), ONLY=tern|peer
#
# The mailbox: `imap_load gen` writes MSGS messages (fixed seed, 2-50 KiB, a
# quarter multipart) as an mbox, which `tern import` loads into tern, and as
# Dovecot maildir files. Workloads, each against both servers, after one
# untimed warm-up pass (SELECT, FETCH 1:* (FLAGS ENVELOPE) and one search of
# each kind, so both have built their indexes and caches):
#   fetchall  CONC connections, each ROUNDS x (SELECT INBOX, FETCH 1:* (FLAGS
#             ENVELOPE)): rounds/s and messages/s
#   body      BODIES x UID FETCH u BODY.PEEK[] of random u over CONC
#             connections: fetches/s and MB/s
#   search    SEARCHES x SEARCH FROM, SUBJECT and SINCE with random terms,
#             BODY_SEARCHES x SEARCH BODY, over CONC connections: searches/s
#   idle      IDLE connections log in, SELECT INBOX and IDLE (run first, on
#             the freshly started server); the server's memory is read before
#             and while they idle: KiB per idle connection, by RSS (summed
#             over all its processes) and by PSS (shared pages divided among
#             the processes sharing them, fairer to Dovecot's many processes).
# Logins happen once per connection and are not timed. Every answer is
# checked (message counts, literal sizes, search result counts).
#
# tern refuses LOGIN without TLS except as `tern localserve` (loopback only),
# so it runs as `tern localserve -dir WORK/tern` from a configuration written
# here (one listener on 127.0.0.1 with IMAP on a free port, a self-signed
# certificate, MaxConnections raised for IDLE); account "tern", password
# "terntern". Dovecot runs from bench/imap_peer.sh (root needed; without root
# the peer is skipped): plain LOGIN allowed, {PLAIN} passwords, one imap
# process per connection, limits raised for IDLE connections.
#
# Goals printed beside the figures: tern/Dovecot >= 1.5 on every workload,
# tern < 30 KiB RSS per idle connection.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [ -n "${IMAP_BENCH_QUICK:-}" ]; then
	msgs=${MSGS:-500} rounds=${ROUNDS:-3} bodies=${BODIES:-200} searches=${SEARCHES:-40}
	body_searches=${BODY_SEARCHES:-8} idle=${IDLE:-50} hold=${HOLD:-1} samples=1
else
	msgs=${MSGS:-10000} rounds=${ROUNDS:-5} bodies=${BODIES:-20000} searches=${SEARCHES:-200}
	body_searches=${BODY_SEARCHES:-8} idle=${IDLE:-5000} hold=${HOLD:-10} samples=3
fi
conc=${CONC:-4}
only=${ONLY:-}
seed=1
load=$build/bench/imap_load
tern=$build/tern
peer=bench/imap_peer.sh
prog=imap_bench
. bench/lib.sh

work_build_log=$(mktemp /tmp/tern-imapbench-build-XXXXXX)
if [ -f "$build/build.ninja" ] && command -v ninja >/dev/null; then
	if ! ninja -C "$build" tern bench/imap_load >"$work_build_log" 2>&1; then
		[ -x "$tern" ] && [ -x "$load" ] || die "ninja -C $build tern bench/imap_load failed: $(tail -5 "$work_build_log")"
		echo "imap_bench: ninja -C $build failed; using the binaries already built" >&2
	fi
fi
rm -f "$work_build_log"
[ -x "$load" ] || die "$load missing; build first (ninja -C $build)"

# Every idle connection is one descriptor here and one (or more) in the
# server, which inherits this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds=$(ulimit -n)
if [ "$fds" != unlimited ] && [ "$fds" -lt $((idle + 200)) ]; then
	echo "imap_bench: fd limit $fds: idle connections cut from $idle to $((fds - 200))" >&2
	idle=$((fds - 200))
fi

work=$(mktemp -d /tmp/tern-imapbench-XXXXXX)
chmod 755 "$work"
tern_pid=
peer_started=
idle_pid=
cleanup() {
	if [ -n "$idle_pid" ]; then
		kill "$idle_pid" 2>/dev/null || true
		wait "$idle_pid" 2>/dev/null || true
	fi
	stop_tern
	remove_work
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_tern() {
	stop_process "$tern_pid" 100
	tern_pid=
}

# The pids of process $1 and all its descendants.
proc_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = p
				for (d = 0; d < 64 && q != "" && q != root && q > 1; d++) q = parent[q]
				if (q == root) print p
			}
			print root
		}' | sort -un
}

# "RSS PSS" in KiB, summed over process $1 and its descendants.
mem_kib() {
	local pids files=() p
	pids=$(proc_tree "$1")
	for p in $pids; do
		[ -r "/proc/$p/smaps_rollup" ] && files+=("/proc/$p/smaps_rollup")
	done
	[ ${#files[@]} -gt 0 ] || {
		echo "0 0"
		return
	}
	awk '/^Rss:/ { r += $2 } /^Pss:/ { p += $2 } END { printf "%d %d\n", r, p }' "${files[@]}" 2>/dev/null
}

# The mean of $samples samples of mem_kib, a second apart.
mem_mean() {
	local r=0 p=0 a b i
	for ((i = 0; i < samples; i++)); do
		[ "$i" -gt 0 ] && sleep 1
		read -r a b < <(mem_kib "$1")
		r=$((r + a))
		p=$((p + b))
	done
	echo "$((r / samples)) $((p / samples))"
}

# key=value from an imap_load output line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1" | tail -1; }

# Results: R[side.key] = value.
declare -A R

# run_load SIDE NAME ARGS...: one imap_load run; its figures into R.
run_load() {
	local side=$1 name=$2 out
	shift 2
	if out=$("$load" "$@" 2>"$work/load.err"); then
		echo "   $out"
		case $name in
		fetchall)
			R[$side.fetchall]=$(field "$out" msgs_per_s)
			R[$side.rounds]=$(field "$out" rounds_per_s)
			;;
		body)
			R[$side.body]=$(field "$out" fetches_per_s)
			R[$side.mbs]=$(field "$out" mb_per_s)
			;;
		*)
			R[$side.$name]=$(field "$out" searches_per_s)
			;;
		esac
		[ -s "$work/load.err" ] && sed 's/^/   ! /' "$work/load.err"
	else
		echo "   $name failed:"
		sed 's/^/   ! /' "$work/load.err"
	fi
	return 0
}

# idle_test SIDE PID PORT USER PASS: IDLE connections held while the memory of
# the process tree PID is read.
idle_test() {
	local side=$1 pid=$2 port=$3 user=$4 pass=$5 before during n
	before=$(mem_mean "$pid")
	rm -f "$work/idle.ready"
	"$load" idle -port "$port" -user "$user" -pass "$pass" -msgs "$msgs" -idle "$idle" \
		-hold $((hold + 60)) -ready "$work/idle.ready" >"$work/idle.out" 2>&1 &
	idle_pid=$!
	while [ ! -f "$work/idle.ready" ] && kill -0 "$idle_pid" 2>/dev/null; do
		sleep 0.5
	done
	if [ ! -f "$work/idle.ready" ]; then
		wait "$idle_pid" || true
		idle_pid=
		echo "   idle failed:"
		sed 's/^/   ! /' "$work/idle.out"
		return 0
	fi
	sleep "$hold"
	during=$(mem_mean "$pid")
	n=$(ps -e -o pid= | wc -l)
	kill -USR1 "$idle_pid"
	wait "$idle_pid" && st=0 || st=$?
	idle_pid=
	grep -v '^idle: [0-9]* of [0-9]* idling after' "$work/idle.out" | sed 's/^/   /'
	if [ "$st" != 0 ]; then
		echo "   idle: imap_load reported a failure (above); figures kept"
	fi
	read -r rb pb <<<"$before"
	read -r rd pd <<<"$during"
	echo "   memory before: RSS $rb KiB, PSS $pb KiB; with $idle idle: RSS $rd KiB, PSS $pd KiB ($n processes on the host)"
	R[$side.idle_rss]=$(awk -v a="$rb" -v b="$rd" -v n="$idle" 'BEGIN { printf "%.1f", (b - a) / n }')
	R[$side.idle_pss]=$(awk -v a="$pb" -v b="$pd" -v n="$idle" 'BEGIN { printf "%.1f", (b - a) / n }')
}

# workloads SIDE PORT USER PASS: the warm-up and the timed workloads.
workloads() {
	local side=$1 c=(-port "$2" -user "$3" -pass "$4" -msgs "$msgs" -seed "$seed")
	"$load" fetchall "${c[@]}" -c 1 -rounds 1 >/dev/null 2>"$work/load.err" ||
		echo "   warm-up FETCH failed: $(cat "$work/load.err")"
	for k in from subject since body; do
		"$load" search "${c[@]}" -c 1 -n 1 -kind "$k" >/dev/null 2>"$work/load.err" ||
			echo "   warm-up SEARCH $k failed: $(cat "$work/load.err")"
	done
	run_load "$side" fetchall fetchall "${c[@]}" -c "$conc" -rounds "$rounds"
	run_load "$side" body body "${c[@]}" -c "$conc" -n "$bodies"
	run_load "$side" from search "${c[@]}" -c "$conc" -n "$searches" -kind from
	run_load "$side" subject search "${c[@]}" -c "$conc" -n "$searches" -kind subject
	run_load "$side" bodysearch search "${c[@]}" -c "$conc" -n "$body_searches" -kind body
	run_load "$side" since search "${c[@]}" -c "$conc" -n "$searches" -kind since
}

echo "== IMAP: $msgs messages; $conc connections; $rounds rounds of FETCH 1:*, $bodies body fetches,"
echo "   $searches searches of each kind ($body_searches SEARCH BODY), $idle idle connections"

mkdir -p "$work/peer/mail/bench"
"$load" gen -msgs "$msgs" -seed "$seed" -mbox "$work/bench.mbox" \
	-maildir "$work/peer/mail/bench/Maildir" | sed 's/^/   /'

if [ "$only" != peer ]; then
	[ -x "$tern" ] || die "$tern missing; build first"
	tport=$(free_port 2700 2799)
	if [ "$(id -u)" = 0 ]; then tuser=root; else tuser=$(id -un); fi
	conf=$work/tern/config
	mkdir -p "$conf"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$conf/tls.key" -out "$conf/tls.crt" >/dev/null 2>&1 ||
		die "openssl could not make a certificate"
	cat >"$conf/tern.conf" <<EOF
DataDir: ../data
Hostname: localhost
User: $tuser
LogLevel: warn
Listeners:
  bench:
    IPs: [127.0.0.1]
    TLS: {KeyCerts: [{CertFile: tls.crt, KeyFile: tls.key}]}
    MaxConnections: $((idle + 100))
    MaxConnectionsPerIP: $((idle + 100 > 10000 ? 10000 : idle + 100))
    IMAP: {Enabled: true, Port: $tport}
EOF
	cat >"$conf/domains.conf" <<EOF
Domains:
  localhost: {}
Accounts:
  tern:
    Domain: localhost
    Destinations:
      tern@localhost: {}
EOF
	t0=$EPOCHREALTIME
	"$tern" -config "$conf/tern.conf" import mbox tern Inbox "$work/bench.mbox" >"$work/import.out" 2>&1 ||
		die "tern import failed: $(cat "$work/import.out")"
	echo "   tern import: $(cat "$work/import.out") ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
	"$tern" localserve -dir "$work/tern" >"$work/tern.log" 2>&1 &
	tern_pid=$!
	if ! wait_listening "$tport" "$tern_pid"; then
		echo "imap_bench: tern did not listen on 127.0.0.1:$tport; its output:" >&2
		sed 's/^/  | /' "$work/tern.log" >&2
		exit 1
	fi
	echo "-- tern (tern localserve, 127.0.0.1:$tport)"
	idle_test tern "$tern_pid" "$tport" tern terntern
	workloads tern "$tport" tern terntern
	stop_tern
	# What tern logged after its localserve banner (which ends with the stop hint).
	awk 'f { print } /^  .* stop$/ { f = 1 }' "$work/tern.log" >"$work/tern.logged"
	if [ -s "$work/tern.logged" ]; then
		echo "   tern logged (warn and above, first 10 lines):"
		head -10 "$work/tern.logged" | sed 's/^/   | /'
	fi
fi

if [ "$only" != tern ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "peer: skipped (Dovecot needs root)"
	else
		pport=$(free_port 2600 2699)
		peer_started=1
		"$peer" start "$work/peer" "$pport" || die "Dovecot did not start"
		echo "-- Dovecot (127.0.0.1:$pport)"
		idle_test peer "$("$peer" pid "$work/peer")" "$pport" bench bench
		workloads peer "$pport" bench bench
		"$peer" stop "$work/peer"
		peer_started=
	fi
fi

echo
echo "== IMAP results ($msgs messages, $conc connections)"
# row LABEL UNIT KEY: tern, Dovecot, ratio and whether the 1.5 goal is met.
row() {
	local t=${R[tern.$3]:-} p=${R[peer.$3]:-}
	awk -v l="$1" -v u="$2" -v t="$t" -v p="$p" 'BEGIN {
		r = (t != "" && p != "" && p > 0) ? sprintf("%.2f", t / p) : "-"
		g = r == "-" ? "" : (t / p >= 1.5 ? "met" : "not met")
		printf "%-34s %-12s %12s %12s %8s  >= 1.5 %s\n", l, u, t == "" ? "-" : t,
			p == "" ? "-" : p, r, g }'
}
printf "%-34s %-12s %12s %12s %8s  %s\n" workload unit tern Dovecot ratio goal
row "FETCH 1:* (FLAGS ENVELOPE)" "msgs/s" fetchall
row "  (same, whole rounds)" "rounds/s" rounds
row "UID FETCH u BODY.PEEK[]" "fetches/s" body
row "  (same, bytes)" "MB/s" mbs
row "SEARCH FROM" "searches/s" from
row "SEARCH SUBJECT" "searches/s" subject
row "SEARCH BODY" "searches/s" bodysearch
row "SEARCH SINCE" "searches/s" since
awk -v t="${R[tern.idle_rss]:-}" -v p="${R[peer.idle_rss]:-}" -v tp="${R[tern.idle_pss]:-}" \
	-v pp="${R[peer.idle_pss]:-}" -v n="$idle" 'BEGIN {
	g = t == "" ? "" : (t < 30 ? "met" : "not met")
	printf "%-34s %-12s %12s %12s %8s  tern < 30 %s\n", "idle connection (" n "), RSS", "KiB/conn",
		t == "" ? "-" : t, p == "" ? "-" : p, "", g
	printf "%-34s %-12s %12s %12s\n", "idle connection (" n "), PSS", "KiB/conn",
		tp == "" ? "-" : tp, pp == "" ? "-" : pp }'
