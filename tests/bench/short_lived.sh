#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 20's measure: of processes matched by name at exec that live L ms before they allocate
# (tests/targets/alloc_pattern --delay-ms L, copied as "latprobe"), how many does allocscoped
# watch, and of those, how many are counted exactly (alloc_small's 1000 calls at --rate 1); on
# an idle daemon and on one that watches 100 other processes (copies of sleep, "bgtarget").
# A process is "watched" when its pid has samples in /debug/pprof/allocs?comm=latprobe. The
# daemon's allocscope_exec_attach_seconds histogram gives exec -> probes-live p50/p99.
# Usage: tests/bench/short_lived.sh   (BENCH_SMOKE=1: 5 runs per lifetime; SHORT_LIVED_RUNS=N,
#        SHORT_LIVED_LIFETIMES="0 1 2 3 5 10 20", SHORT_LIVED_BACKGROUND=100)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=${SHORT_LIVED_RUNS:-20}
[ "$SMOKE" = 1 ] && RUNS=5
LIFETIMES=${SHORT_LIVED_LIFETIMES:-0 1 2 3 5 10 20}
BG=${SHORT_LIVED_BACKGROUND:-100}
DAEMON=$BUILD/allocscoped
PATTERN=$BUILD/tests/targets/alloc_pattern
[ -x "$PATTERN" ] && [ -x "$DAEMON" ] || { echo "short_lived.sh: build first (make)" >&2; exit 1; }
command -v go >/dev/null || { echo "short_lived.sh: needs go tool pprof" >&2; exit 1; }
cp "$PATTERN" "$WORK/latprobe"
cp "$(command -v sleep)" "$WORK/bgtarget"

