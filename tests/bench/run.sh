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
# The floor: the same three probes (malloc entry and return, free) at the offsets allocscope
# picks, as tracefs uprobe events whose filter records nothing: the trap cost alone.
floor=n/a
libc=$(awk '$NF ~ /libc\.so\.6$/ {print $NF; exit}' /proc/self/maps)
tracefs=/sys/kernel/tracing
mountpoint -q $tracefs || mount -t tracefs nodev $tracefs 2>/dev/null || true
if [ -w $tracefs/uprobe_events ]; then
	placement=$("$REC" record -v -o "$out/p.pb.gz" -- /bin/true 2>&1)
	off() { # function -> hex file offset of its probe
		local fn=$1 plus addr
		plus=$(sed -n "s/.*debug: $fn in .*libc.so.6: probe at +\([0-9]*\).*/\1/p" <<<"$placement")
		addr=$(nm -D "$libc" | awk -v f="$fn" '$3 == f || index($3, f "@@") == 1 {print $1; exit}')
		printf '0x%x' $((0x$addr + plus))
	}
	{
		echo "p:asbench/m $libc:$(off malloc)"
		echo "r:asbench/mr $libc:$(off malloc)"
		echo "p:asbench/f $libc:$(off free)"
	} >>$tracefs/uprobe_events
	for e in m mr f; do
		echo 'common_pid == 0' >$tracefs/events/asbench/$e/filter
		echo 1 >$tracefs/events/asbench/$e/enable
	done
	floor=$(run floor "$LOOP" "$N" 64)
	for e in m mr f; do echo 0 >$tracefs/events/asbench/$e/enable; done
	for e in m mr f; do echo "-:asbench/$e" >>$tracefs/uprobe_events; done
fi

printf '%-34s %12s %14s %10s %10s\n' "mode" "ns/pair" "added ns/pair" "slowdown" "vs floor"
for row in "unprobed:$base" "probes alone (floor):$floor" "allocscope record --rate 1:$every" \
	"allocscope record (512 KiB):$dflt"; do
	label=${row%%:*}
	v=${row##*:}
	[ "$v" = n/a ] && { printf '%-34s %12s\n' "$label" "n/a (no tracefs)"; continue; }
	awk -v l="$label" -v v="$v" -v b="$base" -v f="$floor" 'BEGIN {
		vf = (f == "n/a") ? "n/a" : sprintf("%.2fx", (v - b) / (f - b))
		printf "%-34s %12.1f %14.1f %9.0fx %10s\n", l, v, v - b, v / b, vf }'
done
echo "commands: $LOOP $N 64; $REC record [--rate 1] -o FILE -- $LOOP $N 64"
rm -rf "$out"
