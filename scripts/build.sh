#!/usr/bin/env bash
# Installs what is missing and builds tern into build/ (release). Usage:
#   scripts/build.sh            release build in build/
#   scripts/build.sh DIR ARGS   build in DIR with extra `meson setup` ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$@" >/dev/null
fi
ninja --quiet -C "$dir"
echo "build: $dir/tern ready"
