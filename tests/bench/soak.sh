#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 8's soak: allocscoped for SOAK_MINUTES (default 60) against churning targets (short-lived
# processes started continuously and matched by comm), one long-lived allocating process, and
# tests/targets/go/gostress run back to back in the runtime's sampler mode (stack growth, panics,
# many threads). Every minute it prints the daemon's RSS, CPU, drains, drops, targets and
# warnings, and the targets' health: soaklings must exit 7 (their normal status), every gostress
# run must exit 0 and print the unprobed run's checksum. The last table goes in README.md. Not a
# test and not in CI: it takes an hour. The daemon runs in a memory cgroup of its own limited to
# SOAK_MEMORY_MAX (default 256M, the unit's MemoryMax and the DaemonSet's limit; "none": no
# cgroup), and the table reports the cgroup's peak usage against it and its OOM kills.
# Usage: SOAK_MINUTES=60 SOAK_RATE=4 tests/bench/soak.sh   (SOAK_RATE: processes started per s)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

MINUTES=${SOAK_MINUTES:-60}
RATE=${SOAK_RATE:-4}
[ "$SMOKE" = 1 ] && MINUTES=1
# Copies: a rebuild during the hour (make writes build/ in place) must not change what runs.
DAEMON=$WORK/allocscoped
cp "$BUILD/allocscoped" "$DAEMON"
cp "$BUILD/tests/targets/alloc_pattern" "$WORK/soakling"
cp "$BUILD/tests/targets/topload" "$WORK/soaklong"
cp "$BUILD/tests/targets/go/gostress" "$WORK/gostress"
"$WORK/gostress" -rate 4096 >"$WORK/gostress.want" 2>&1 || bench_error "gostress fails unprobed"

MEMORY_MAX=${SOAK_MEMORY_MAX:-256M}
CG=
if [ "$MEMORY_MAX" != none ]; then
	CG=$(memory_cgroup_new "allocscope-soak-$$" "$MEMORY_MAX") ||
		{ bench_error "cannot make a memory cgroup"; exit 1; }
	at_exit "memory_cgroup_remove $CG"
fi
# The daemon joins the cgroup before it starts, so that its BPF maps are charged there too.
sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$CG" \
	"$DAEMON" --comm soakling --comm soaklong --comm gostress --interval 10 --listen 127.0.0.1:0 \
	2>"$WORK/daemon.log" &
dpid=$!
at_exit "kill $dpid 2>/dev/null; wait $dpid 2>/dev/null"
wait_for "$WORK/daemon.log" "serving on" 30 || { bench_error "daemon did not start"; exit 1; }
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.log" | head -1)
"$WORK/soaklong" $((MINUTES * 60 + 30)) >/dev/null &
lpid=$!
at_exit "kill $lpid 2>/dev/null"
# gostress back to back until the soak ends: one line per run, "ok" or what went wrong.
(
	end=$((SECONDS + MINUTES * 60))
	while [ $SECONDS -lt $end ]; do
		"$WORK/gostress" -rate 4096 >"$WORK/gostress.out" 2>&1
		st=$?
		if [ $st != 0 ]; then echo "exit $st"
		elif ! cmp -s "$WORK/gostress.out" "$WORK/gostress.want"; then echo "output differs"
		else echo ok; continue; fi
		# Kept for the report: what the run printed (a Go crash prints its reason).
		cp "$WORK/gostress.out" "$WORK/gostress.bad.$SECONDS"
	done >"$WORK/gostress.runs"
) &
gpid=$!
at_exit "kill $gpid 2>/dev/null"
touch "$WORK/exits"

# One scrape per row (metrics_now), read by metric; "n/a" when the scrape failed (10 s).
metrics_now() {
	out=$(python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$port/metrics',timeout=10).read().decode())" 2>/dev/null)
}
metric() { # name [label filter] -> value
	[ -n "$out" ] || { printf 'n/a'; return; }
	awk -v n="$1" -v f="${2:-}" '$1 ~ "^"n && index($1, f) { s += $2 } END { printf "%d", s }' <<<"$out"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$dpid/stat" 2>/dev/null || echo 0; }

machine
echo "soak: $MINUTES min, $RATE short-lived processes/s (alloc_pattern as 'soakling') + one"
echo "long-lived allocator ('soaklong') + gostress -rate 4096 back to back;"
echo "allocscoped --comm soakling --comm soaklong --comm gostress --interval 10"
echo "in a memory cgroup limited to $MEMORY_MAX (${CG:-no cgroup})"
echo
printf '| min | started | bad exits | gostress runs (bad) | RSS MiB | cgroup peak MiB | CPU %% | drains | targets | dropped events | attach failures | warnings |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
hz=$(getconf CLK_TCK)
started=0
for m in $(seq 1 "$MINUTES"); do
	t0=$(cpu_ticks)
	end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ]; do
		for _ in $(seq 1 "$RATE"); do
			{ "$WORK/soakling" >/dev/null 2>&1; echo $? >>"$WORK/exits"; } &
			started=$((started + 1))
		done
		sleep 1
		wait -n 2>/dev/null || true
	done
	kill -0 "$dpid" 2>/dev/null || { bench_error "the daemon died"; break; }
	t1=$(cpu_ticks)
	rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$dpid/status")
	metrics_now
	bad=$(grep -cvx 7 "$WORK/exits")
	gruns=$(wc -l <"$WORK/gostress.runs")
	gbad=$(grep -cvx ok "$WORK/gostress.runs")
	printf '| %d | %d | %d | %d (%d) | %s | %s | %.2f | %s | %s | %s | %s | %d |\n' "$m" \
		"$started" "$bad" "$gruns" "$gbad" "$rss" "$(memory_cgroup_peak_mib "$CG")" \
		"$(echo "($t1 - $t0) * 100 / $hz / 60" | bc -l)" "$(metric allocscope_drains_total)" \
		"$(metric allocscope_targets)" "$(metric allocscope_events_dropped_total)" \
		"$(metric allocscope_attach_failures_total)" "$(grep -c 'warning\|error' "$WORK/daemon.log")"
done
echo
[ -n "$CG" ] && echo "memory cgroup: limit $MEMORY_MAX, peak $(memory_cgroup_peak_mib "$CG") MiB," \
	"OOM kills $(memory_cgroup_oom_kills "$CG"); daemon $(kill -0 "$dpid" 2>/dev/null &&
	echo alive || echo GONE)"
echo "warnings and errors of the daemon (last 5):"
grep 'warning\|error' "$WORK/daemon.log" | tail -5
echo "soakling exit statuses other than 7: $(grep -vx 7 "$WORK/exits" | sort | uniq -c | tr '\n' ' ')"
echo "gostress runs that went wrong: $(grep -vx ok "$WORK/gostress.runs" | sort | uniq -c | tr '\n' ' ')"
for f in "$WORK"/gostress.bad.*; do
	[ -f "$f" ] && { echo "== $f (first lines)"; head -20 "$f"; }
done
[ "$BENCH_ERRORS" = 0 ]
