#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Overhead of allocscope record on a malloc+free loop, measured in one invocation against the
# same loop unprobed. Prints a table; never fails on a slow machine.
# Usage: tests/bench/run.sh [ITERATIONS]   (BENCH_SMOKE=1: a short run that only proves it works)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${OUT:-build}
N=${1:-2000000}
[ "${BENCH_SMOKE:-0}" = 1 ] && N=20000
LOOP=$BUILD/tests/bench/malloc_loop
REC=$BUILD/allocscope
out=$(mktemp -d)

run() { # label, command...: prints ns per malloc+free pair (median of 3)
	local label=$1 v=()
	shift
	for _ in 1 2 3; do
		v+=("$("$@" 2>/dev/null | tail -1)")
	done
	printf '%s\n' "${v[@]}" | sort -n | sed -n 2p
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r)"
echo "loop: $N x (malloc(64) + free) on 1 thread; ns per pair, median of 3 runs"
base=$(run base "$LOOP" "$N" 64)
every=$(run every "$REC" record --rate 1 -o "$out/a.pb.gz" -- "$LOOP" "$N" 64)
dflt=$(run default "$REC" record -o "$out/b.pb.gz" -- "$LOOP" "$N" 64)
printf '%-34s %12s %14s %10s\n' "mode" "ns/pair" "added ns/pair" "slowdown"
for row in "unprobed:$base" "allocscope record --rate 1:$every" "allocscope record (512 KiB):$dflt"; do
	label=${row%%:*}
	v=${row##*:}
	awk -v l="$label" -v v="$v" -v b="$base" \
		'BEGIN { printf "%-34s %12.1f %14.1f %9.1fx\n", l, v, v - b, v / b }'
done
echo "commands: $LOOP $N 64; $REC record [--rate 1] -o FILE -- $LOOP $N 64"
rm -rf "$out"
