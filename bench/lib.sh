# bench/lib.sh: shell functions of the benchmark scripts (smtp_bench.sh,
# imap_bench.sh) and of their peers (smtp_peer.sh, imap_peer.sh). Sourced
# after setting prog, the name that starts every message.

log() { echo "$prog: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# True when something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port in [lo, hi] that nothing listens on right now.
free_port() {
	local lo=$1 hi=$2 p
	for _ in $(seq 1 100); do
		p=$((lo + RANDOM % (hi - lo + 1)))
		port_open "$p" || {
			echo "$p"
			return 0
		}
	done
	die "no free port in $lo-$hi"
}

# Waits up to 10 s for 127.0.0.1:$1 to accept connections.
wait_port() {
	for _ in $(seq 1 100); do
		port_open "$1" && return 0
		sleep 0.1
	done
	return 1
}

# Waits up to 15 s for process $2 to accept connections on 127.0.0.1:$1;
# false when it does not, or exits first.
wait_listening() {
	local port=$1 pid=$2
	for _ in $(seq 1 150); do
		port_open "$port" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Stops child process $1 (if running): SIGTERM, SIGKILL after $2 tenths of a
# second, then reaps it.
stop_process() {
	local pid=$1 tenths=$2
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 "$tenths"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# The end of a benchmark's cleanup: stops the peer when $peer_started and
# removes the work directory $work.
remove_work() {
	if [ -n "$peer_started" ]; then
		"$peer" stop "$work/peer" || true
	fi
	rm -rf "$work"
}

# Creates system user $1 (no home, no login) when missing, and sets uid and
# gid (the caller's locals) to its ids.
system_user() {
	id "$1" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
	uid=$(id -u "$1")
	gid=$(id -g "$1")
}

# apt-get install of the packages $@, updating the package lists first when
# that fails; the output goes to $work/apt.log.
apt_install() {
	local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	export DEBIAN_FRONTEND=noninteractive
	apt-get install "${opts[@]}" "$@" >"$work/apt.log" 2>&1 || {
		apt-get update -q >>"$work/apt.log" 2>&1
		apt-get install "${opts[@]}" "$@" >>"$work/apt.log" 2>&1
	} || die "apt-get install $* failed, see $work/apt.log"
}

# The EXIT trap of a peer's start: a failed start leaves nothing running
# behind it (the peer's do_stop).
start_exit() {
	local st=$?
	[ "$st" -eq 0 ] || do_stop
	exit "$st"
}
