#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Accuracy: allocscope's totals and top-10 functions against ground truth measured in this
# invocation on the same commands. C: valgrind's DHAT (exact counts); every-call must match
# exactly, the default rate within 3 sigma of its sampling. Go: the runtime's own heap profile of
# the same run. The comparison and its statistics are in accuracy.py.
# Usage: tests/bench/accuracy.sh   (BENCH_SMOKE=1: short, proves it works)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

LOOP_N=100000
REPEAT=100 # alloc_pattern runs of the pattern for the sampled case (~10 MB of malloc each)
GO_ROUNDS=4
if [ "$SMOKE" = 1 ]; then
	LOOP_N=5000
	REPEAT=5
	GO_ROUNDS=1
fi
LOOP=$BUILD/tests/bench/malloc_loop
PATTERN=$BUILD/tests/targets/alloc_pattern
MIXED=$BUILD/tests/targets/mixed_sizes
GOALLOC=$BUILD/tests/targets/go/goalloc
TUNABLES=glibc.malloc.trim_threshold=1073741824
MANIFEST=$WORK/manifest
: >"$MANIFEST"
[ -x "$REC" ] && [ -x "$LOOP" ] && [ -x "$PATTERN" ] || { echo "accuracy.sh: build first (make)" >&2; exit 1; }

# dhat OUT COMMAND...: DHAT's JSON of the command's own process (not of children it forks).
dhat() {
	local out=$1 pid
	shift
	GLIBC_TUNABLES=$TUNABLES valgrind --tool=dhat --dhat-out-file="$WORK/dhat.%p" "$@" \
		>/dev/null 2>"$WORK/vg.err" </dev/null &
	pid=$!
	wait $pid || true
	[ -s "$WORK/dhat.$pid" ] && mv "$WORK/dhat.$pid" "$out" && rm -f "$WORK"/dhat.*
}

# record OUT ARGS... -- COMMAND...: allocscope record; the command's exit status is not ours.
record() {
	local out=$1
	shift
	GLIBC_TUNABLES=$TUNABLES "$REC" record -o "$out" "$@" >/dev/null 2>"$WORK/rec.err" </dev/null || true
	[ -s "$out" ] || { bench_error "record -o $out $*: $(tail -2 "$WORK/rec.err" | tr '\n' ' ')"; return 1; }
}

echo "## Accuracy"
echo
machine
echo

# name|label|allocscope args|command: each case runs under DHAT once and under allocscope at
# --rate 1 and at the default rate (sampled cases need more work to say anything, hence --repeat).
C_CASES=(
	"loop64|malloc_loop 64 B, free each, 1 thr|$LOOP $LOOP_N 64 1 1 1"
	"loop4k|malloc_loop 4 KiB, keep 1000, 2 thr|$LOOP $LOOP_N 4096 2 1000 1"
	"pattern|alloc_pattern|$PATTERN"
	"pattern_rep|alloc_pattern --repeat $REPEAT|$PATTERN --repeat $REPEAT"
	"mixed|mixed_sizes: stacks mixing 16 B with 10 MiB, and 8 B..1 MiB|$MIXED"
)
if has valgrind; then
	for c in "${C_CASES[@]}"; do
		IFS='|' read -r name label cmd <<<"$c"
		# shellcheck disable=SC2086
		dhat "$WORK/$name.dhat" $cmd || { bench_error "DHAT on $cmd: $(tail -2 "$WORK/vg.err")"; continue; }
		rates="1 524288"
		[ $name = pattern_rep ] && rates=524288 # --rate 1 of the single pattern says it all
		[ $name = pattern ] && rates=1
		# Per-size unsampling matters where samples are few per size: also at 64 KiB.
		[ $name = mixed ] && rates="65536 524288"
		for rate in $rates; do
			# shellcheck disable=SC2086
			record "$WORK/$name.$rate.pb.gz" --rate $rate -- $cmd &&
				echo "c|$label|$WORK/$name.dhat|$WORK/$name.$rate.pb.gz|$rate" >>"$MANIFEST"
		done
	done
	echo "  done: C" >&2
else
	echo "C: n/a (valgrind not installed)"
fi

if has go && [ -x "$GOALLOC" ]; then
	record "$WORK/go.pb.gz" -- "$GOALLOC" -rounds $GO_ROUNDS -heap "$WORK/go.own.pb.gz" &&
		echo "go|goalloc -rounds $GO_ROUNDS|$WORK/go.own.pb.gz|$WORK/go.pb.gz|default" >>"$MANIFEST"
	record "$WORK/goe.pb.gz" --go-every-call --rate 1 -- "$GOALLOC" -rounds $GO_ROUNDS \
		-heap "$WORK/goe.own.pb.gz" &&
		echo "go|goalloc -rounds $GO_ROUNDS|$WORK/goe.own.pb.gz|$WORK/goe.pb.gz|exact" >>"$MANIFEST"
	echo "  done: Go" >&2
else
	echo "Go: n/a (go not installed or $GOALLOC not built)"
fi

python3 "$ROOT/tests/bench/accuracy.py" "$MANIFEST" || BENCH_ERRORS=$((BENCH_ERRORS + 1))
echo "commands (every C command under GLIBC_TUNABLES=$TUNABLES):"
echo "- truth: valgrind --tool=dhat --dhat-out-file=FILE COMMAND (the parent's file)"
echo "- allocscope: $REC record --rate 1|--rate 65536 (mixed_sizes)|--rate 524288 -o FILE -- COMMAND"
for c in "${C_CASES[@]}"; do echo "  COMMAND: ${c##*|}"; done
echo "- Go: $REC record [--go-every-call --rate 1] -o FILE -- $GOALLOC -rounds $GO_ROUNDS -heap RUNTIME_FILE"
echo "- read: go tool pprof -raw FILE (both profiles; DHAT's JSON as written)"
[ "$BENCH_ERRORS" = 0 ]