DAEMON_PID=
BG_PIDS=()
stop_daemon() { [ -z "$DAEMON_PID" ] || { kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; } || true; }
stop_bg() { [ ${#BG_PIDS[@]} = 0 ] || kill "${BG_PIDS[@]}" 2>/dev/null || true; BG_PIDS=(); }
at_exit stop_daemon
at_exit stop_bg

metric() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }

# run_set NAME BACKGROUND: one daemon, BACKGROUND other targets, RUNS x each lifetime, one
# process at a time; leaves $WORK/NAME.seen (pid -> alloc_small calls), NAME.pids, NAME.metrics.
run_set() {
	local name=$1 bg=$2 port l n
	for _ in $(seq "$bg"); do
		"$WORK/bgtarget" 3600 &
		BG_PIDS+=($!)
	done
	"$DAEMON" --comm latprobe --comm bgtarget --rate 1 --interval 1 --listen 127.0.0.1:0 \
		2>"$WORK/$name.err" &
	DAEMON_PID=$!
	for _ in $(seq 300); do grep -q 'serving on' "$WORK/$name.err" && break; sleep 0.1; done
	port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/$name.err" | head -1)
	[ -n "$port" ] || { bench_error "daemon did not start: $(tail -2 "$WORK/$name.err")"; return 1; }
	# Every background process watched before the first run.
	for _ in $(seq 600); do
		curl -s --max-time 10 "http://127.0.0.1:$port/metrics" >"$WORK/$name.metrics" || true
		n=$(metric allocscope_targets "$WORK/$name.metrics")
		[ "${n:-0}" -ge "$bg" ] && break
		sleep 0.1
	done
	[ "${n:-0}" -ge "$bg" ] || bench_error "$name: only ${n:-0} of $bg background targets watched"
	LOAD[$name]=$(cut -d' ' -f1 /proc/loadavg)
	: >"$WORK/$name.pids"
	for l in $LIFETIMES; do
		for _ in $(seq "$RUNS"); do
			"$WORK/latprobe" --delay-ms "$l" >/dev/null &
			echo "$l $!" >>"$WORK/$name.pids"
			wait $! || [ $? = 7 ] || bench_error "latprobe failed" # alloc_pattern exits 7
			sleep 0.05
		done
	done
	LOAD[$name]="${LOAD[$name]} to $(cut -d' ' -f1 /proc/loadavg)"
	sleep 3 # two drains after the last exit
	curl -s --max-time 60 "http://127.0.0.1:$port/metrics" -o "$WORK/$name.metrics" ||
		bench_error "no metrics"
	curl -s --max-time 60 "http://127.0.0.1:$port/debug/pprof/allocs?comm=latprobe" \
		-o "$WORK/$name.pb.gz" || bench_error "no profile"
	stop_daemon
	DAEMON_PID=
	stop_bg
	# pid -> alloc_small's calls, read the way the e2e tests read profiles (go tool pprof -raw).
	python3 - "$ROOT/tests/e2e" "$WORK/$name.pb.gz" >"$WORK/$name.seen" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import pprof_raw
p = pprof_raw.read(sys.argv[2])
i = p.index("alloc_objects")
small = {}
for s in p.samples:
    pid = int(s["labels"].get("pid", 0))
    small.setdefault(pid, 0)
    if "alloc_small" in s["stack"]:
        small[pid] += s["values"][i]
for pid, n in sorted(small.items()):
    print(pid, n)
PY
}

# p50 and p99 (ms) of allocscope_exec_attach_seconds, interpolated within buckets.
quantiles() {
	python3 - "$1" <<'PY'
import re, sys
b = []
for line in open(sys.argv[1]):
    m = re.match(r'allocscope_exec_attach_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
    if m:
        b.append((float("inf") if m[1] == "+Inf" else float(m[1]), int(m[2])))
n = b[-1][1] if b else 0
def q(x):
    r, lo, prev = x * n, 0.0, 0
    for le, c in b:
        if c >= r and c > prev:
            hi = le if le != float("inf") else lo
            return (lo + (hi - lo) * (r - prev) / (c - prev)) * 1e3
        lo, prev = (le if le != float("inf") else lo), c
    return 0.0
print("%d observations, p50 %.2f ms, p99 %.2f ms" % (n, q(0.5), q(0.99)) if n else "no observations")
PY
}

declare -A LOAD
echo "## Short-lived processes: watched from exec (allocscoped --comm, --rate 1)"
echo
machine
run_set idle 0
run_set busy "$BG"

echo
echo "| lifetime after exec | runs | watched, idle | counted exactly, idle | watched, $BG other targets | counted exactly, $BG other targets |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for l in $LIFETIMES; do
	row() {
		awk -v l="$l" 'NR == FNR { got[$1] = $2; next }
			$1 == l { n++; if ($2 in got) { w++; if (got[$2] == 1000) e++ } }
			END { printf "%d %.0f%% %d", n, n ? 100 * w / n : 0, e }' "$WORK/$1.seen" "$WORK/$1.pids"
	}
	read -r n wi ei <<<"$(row idle)"
	read -r _ wb eb <<<"$(row busy)"
	echo "| $l ms | $n | $wi | $ei | $wb | $eb |"
done
echo
echo "exec -> probes live (allocscope_exec_attach_seconds): idle: $(quantiles "$WORK/idle.metrics");" \
	"$BG other targets: $(quantiles "$WORK/busy.metrics")"
echo "load average (1 min) during the runs: idle ${LOAD[idle]}, $BG other targets ${LOAD[busy]}"
[ -z "${SHORT_LIVED_DEBUG:-}" ] || cat "$WORK"/*.seen "$WORK"/*.pids >&2
echo
echo "commands: $DAEMON --comm latprobe --comm bgtarget --rate 1 --interval 1; 0 or $BG x" \
	"bgtarget (a copy of sleep) watched first; per lifetime L, $RUNS x latprobe --delay-ms L" \
	"one after another; watched: pids with samples in /debug/pprof/allocs?comm=latprobe;" \
	"exact: alloc_small's 1000 calls all counted"
[ "$BENCH_ERRORS" = 0 ]
