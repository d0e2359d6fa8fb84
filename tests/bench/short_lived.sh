#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 20's measure: of processes matched by name at exec that live L ms before they allocate
# (tests/targets/alloc_pattern --delay-ms L, copied as "latprobe"), how many does allocscoped
# watch, and of those, how many are counted exactly (alloc_small's 1000 calls at --rate 1).
# A process is "watched" when its pid has samples in /debug/pprof/allocs?comm=latprobe.
# Usage: tests/bench/short_lived.sh   (BENCH_SMOKE=1: 5 runs per lifetime; SHORT_LIVED_RUNS=N,
#        SHORT_LIVED_LIFETIMES="0 1 2 3 5 10 20")
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUNS=${SHORT_LIVED_RUNS:-20}
[ "$SMOKE" = 1 ] && RUNS=5
LIFETIMES=${SHORT_LIVED_LIFETIMES:-0 1 2 3 5 10 20}
DAEMON=$BUILD/allocscoped
PATTERN=$BUILD/tests/targets/alloc_pattern
[ -x "$PATTERN" ] && [ -x "$DAEMON" ] || { echo "short_lived.sh: build first (make)" >&2; exit 1; }
command -v go >/dev/null || { echo "short_lived.sh: needs go tool pprof" >&2; exit 1; }
cp "$PATTERN" "$WORK/latprobe"

DAEMON_PID=
stop_daemon() { [ -z "$DAEMON_PID" ] || { kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; } || true; }
at_exit stop_daemon

echo "## Short-lived processes: watched from exec (allocscoped --comm, --rate 1)"
echo
machine
"$DAEMON" --comm latprobe --rate 1 --interval 1 --listen 127.0.0.1:0 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 300); do grep -q 'serving on' "$WORK/daemon.err" && break; sleep 0.1; done
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.err" | head -1)
[ -n "$port" ] || { bench_error "daemon did not start: $(tail -2 "$WORK/daemon.err")"; exit 1; }

# One process at a time, so each lifetime is measured on an otherwise idle daemon.
: >"$WORK/pids"
for l in $LIFETIMES; do
	for _ in $(seq "$RUNS"); do
		"$WORK/latprobe" --delay-ms "$l" >/dev/null &
		echo "$l $!" >>"$WORK/pids"
		wait $! || [ $? = 7 ] || bench_error "latprobe failed" # alloc_pattern exits 7
		sleep 0.05
	done
done
sleep 3 # two drains after the last exit
curl -s --max-time 60 "http://127.0.0.1:$port/debug/pprof/allocs?comm=latprobe" \
	-o "$WORK/p.pb.gz" || bench_error "no profile"
stop_daemon
DAEMON_PID=

# pid -> alloc_small's calls, read the way the e2e tests read profiles (go tool pprof -raw).
python3 - "$ROOT/tests/e2e" "$WORK/p.pb.gz" >"$WORK/seen" <<'PY'
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

echo
echo "| lifetime after exec | runs | watched | share | counted exactly (of watched) |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for l in $LIFETIMES; do
	awk -v l="$l" 'NR == FNR { got[$1] = $2; next }
		$1 == l { n++; if ($2 in got) { w++; if (got[$2] == 1000) e++ } }
		END { printf "| %s ms | %d | %d | %.0f%% | %d |\n", l, n, w, n ? 100 * w / n : 0, e }' \
		"$WORK/seen" "$WORK/pids"
done
[ -z "${SHORT_LIVED_DEBUG:-}" ] || cat "$WORK/seen" "$WORK/pids" >&2
echo
echo "commands: $DAEMON --comm latprobe --rate 1 --interval 1; per lifetime L, $RUNS x" \
	"latprobe --delay-ms L one after another; pids with samples in" \
	"/debug/pprof/allocs?comm=latprobe; exact: alloc_small's 1000 calls all counted"
[ "$BENCH_ERRORS" = 0 ]
