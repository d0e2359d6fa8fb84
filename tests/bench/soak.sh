#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 8's soak: allocscoped for SOAK_MINUTES (default 60) against churning targets (short-lived
# processes started continuously and matched by comm) and one long-lived allocating process.
# Every minute it prints the daemon's RSS, CPU, drains, drops, targets and warnings; the last
# table goes in README.md. Not a test and not in CI: it takes an hour.
# Usage: SOAK_MINUTES=60 SOAK_RATE=4 tests/bench/soak.sh   (SOAK_RATE: processes started per s)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

MINUTES=${SOAK_MINUTES:-60}
RATE=${SOAK_RATE:-4}
[ "$SMOKE" = 1 ] && MINUTES=1
DAEMON=$BUILD/allocscoped
cp "$BUILD/tests/targets/alloc_pattern" "$WORK/soakling"
cp "$BUILD/tests/targets/topload" "$WORK/soaklong"

"$DAEMON" --comm soakling --comm soaklong --interval 10 --listen 127.0.0.1:0 \
	2>"$WORK/daemon.log" &
dpid=$!
at_exit "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
wait_for "$WORK/daemon.log" "serving on" 30 || { bench_error "daemon did not start"; exit 1; }
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.log" | head -1)
"$WORK/soaklong" $((MINUTES * 60 + 30)) >/dev/null &
lpid=$!
at_exit "kill $lpid 2>/dev/null"

metric() { # name [label filter] -> value
	out=$(python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$port/metrics',timeout=10).read().decode())" 2>/dev/null)
	awk -v n="$1" -v f="${2:-}" '$1 ~ "^"n && index($1, f) { s += $2 } END { printf "%d", s }' <<<"$out"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$dpid/stat" 2>/dev/null || echo 0; }

machine
echo "soak: $MINUTES min, $RATE short-lived processes/s (alloc_pattern as 'soakling') + one"
echo "long-lived allocator ('soaklong'); allocscoped --comm soakling --comm soaklong --interval 10"
echo
printf '| min | started | RSS MiB | CPU %% | drains | targets | dropped events | attach failures | warnings |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
hz=$(getconf CLK_TCK)
started=0
for m in $(seq 1 "$MINUTES"); do
	t0=$(cpu_ticks)
	end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ]; do
		for _ in $(seq 1 "$RATE"); do
			"$WORK/soakling" >/dev/null 2>&1 &
			started=$((started + 1))
		done
		sleep 1
		wait -n 2>/dev/null || true
	done
	kill -0 "$dpid" 2>/dev/null || { bench_error "the daemon died"; break; }
	t1=$(cpu_ticks)
	rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$dpid/status")
	printf '| %d | %d | %s | %.2f | %s | %s | %s | %s | %d |\n' "$m" "$started" "$rss" \
		"$(echo "($t1 - $t0) * 100 / $hz / 60" | bc -l)" "$(metric allocscope_drains_total)" \
		"$(metric allocscope_targets)" "$(metric allocscope_events_dropped_total)" \
		"$(metric allocscope_attach_failures_total)" "$(grep -c 'warning\|error' "$WORK/daemon.log")"
done
echo
echo "warnings and errors of the daemon (last 5):"
grep 'warning\|error' "$WORK/daemon.log" | tail -5
[ "$BENCH_ERRORS" = 0 ]
