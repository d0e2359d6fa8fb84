#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Overhead on Go programs, each figure against the same program unprofiled in this invocation:
# an allocation-heavy program timing a fixed amount of work itself (tests/bench/go/allocbench),
# and a small HTTP service (tests/bench/go/httpsvc) under wrk on 127.0.0.1, bounded in time.
# Modes: unprofiled, allocscope's default Go mode (the runtime's own sampler), --go-every-call.
# Usage: tests/bench/go.sh   (BENCH_SMOKE=1: short, proves it works)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ALLOCS=2000000 # allocations of allocbench per run
REPS=7 # unprofiled and default mode: cheap, and the noise of a shared 2-CPU VM is several %
EVERY_REPS=3 # --go-every-call: ~30x slower
HTTP_REPS=5
HTTP_SECS=5
HTTP_WARM=1
if [ "$SMOKE" = 1 ]; then
	ALLOCS=100000
	REPS=1
	EVERY_REPS=1
	HTTP_REPS=1
	HTTP_SECS=2
	HTTP_WARM=1
fi
# BENCH_GO picks the toolchain (e.g. /usr/lib/go-1.23/bin/go: the newest that builds here),
# so that the same benchmark runs with Go versions side by side; each gets its own folder.
BENCH_GO=${BENCH_GO:-go}
GO_VERSION=$("$BENCH_GO" env GOVERSION 2>/dev/null || echo unknown)
GOBIN=$BUILD/tests/bench/go/$GO_VERSION
WRK=(wrk -t1 -c8 --latency)
# The service and the load generator on separate CPUs, so they take turns less (2-CPU machines).
SVC_CPU=1
WRK_CPU=0
MODES=(unprofiled default everycall)
declare -A MODE_ARGS=([default]="" [everycall]="--go-every-call")
declare -A MODE_NAME=([unprofiled]="unprofiled" [default]="\`record\` (default Go mode)"
	[everycall]="\`record --go-every-call\`")

[ -x "$REC" ] || { echo "go.sh: build first (make)" >&2; exit 1; }
has "$BENCH_GO" || { echo "go.sh: n/a ($BENCH_GO not installed)"; exit 0; }
echo "Go toolchain: $GO_VERSION ($BENCH_GO)"
build_go ./allocbench ./httpsvc || { echo "go.sh: cannot build tests/bench/go" >&2; exit 1; }

# alloc_run MODE: one run of allocbench; prints "allocs_per_s ns_per_alloc" or "err err".
alloc_run() {
	local mode=$1 line
	local cmd=("$GOBIN/allocbench" -n $ALLOCS)
	if [ "$mode" = unprofiled ]; then
		line=$("${cmd[@]}" 2>"$WORK/err" | grep '^allocs ' || true)
	else
		# shellcheck disable=SC2086
		line=$("$REC" record ${MODE_ARGS[$mode]} -o "$WORK/a.pb.gz" -- "${cmd[@]}" \
			2>"$WORK/err" | grep '^allocs ' || true)
	fi
	if [ -z "$line" ]; then
		bench_error "allocbench, $mode: $(tail -2 "$WORK/err" | tr '\n' ' ')"
		echo "err err"
		return
	fi
	awk '{print $6, $8}' <<<"$line"
}

# to_ms "1.23ms" -> 1.23 (wrk prints us, ms or s)
to_ms() { awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[0-9]s$/) v *= 1000; print v }' <<<"$1"; }

# http_run MODE: one service, one load; prints "requests_per_s p50_ms p99_ms" or "err err err".
http_run() {
	local mode=$1 svc rec="" addr out=$WORK/wrk.out rps p50 p99
	taskset -c $SVC_CPU "$GOBIN/httpsvc" -seconds 120 >"$WORK/svc.out" 2>&1 &
	svc=$!
	if ! wait_for "$WORK/svc.out" '^listening on ' 10; then
		bench_error "httpsvc did not start: $(tail -2 "$WORK/svc.out" | tr '\n' ' ')"
		stop_pid $svc
		echo "err err err"
		return
	fi
	addr=$(sed -n 's/^listening on //p' "$WORK/svc.out")
	case $addr in 127.0.0.1:*) ;; *)
		bench_error "httpsvc listens on $addr, not loopback"
		stop_pid $svc
		echo "err err err"
		return
		;;
	esac
	if [ "$mode" != unprofiled ]; then
		# shellcheck disable=SC2086
		"$REC" record --pid $svc ${MODE_ARGS[$mode]} --duration 60 -o "$WORK/h.pb.gz" \
			>/dev/null 2>"$WORK/rec.err" &
		rec=$!
		if ! wait_for "$WORK/rec.err" 'recording pid' 15; then
			bench_error "record --pid $mode did not start: $(tail -2 "$WORK/rec.err" | tr '\n' ' ')"
			stop_pid $rec
			stop_pid $svc
			echo "err err err"
			return
		fi
	fi
	taskset -c $WRK_CPU timeout 30 "${WRK[@]}" -d${HTTP_WARM}s "http://$addr/" >/dev/null 2>&1 || true
	taskset -c $WRK_CPU timeout 60 "${WRK[@]}" -d${HTTP_SECS}s "http://$addr/" >"$out" 2>&1 || true
	if [ -n "$rec" ]; then
		kill -INT $rec 2>/dev/null || true
		wait $rec 2>/dev/null || bench_error "record --pid $mode: $(tail -2 "$WORK/rec.err" | tr '\n' ' ')"
	fi
	stop_pid $svc
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	if [ -z "$rps" ] || [ -z "$p99" ] || grep -q 'Non-2xx\|Socket errors' "$out"; then
		bench_error "wrk on httpsvc, $mode: $(tr '\n' ' ' <"$out" | tail -c 300)"
		echo "err err err"
		return
	fi
	echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

