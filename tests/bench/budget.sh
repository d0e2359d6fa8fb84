#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The overhead budget (--max-overhead) on a native loop (tests/targets/budget_load: 64 B blocks,
# a live set of 1000, WORK spin iterations of its own work between blocks): throughput in blocks
# per CPU-second of the loop (its own CPU time, so that other load on the host does not count),
# unwatched, watched at the default budget (3%), with no budget, and with --max-overhead 1 and 10.
# Setups interleaved in each round, medians of the rounds, ratios to unwatched in this run.
# Usage: tests/bench/budget.sh [SECONDS_PER_RUN]   (BENCH_SMOKE=1: short, proves it works)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SECS=${1:-6}
ROUNDS=3
WORKS=(0 2000)
if [ "$SMOKE" = 1 ]; then
	SECS=${1:-2}
	ROUNDS=1
	WORKS=(2000)
fi
LOAD=$BUILD/tests/targets/budget_load
[ -x "$LOAD" ] && [ -x "$REC" ] || { echo "budget.sh: build first (make)" >&2; exit 1; }
MODES=(unwatched default off 1 10)
declare -A RES

run() { # mode work -> blocks per CPU-second, or err
	local mode=$1 work=$2 out
	if [ "$mode" = unwatched ]; then
		out=$("$LOAD" "$SECS" 64 1000 0 "$work") || { bench_error "$mode $work"; echo err; return; }
	else
		local budget=()
		[ "$mode" = default ] || budget=(--max-overhead "$mode")
		out=$("$REC" record "${budget[@]}" -o "$WORK/r.pb.gz" -- "$LOAD" "$SECS" 64 1000 0 \
			"$work" 2>"$WORK/err") || { bench_error "$mode $work: $(tail -1 "$WORK/err")"; echo err; return; }
		go tool pprof -comments "$WORK/r.pb.gz" 2>/dev/null |
			sed -n 's/.*probe overhead ~\([0-9.]*\)%.*attached \([0-9]*\)% of the time.*/\1 \2/p' \
			>"$WORK/budget.$mode.$work" || true
	fi
	awk '{for (i = 1; i < NF; i++) if ($i == "allocs") n = $(i + 1); else if ($i == "cpu_s") c = $(i + 1)}
		END {if (c > 0) printf "%.0f\n", n / c; else print "err"}' <<<"$out"
}

machine
echo "budget_load: $SECS s a run, $ROUNDS rounds, medians; blocks per CPU-second of the loop"
for work in "${WORKS[@]}"; do
	for ((r = 0; r < ROUNDS; r++)); do
		for mode in "${MODES[@]}"; do
			RES[$mode.$work]+="$(run "$mode" "$work") "
		done
	done
done
echo
echo "| work between blocks | setup | blocks/CPU-s (median) | ratio | overhead at full attach | allocation side on |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for work in "${WORKS[@]}"; do
	# shellcheck disable=SC2086
	base=$(median ${RES[unwatched.$work]})
	for mode in "${MODES[@]}"; do
		# shellcheck disable=SC2086
		m=$(median ${RES[$mode.$work]})
		ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.3fx", a / b; else print "n/a"}')
		est="-"
		on="-"
		if [ -s "$WORK/budget.$mode.$work" ]; then
			read -r est on <"$WORK/budget.$mode.$work"
			est="~$est%"
			on="$on%"
		fi
		label=$mode
		case $mode in default) label="watched, default (3%)" ;; off) label="watched, --max-overhead off" ;;
		1 | 10) label="watched, --max-overhead $mode" ;; esac
		echo "| $work spins | $label | $m | $ratio | $est | $on |"
	done
done
[ "$BENCH_ERRORS" = 0 ]
