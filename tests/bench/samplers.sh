#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a process's own sampler saves: a malloc+free loop of 64 B blocks whose process samples
# its allocations itself (byte-Poisson, mean 512 KiB) and reports the samples through the
# otel_memory USDTs (tests/targets/otel_usdt.c), measured unprobed, watched through those USDTs
# (--mode auto) and watched through every-call malloc-family probes (--mode malloc, the default
# rate), interleaved in this one invocation. Prints ns per pair, medians of REPS runs.
# Usage: tests/bench/samplers.sh [PAIRS]   (BENCH_SMOKE=1: short, proves it works)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${1:-300000}
REPS=3
[ "$SMOKE" = 1 ] && N=${1:-20000} && REPS=1
TARGET=$BUILD/tests/targets/otel_usdt
[ -x "$TARGET" ] && [ -x "$REC" ] || { echo "samplers.sh: build first (make)" >&2; exit 1; }

# run MODE: ns per malloc+free pair as the target measured it (its first output line).
run() {
	local out
	case $1 in
	unprobed) out=$("$TARGET" sampled "$N" 524288) ;;
	usdt) out=$("$REC" record --mode auto -o "$WORK/p.pb.gz" -- "$TARGET" sampled "$N" 524288 \
		2>"$WORK/err") ;;
	every_call) out=$("$REC" record --mode malloc -o "$WORK/p.pb.gz" -- "$TARGET" sampled "$N" \
		524288 2>"$WORK/err") ;;
	esac || { bench_error "$1: $(tail -2 "$WORK/err" 2>/dev/null)"; echo err; return; }
	echo "$out" | awk '/ns per malloc\+free/ {print $1; exit}'
}

machine
echo "pairs: $N per run, $REPS runs per mode, interleaved"
declare -A R
MODES=(unprobed usdt every_call)
for ((i = 0; i < REPS; i++)); do
	for m in "${MODES[@]}"; do R[$m]+="$(run "$m") "; done
done
base=$(median ${R[unprobed]})
every=$(median ${R[every_call]})
printf '| %-44s | %12s | %13s | %16s |\n' source "ns per pair" "x unprobed" "x every call"
printf '| %-44s | %12s | %13s | %16s |\n' --- --- --- ---
for m in "${MODES[@]}"; do
	v=$(median ${R[$m]})
	case $m in
	unprobed) name="unprobed" ;;
	usdt) name="--mode auto: the process's otel_memory USDTs" ;;
	every_call) name="--mode malloc: every malloc and free traps" ;;
	esac
	printf '| %-44s | %12s | %13s | %16s |\n' "$name" "$v" \
		"$(awk -v a="$v" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$v" -v b="$every" 'BEGIN { printf "%.3f", a / b }')"
done
[ "$BENCH_ERRORS" = 0 ]
