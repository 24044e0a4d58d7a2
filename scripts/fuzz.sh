#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a few seconds on its corpus
# (fuzz/corpus/NAME, plus the crash reproducers in fuzz/regressions/NAME, which
# must all pass). Writes one result line per target to RESULTS/fuzz.txt.
# Usage: scripts/fuzz.sh BUILDDIR SECONDS RESULTSDIR
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$1 seconds=$2 results=$3
mkdir -p "$results"
: >"$results/fuzz.txt"
for bin in "$dir"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin" | sed 's/^fuzz_//')
	work=$(mktemp -d)
	[ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
	dict=()
	[ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
	status=ok
	if [ -d "fuzz/regressions/$name" ] && ls "fuzz/regressions/$name"/* >/dev/null 2>&1; then
		"$bin" "fuzz/regressions/$name"/* >"$results/fuzz-$name-regressions.log" 2>&1 ||
			status=failed
	fi
	if [ $status = ok ]; then
		"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
			-artifact_prefix="$results/fuzz-$name-" "${dict[@]}" "$work" \
			>"$results/fuzz-$name.log" 2>&1 || status=failed
	fi
	rm -rf "$work"
	echo "fuzz $name: $status" | tee -a "$results/fuzz.txt"
	[ $status = ok ] || tail -n 30 "$results/fuzz-$name.log"
done
