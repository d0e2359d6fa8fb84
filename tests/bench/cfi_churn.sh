#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 7 under churn: allocscoped --unwind cfi matching a short-lived program by name at exec
# (tests/targets/cfi/cfi_app: a few milliseconds, ~100 allocations through libraries built
# without frame pointers). How many of the processes the daemon caught (a pid with samples in
# the profile), and of the samples it caught, how many stacks reach main (or the loader's init,
# for libstdc++'s own allocations).
# Usage: tests/bench/cfi_churn.sh   (BENCH_SMOKE=1: 10 processes; CFI_CHURN_N, CFI_CHURN_GAP)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${CFI_CHURN_N:-100}
GAP=${CFI_CHURN_GAP:-0.2}
[ "$SMOKE" = 1 ] && N=10
APP=$BUILD/tests/targets/cfi/cfi_app
DAEMON=$BUILD/allocscoped
[ -x "$APP" ] && [ -x "$DAEMON" ] || { echo "cfi_churn.sh: build first (make)" >&2; exit 1; }
command -v go >/dev/null || { echo "cfi_churn.sh: needs go tool pprof" >&2; exit 1; }

DAEMON_PID=
stop_daemon() { [ -z "$DAEMON_PID" ] || { kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; } || true; }
at_exit stop_daemon

echo "## CFI stacks of short-lived processes (allocscoped, matched at exec)"
echo
machine
"$DAEMON" --comm cfi_app --unwind cfi --rate 1 --interval 5 --listen 127.0.0.1:0 \
	2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 300); do grep -q 'serving on' "$WORK/daemon.err" && break; sleep 0.1; done
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.err" | head -1)
[ -n "$port" ] || { bench_error "daemon did not start: $(tail -2 "$WORK/daemon.err")"; exit 1; }
apps=()
for _ in $(seq "$N"); do
	"$APP" >/dev/null &
	apps+=($!)
	sleep "$GAP"
done
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
wait "${apps[@]}" || bench_error "cfi_app failed"
sleep 12 # two drains: every process has ended and been read
curl -s --max-time 30 "http://127.0.0.1:$port/metrics" >"$WORK/metrics"
curl -s --max-time 30 "http://127.0.0.1:$port/debug/pprof/allocs?comm=cfi_app" -o "$WORK/p.pb.gz" ||
	bench_error "no profile"
stop_daemon
DAEMON_PID=

# Processes caught: pids of this run with samples in the profile.
caught=$(python3 - "$ROOT/tests/e2e" "$WORK/p.pb.gz" "${apps[@]}" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import pprof_raw
p = pprof_raw.read(sys.argv[2])
pids = {int(s["labels"].get("pid", 0)) for s in p.samples}
print(len(pids & {int(a) for a in sys.argv[3:]}))
PY
) || { bench_error "cannot read the profile"; caught=0; }

# Per sample (go tool pprof -traces): its count, and whether a frame is main or _dl_start_user.
go tool pprof -traces -sample_index=alloc_objects "$WORK/p.pb.gz" 2>/dev/null | awk -v n="$N" -v caught="$caught" \
	-v ev="$(awk '$1 == "allocscope_unwind_events_total" { print $2 }' "$WORK/metrics")" \
	-v tr="$(awk '$1 == "allocscope_unwind_truncated_total" { print $2 }' "$WORK/metrics")" '
function flush() { if (in_s) { tot += c; if (whole) ok += c }; in_s = 0; whole = 0 }
/^-----------\+/ { flush(); next }
/^ +[0-9]+ +[^ ]/ && !in_s && $1 ~ /^[0-9]+$/ { c = $1; in_s = 1; if ($2 == "main") whole = 1; next }
in_s && ($1 == "main" || $1 == "_dl_start_user") { whole = 1 }
END {
	flush()
	print ""
	print "| processes | caught | share caught | samples in the profile | reaching main or the loader | share | unwind events | truncated |"
	print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf "| %d | %d | %.0f%% | %d | %d | %.1f%% | %s | %s |\n", n, caught, n ? 100 * caught / n : 0, tot, ok, tot ? 100 * ok / tot : 0, ev, tr
}'
echo
[ "$caught" -gt 0 ] || bench_error "no cfi_app process caught"
echo "load average (1 min): $LOAD_END after the last process"
echo "commands: $DAEMON --comm cfi_app --unwind cfi --rate 1 --interval 5; $N x $APP, one every" \
	"$GAP s; go tool pprof -traces of /debug/pprof/allocs?comm=cfi_app 12 s after the last"
[ "$BENCH_ERRORS" = 0 ]
