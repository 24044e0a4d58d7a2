#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds tern twice (release,
# and debug with AddressSanitizer + UndefinedBehaviorSanitizer) and runs every
# unit test (cmocka) and end-to-end test (pytest) against each build, then
# builds the libFuzzer targets with clang and runs each briefly on its corpus.
# The last line is the total: "N passed, N failed, N skipped".
#
# Environment: FUZZ_SECONDS (default 10) per fuzz target; TEST_FILTER, a pytest
# -k expression to run a subset of end-to-end tests.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
results=$root/build-results
rm -rf "$results"
mkdir -p "$results"

scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

failed_builds=0
build() { # DIR SETUP-ARGS...
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$results/setup-$(basename "$dir").log" 2>&1 ||
			{ cat "$results/setup-$(basename "$dir").log"; return 1; }
	fi
	ninja --quiet -C "$dir"
}

run_units() { # DIR NAME
	meson test -C "$1" --no-rebuild --print-errorlogs --num-processes 2 \
		>"$results/units-$2.log" 2>&1
	cp "$1/meson-logs/testlog.json" "$results/units-$2.json" 2>/dev/null || true
	tail -n 12 "$results/units-$2.log"
}

run_e2e() { # DIR NAME
	local filter=()
	[ -n "${TEST_FILTER:-}" ] && filter=(-k "$TEST_FILTER")
	TERN_BIN="$root/$1/tern" TERN_BUILD_DIR="$root/$1" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		--junitxml="$results/e2e-$2.xml" "${filter[@]}" tests/ 2>&1 | tail -n 15
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

for variant in release asan; do
	case $variant in
	release) dir=build; args=(--buildtype=release) ;;
	asan) dir=build-asan; args=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false) ;;
	esac
	echo "== $variant build ($dir)"
	if ! build "$dir" "${args[@]}"; then
		echo "build $variant: FAILED"
		failed_builds=$((failed_builds + 1))
		continue
	fi
	echo "== $variant: unit tests"
	run_units "$dir" "$variant"
	echo "== $variant: end-to-end tests"
	run_e2e "$dir" "$variant"
done

echo "== fuzz targets (${FUZZ_SECONDS:-10}s each)"
if CC=clang build build-fuzz --buildtype=debug -Dfuzz=true -Dtests=false \
	-Db_sanitize=address,undefined -Db_lundef=false; then
	scripts/fuzz.sh build-fuzz "${FUZZ_SECONDS:-10}" "$results"
else
	echo "build fuzz: FAILED"
	failed_builds=$((failed_builds + 1))
fi

/usr/bin/python3 scripts/summarize.py "$results" "$failed_builds"
