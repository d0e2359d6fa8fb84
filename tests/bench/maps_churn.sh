#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 12's map churn: allocscoped --interval 1 watching tests/targets/maps_churn (threads
# started and joined, anonymous and file mappings made and unmade, a library loaded and unloaded,
# CHURN_RATE rounds a second) for CHURN_MINUTES (default 30). Every minute: the daemon's RSS, its
# CPU per drain, drains, and the maps refreshes it made. The daemon's memory must be flat after
# the first minutes: the last line compares the last minute with the third. Not in CI (half an
# hour); BENCH_SMOKE=1 runs 3 minutes.
# Usage: CHURN_MINUTES=30 CHURN_RATE=50 tests/bench/maps_churn.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"

MINUTES=${CHURN_MINUTES:-30}
RATE=${CHURN_RATE:-50}
[ "$SMOKE" = 1 ] && MINUTES=3
DAEMON=$WORK/allocscoped
cp "$BUILD/allocscoped" "$DAEMON"
cp "$BUILD/tests/targets/maps_churn" "$WORK/maps_churn"

"$DAEMON" --comm maps_churn --interval 1 --listen 127.0.0.1:0 2>"$WORK/daemon.log" &
dpid=$!
at_exit "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
wait_for "$WORK/daemon.log" "serving on" 30 || { bench_error "daemon did not start"; exit 1; }
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.log" | head -1)
# Until the end of the run (killed then): a minute of this loop takes over 60 s with the scrapes.
"$WORK/maps_churn" $((MINUTES * 60 * 10)) "$RATE" >"$WORK/churn.out" &
cpid=$!
at_exit "kill $cpid 2>/dev/null"

metric() { # name -> value of the one sample, "n/a" when the scrape failed
	python3 -c "
import sys, urllib.request
t = urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=10).read().decode()
print(sum(float(l.split()[-1]) for l in t.splitlines() if l.startswith('$1 ') or l.startswith('$1{')))" \
		2>/dev/null || printf 'n/a'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$dpid/stat" 2>/dev/null || echo 0; }

machine
echo "map churn: $MINUTES min, $RATE rounds/s of maps_churn (thread, anonymous and file"
echo "mapping, dlopen/dlclose); allocscoped --comm maps_churn --interval 1"
echo
printf '| min | RSS MiB | CPU ms per drain | drains | stacks cached | frames interned |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: |\n'
hz=$(getconf CLK_TCK)
declare -a RSS CPU
last=0
d0=$(metric allocscope_drains_total)
for m in $(seq 1 "$MINUTES"); do
	t0=$(cpu_ticks)
	sleep 60
	kill -0 "$dpid" 2>/dev/null || { bench_error "the daemon died"; break; }
	kill -0 "$cpid" 2>/dev/null || { bench_error "maps_churn ended early"; break; }
	t1=$(cpu_ticks)
	d1=$(metric allocscope_drains_total)
	RSS[$m]=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$dpid/status")
	CPU[$m]=$(echo "($t1 - $t0) * 1000 / $hz / (${d1%.*} - ${d0%.*})" | bc -l 2>/dev/null |
		xargs printf '%.1f' 2>/dev/null || echo n/a)
	last=$m
	printf '| %d | %s | %s | %s | %s | %s |\n' "$m" "${RSS[$m]}" "${CPU[$m]}" "${d1%.*}" \
		"$(metric allocscope_stacks_cached | cut -d. -f1)" \
		"$(metric allocscope_stack_frames_interned | cut -d. -f1)"
	d0=$d1
done
echo
if [ "$last" -ge 3 ]; then
	echo "RSS minute $last / minute 3: $(echo "${RSS[$last]} / ${RSS[3]}" | bc -l | xargs printf '%.3f')" \
		"(goal <= 1.05); CPU per drain: $(echo "${CPU[$last]} / ${CPU[3]}" | bc -l 2>/dev/null |
		xargs printf '%.2f' 2>/dev/null || echo n/a)x"
fi
grep -c 'warning\|error' "$WORK/daemon.log" | xargs echo "daemon warnings and errors:"
[ "$BENCH_ERRORS" = 0 ]
