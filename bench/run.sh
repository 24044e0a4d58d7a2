#!/usr/bin/env bash
# Store benchmarks: deliveries per second into one and into ten accounts,
# with and without fsync, and `tern import` speed in MB/s for an mbox made
# from the spam corpus. Figures only; nothing here passes or fails.
# Usage: bench/run.sh [BUILDDIR]   (default build/; run scripts/build.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d /tmp/tern-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
count=${COUNT:-2000}

echo "== deliveries (4 KiB messages, 10 writers, $count messages)"
for accounts in 1 10; do
	for sync in "" -nosync; do
		rm -rf "$work/data"
		"$build/bench/store_bench" $sync -accounts "$accounts" -writers 10 -count "$count" \
			-size 4096 "$work/data"
	done
done

echo "== import (spam corpus as one mbox, repeated)"
corpus=../shared/external-tests/spam-corpus-train/ham
mbox=$work/corpus.mbox
for _ in 1 2 3 4 5; do cat "$corpus"/*; done >"$mbox"
mkdir -p "$work/config"
printf 'DataDir: ../data\nHostname: bench.example\nUser: %s\n' "$(id -un)" >"$work/config/tern.conf"
printf 'Domains:\n  example.test: {}\nAccounts:\n  bench:\n    Domain: example.test\n    Destinations:\n      bench@example.test: {}\n' >"$work/config/domains.conf"
rm -rf "$work/data"
bytes=$(stat -c %s "$mbox")
start=$(date +%s.%N)
out=$("$build/tern" -config "$work/config/tern.conf" import mbox bench Inbox "$mbox")
end=$(date +%s.%N)
db=$(stat -c %s "$work/data/accounts/bench/index.db")
msgs=$(du -sb "$work/data/accounts/bench/msg" | cut -f1)
awk -v b="$bytes" -v s="$start" -v e="$end" -v db="$db" -v m="$msgs" -v out="$out" 'BEGIN {
	printf "%s: %.1f MB in %.2f s = %.2f MB/s; index.db %.1f%% of message bytes\n",
		out, b / 1e6, e - s, b / 1e6 / (e - s), 100 * db / m }'

echo "== SMTP delivery, tern against Postfix -> LMTP -> Dovecot (bench/smtp_bench.sh)"
bench/smtp_bench.sh "$build" || echo "smtp_bench failed (see above)"

echo "== IMAP, tern against Dovecot (bench/imap_bench.sh)"
bench/imap_bench.sh "$build" || echo "imap_bench failed (see above)"
