#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 7: the cost per sampled event of CFI unwinding against the frame-pointer walk. Every call
# is a sample (--rate 1) on a malloc(64)+free loop; the difference per pair between the modes is
# the difference per sampled event in the traced thread, and record --verbose reports the user-
# space unwind time and the BPF copy time per CFI event. Median of 3; a script, never a test.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

N=100000
[ "$SMOKE" = 1 ] && N=5000
LOOP=$BUILD/tests/bench/malloc_loop
machine
echo "loop: $N x (malloc(64) + free), every call sampled (--rate 1); median of 3"
echo
run_mode() { # mode -> "ns/pair unwind_us bpf_us"
	local mode=$1 v=() uw=() bpf=() out
	for _ in 1 2 3; do
		out=$("$REC" record --verbose --rate 1 --unwind "$mode" -o "$WORK/cfi.pb.gz" -- \
			"$LOOP" "$N" 64 2>"$WORK/err") || bench_error "record --unwind $mode failed"
		v+=("$(tail -1 <<<"$out")")
		uw+=("$(sed -n 's/.*CFI samples: .* truncated, \([0-9.]*\) us each in user space.*/\1/p' "$WORK/err")")
		bpf+=("$(sed -n 's/.* us each in user space, \([0-9.]*\) us each in BPF.*/\1/p' "$WORK/err")")
	done
	echo "$(median "${v[@]}") $(median "${uw[@]}") $(median "${bpf[@]}")"
}
read -r base _ _ < <(echo "$("$LOOP" "$N" 64 | tail -1) - -")
read -r fp _ _ < <(run_mode fp)
read -r cfi uw bpf < <(run_mode cfi)
printf '| %s | %s | %s | %s |\n' "mode" "ns per malloc+free" "added per sampled event" \
	"of which"
printf '| --- | ---: | ---: | --- |\n'
printf '| unprobed | %s | | |\n' "$base"
awk -v b="$base" -v v="$fp" 'BEGIN { printf "| --unwind fp | %.0f | %.0f ns | kernel frame-pointer walk + stats map |\n", v, v - b }'
awk -v b="$base" -v v="$cfi" -v u="$uw" -v k="$bpf" 'BEGIN {
	printf "| --unwind cfi | %.0f | %.0f ns | BPF register and stack copy %s us; unwind in allocscope %s us (its own thread) |\n", v, v - b, k, u }'
echo
echo "commands: $LOOP $N 64; $REC record --verbose --rate 1 --unwind fp|cfi -o F -- $LOOP $N 64"
[ "$BENCH_ERRORS" = 0 ]
