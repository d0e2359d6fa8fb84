#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: profile a program with a known allocation pattern and show the result as pprof does.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${OUT:-build}
out=${DEMO_OUTPUT:-/tmp/allocscope-demo.pb.gz}

echo "\$ $BUILD/allocscope record --rate 1 -o $out -- $BUILD/tests/targets/alloc_pattern"
status=0
"$BUILD/allocscope" record --rate 1 -o "$out" -- "$BUILD/tests/targets/alloc_pattern" || status=$?
# alloc_pattern exits 7 on purpose: record passes the command's status on.
[ "$status" -eq 7 ] || { echo "demo: record failed (exit $status)" >&2; exit 1; }
for idx in alloc_space inuse_space; do
	echo
	echo "\$ go tool pprof -top -sample_index=$idx $out"
	go tool pprof -top -sample_index="$idx" "$out" 2>/dev/null | head -20
done