echo "## Go"
echo
machine
echo "go: $GO_VERSION; medians of $REPS (allocbench) and" \
	"$HTTP_REPS (httpsvc) runs, --go-every-call of $EVERY_REPS; modes interleaved"
echo
declare -A A_RATE A_NS H_RPS H_P50 H_P99
for rep in $(seq $REPS); do
	for mode in "${MODES[@]}"; do
		[ $mode = everycall ] && [ $rep -gt $EVERY_REPS ] && continue
		read -r r n <<<"$(alloc_run $mode)"
		A_RATE[$mode]+="$r "
		A_NS[$mode]+="$n "
	done
done
echo "  done: allocbench" >&2
if has wrk; then
	for rep in $(seq $HTTP_REPS); do
		for mode in "${MODES[@]}"; do
			[ $mode = everycall ] && [ $rep -gt $EVERY_REPS ] && continue
			read -r r a b <<<"$(http_run $mode)"
			H_RPS[$mode]+="$r "
			H_P50[$mode]+="$a "
			H_P99[$mode]+="$b "
		done
	done
	echo "  done: httpsvc" >&2
fi

# spread VALUES...: "min-max" of the numeric values
spread() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk "$AWK_FMT"'
	NR == 1 {lo = $1} {hi = $1} END { if (NR) printf "%s-%s", num(lo), num(hi); else print "err" }'; }

echo "allocbench: $ALLOCS allocations (64 B objects 1/2, 16 B strings 1/4, 128 B boxed values 1/8," \
	"1 KiB buffers 1/8), timed by the program:"
echo
echo "| mode | allocations/s (min-max) | ns per allocation | added ns | throughput vs unprofiled |"
echo "| --- | ---: | ---: | ---: | ---: |"
base_rate=$(median ${A_RATE[unprofiled]})
base_ns=$(median ${A_NS[unprofiled]})
for mode in "${MODES[@]}"; do
	# shellcheck disable=SC2086
	awk -v m="${MODE_NAME[$mode]}" -v r="$(median ${A_RATE[$mode]})" -v sp="$(spread ${A_RATE[$mode]})" \
		-v n="$(median ${A_NS[$mode]})" -v br="$base_rate" -v bn="$base_ns" "$AWK_FMT"'BEGIN {
		printf "| %s | %s (%s) | %s | %s | %s |\n", m, num(r), sp, num(n),
			isnum(n) && isnum(bn) ? num(n - bn "") : "err",
			isnum(r) && isnum(br) ? sprintf("%.3f", r / br) : "err" }'
done
echo
if has wrk; then
	echo "httpsvc: GET / (32 records as JSON, ~3 KiB) for ${HTTP_SECS} s after ${HTTP_WARM} s of warm-up," \
		"$(echo "${WRK[@]}" | sed 's/^wrk //'), on 127.0.0.1:"
	echo
	echo "| mode | requests/s (min-max) | vs unprofiled | p50 latency | p99 latency (min-max) | p99 vs unprofiled |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	base_rps=$(median ${H_RPS[unprofiled]})
	base_p99=$(median ${H_P99[unprofiled]})
	for mode in "${MODES[@]}"; do
		# shellcheck disable=SC2086
		awk -v m="${MODE_NAME[$mode]}" -v r="$(median ${H_RPS[$mode]})" -v sp="$(spread ${H_RPS[$mode]})" \
			-v p50="$(median ${H_P50[$mode]})" -v p99="$(median ${H_P99[$mode]})" \
			-v p99s="$(spread ${H_P99[$mode]})" \
			-v br="$base_rps" -v bp="$base_p99" "$AWK_FMT"'BEGIN {
			printf "| %s | %s (%s) | %s | %s ms | %s ms (%s) | %s |\n", m, num(r), sp,
				isnum(r) && isnum(br) ? sprintf("%.3f", r / br) : "err", p50, p99, p99s,
				isnum(p99) && isnum(bp) ? sprintf("%.2fx", p99 / bp) : "err" }'
	done
	echo
else
	echo "httpsvc: n/a (wrk not installed)"
	echo
fi
awk -v a="$(median ${A_RATE[default]})" -v ab="$base_rate" -v h="$(median ${H_RPS[default]:-n/a})" \
	-v hb="$(median ${H_RPS[unprofiled]:-n/a})" "$AWK_FMT"'BEGIN {
	printf "goal: default Go mode >= 0.99 of unprofiled throughput: allocbench %s, httpsvc %s\n",
		isnum(a) && isnum(ab) ? sprintf("%.3f (%s)", a / ab, a / ab >= 0.99 ? "met" : "missed") : "err",
		isnum(h) && isnum(hb) ? sprintf("%.3f (%s)", h / hb, h / hb >= 0.99 ? "met" : "missed") : "n/a" }'
echo
echo "commands:"
echo "- build: cd tests/bench/go && ${GO_ENV[*]} $BENCH_GO build -o $GOBIN/ ./allocbench ./httpsvc"
echo "- allocbench: [$REC record [--go-every-call] -o FILE --] $GOBIN/allocbench -n $ALLOCS"
echo "- httpsvc: taskset -c $SVC_CPU $GOBIN/httpsvc (listens on 127.0.0.1:0); then"
echo "  $REC record --pid PID [--go-every-call] --duration 60 -o FILE (stopped by SIGINT after the load);"
echo "  taskset -c $WRK_CPU ${WRK[*]} -d${HTTP_WARM}s http://127.0.0.1:PORT/ (warm-up), then -d${HTTP_SECS}s (measured)"
[ "$BENCH_ERRORS" = 0 ]
