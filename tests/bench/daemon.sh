#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The daemon's own cost (issue 4): allocscoped's CPU per drain and RSS at 1k, 10k and 100k unique
# allocation stacks across 1, 10 and 100 target processes. The stacks are split across the
# processes (N stacks in all, N/P each, tests/bench/stacks.c), so the kernel maps hold N entries
# whatever P. Every target allocates once on each of its stacks twice per interval, so every drain
# sees every stack change. CPU per drain: the daemon's utime+stime (/proc/PID/stat) over D whole
# intervals after the first drain, divided by the drains in between (its idle work counts too).
# Goal: < 2% of one core at 10k stacks per 10 s interval, RSS <= 64 MiB at 100k stacks.
# Usage: tests/bench/daemon.sh   (BENCH_SMOKE=1: --interval 1, the small rows, well under 60 s)
#   BENCH_DAEMON_STACKS="1000 10000" BENCH_DAEMON_PROCS="1 10" BENCH_DAEMON_DRAINS=4: a subset
#   BENCH_DAEMON_DEFAULTS=1: the daemon's own map sizes and --unwind auto (issue 12's whole-daemon
#   goal: <= 150 MiB, RSS and BPF maps, at 10k stacks and 100 targets)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

INTERVAL=10
DRAINS=4 # measured intervals per row, after the first drain
STACKS=(1000 10000 100000)
PROCS=(1 10 100)
if [ "$SMOKE" = 1 ]; then
	INTERVAL=1
	DRAINS=2
	STACKS=(1000)
	PROCS=(1 10)
fi
read -r -a STACKS <<<"${BENCH_DAEMON_STACKS:-${STACKS[*]}}"
read -r -a PROCS <<<"${BENCH_DAEMON_PROCS:-${PROCS[*]}}"
DRAINS=${BENCH_DAEMON_DRAINS:-$DRAINS}
# What is measured is the kernel-aggregated path (the stats and stack maps, the history): the
# target has frame pointers. With --unwind auto (the default since issue 13) every sample of
# this --rate 1 load would be copied and unwound in user space instead: BENCH_DAEMON_UNWIND=auto.
DEFAULTS=${BENCH_DAEMON_DEFAULTS:-0}
if [ "$DEFAULTS" = 1 ]; then
	UNWIND=${BENCH_DAEMON_UNWIND:-auto}
else
	UNWIND=${BENCH_DAEMON_UNWIND:-fp}
fi
DAEMON=$BUILD/allocscoped
TARGET=$BUILD/tests/bench/stacks
MAX_LIVE=262144
HZ=$(getconf CLK_TCK)
[ -x "$DAEMON" ] || { echo "daemon.sh: build first (make)" >&2; exit 1; }
# A copy, so a rebuild during the run (make writes build/allocscoped in place) cannot break it.
cp "$DAEMON" "$WORK/allocscoped"
DAEMON_BUILT=$(date -u -r "$DAEMON" '+%Y-%m-%d %H:%M UTC')

# Stacks are stored by content in a hash map of max_stacks entries (ids probed in a space twice as
# large, so none is lost to a collision); a quarter more than the stacks leaves room for the ones
# the soon-to-be-collected leftovers hold. The stats map (one entry per stack here) gets the same.
max_stacks() {
	local n=$1 m=16384
	while [ $m -lt $((n + n / 4)) ] && [ $m -lt 131072 ]; do m=$((m * 2)); done
	echo $m
}

# The target, built here (not by make) with the flags that keep one frame per level.
CFLAGS_TARGET=(-O1 -g -fno-omit-frame-pointer -fno-inline -fno-optimize-sibling-calls -Wall -Wextra
	-Werror)
if [ ! -x "$TARGET" ] || [ "$ROOT/tests/bench/stacks.c" -nt "$TARGET" ]; then
	mkdir -p "$(dirname "$TARGET")"
	gcc "${CFLAGS_TARGET[@]}" -o "$TARGET" "$ROOT/tests/bench/stacks.c" ||
		{ echo "daemon.sh: cannot build $TARGET" >&2; exit 1; }
fi

# Every process of a row, for the cleanup on any exit (lib.sh's EXIT trap runs at_exit hooks).
ROW_PIDS=()
DAEMON_PID=
# stop_daemon: SIGTERM, then SIGKILL after 300 s; EXIT_S = the seconds it took to exit. (Detaching
# takes the kernel a while per probe, and a zombie still answers kill -0: /proc's state is read.)
stop_daemon() {
	local t0=$EPOCHREALTIME deadline=$((SECONDS + 300))
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	while [ $SECONDS -lt $deadline ] && alive "$DAEMON_PID"; do sleep 0.1; done
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	EXIT_S=$(awk -v t="$t0" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", n - t }')
}
stop_row() {
	local p
	[ -z "$DAEMON_PID" ] || stop_daemon
	for p in "${ROW_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${ROW_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ROW_PIDS=()
}
at_exit stop_row
trap 'exit 130' INT
trap 'exit 143' TERM

# metric FILE NAME: a metric's value from a /metrics scrape (NAME with its labels), or err.
metric() {
	awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? "err" : v) }' "$1"
}
scrape() { # PORT FILE
	curl -s --max-time 30 "http://127.0.0.1:$1/metrics" >"$2" || : >"$2"
}
cpu_ticks() { # PID: utime + stime of every thread, live or gone
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo err
}
status_kb() { # PID FIELD
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo err
}
bpf_memlock_kb() { # PID: the BPF maps' memory, from the fdinfo of the daemon's map fds (one awk:
	# the daemon holds hundreds of fds)
	awk 'FNR == 1 { map = 0 } /^map_type:/ { map = 1 } map && $1 == "memlock:" { s += $2 }
		END { printf "%d\n", s / 1024 }' /proc/"$1"/fdinfo/* 2>/dev/null || true
}
alive() { # PID: running, not a zombie
	[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || echo Z)" != Z ]
}
# wait_serving SECONDS: until the daemon says it serves (0), dies or time is up (1).
wait_serving() {
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ] && alive "$DAEMON_PID"; do
		grep -q 'serving on' "$WORK/daemon.err" && return 0
		sleep 0.1
	done
	return 1
}
# wait_drains PORT FILE N SECONDS: scrapes every 0.5 s until N drains are done (0) or time is up.
wait_drains() {
	local deadline=$((SECONDS + $4)) d
	while [ $SECONDS -lt $deadline ]; do
		scrape "$1" "$2"
		d=$(metric "$2" allocscope_drains_total)
		[ "$d" != err ] && [ "$d" -ge "$3" ] && return 0
		sleep 0.5
	done
	return 1
}
sleep_until() { # EPOCHREALTIME value
	local s
	s=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; printf "%.3f\n", (d > 0 ? d : 0) }')
	sleep "$s"
}

RESULTS=$WORK/daemon.tsv
: >"$RESULTS"
DAEMON_ARGS_SHOWN=
# run_row N P: one daemon against P targets holding N stacks in all; appends one line to RESULTS.
run_row() {
	local n=$1 p=$2 ms go port first t1 c0 c1 d0 d1 s0 s1 k count pid err hwm bpf_kb
	local run_s=$((INTERVAL * (DRAINS + 3) + 30)) period_ms=$((INTERVAL * 1000 / 2))
	local args=()
	ms=$(max_stacks "$n")
	go=$WORK/go.$n.$p
	rm -f "$go"
	first=0
	for k in $(seq 0 $((p - 1))); do
		count=$(((n * (k + 1)) / p - (n * k) / p))
		"$TARGET" "$n" $first $count $run_s $period_ms "$go" >/dev/null 2>"$WORK/target.err" &
		ROW_PIDS+=($!)
		args+=(--pid $!)
		first=$((first + count))
	done
	args+=(--interval "$INTERVAL" --rate 1 --unwind "$UNWIND" --listen 127.0.0.1:0)
	[ "$DEFAULTS" = 1 ] || args+=(--max-stacks "$ms" --max-stats "$ms" --max-live "$MAX_LIVE")
	[ -n "$DAEMON_ARGS_SHOWN" ] ||
		DAEMON_ARGS_SHOWN="allocscoped --pid PID1 ... --pid PIDP ${args[*]:$((2 * p))}"
	"$WORK/allocscoped" "${args[@]}" >/dev/null 2>"$WORK/daemon.err" &
	DAEMON_PID=$!
	err=
	if ! wait_serving 300; then
		err="no 'serving on': $(tail -2 "$WORK/daemon.err" | tr '\n' ' ')"
	fi
	port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.err" | head -1)
	[ -z "$err" ] && [ -z "$port" ] && err="no port in: $(head -1 "$WORK/daemon.err")"
	if [ -z "$err" ]; then
		touch "$go"
		# The first drain loads every stack into the cache; measure from mid-interval after it,
		# far from any drain, over DRAINS whole intervals. c0 is read after the scrape and c1
		# before the last one: the scrapes (which walk the maps) stay out of the window.
		if ! wait_drains "$port" "$WORK/m.first" 1 $((INTERVAL * 3 + 60)); then
			err="no first drain in $((INTERVAL * 3 + 60)) s"
		fi
	fi
	if [ -z "$err" ]; then
		t1=$EPOCHREALTIME
		sleep_until "$(awk -v t="$t1" -v i=$INTERVAL 'BEGIN { printf "%.6f\n", t + i / 2 }')"
		scrape "$port" "$WORK/m0"
		c0=$(cpu_ticks $DAEMON_PID)
		s0=$(status_kb $DAEMON_PID VmRSS)
		sleep_until "$(awk -v t="$t1" -v i=$INTERVAL -v d="$DRAINS" \
			'BEGIN { printf "%.6f\n", t + i / 2 + d * i }')"
		c1=$(cpu_ticks $DAEMON_PID)
		s1=$(status_kb $DAEMON_PID VmRSS)
		scrape "$port" "$WORK/m1"
		d0=$(metric "$WORK/m0" allocscope_drains_total)
		d1=$(metric "$WORK/m1" allocscope_drains_total)
		for f in m.first m0 m1; do
			[ "$(metric "$WORK/$f" allocscope_drains_total)" != err ] || err="scrape $f failed"
		done
		[ "$(metric "$WORK/m1" allocscope_targets)" = "$p" ] ||
			err="$(metric "$WORK/m1" allocscope_targets) targets watched, not $p"
		for pid in "${ROW_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null || err="a target ended early: $(head -2 "$WORK/target.err")"
		done
	fi
	if [ -n "$err" ]; then
		bench_error "$n stacks, $p processes: $err"
		printf '%s\t%s\terr\n' "$n" "$p" >>"$RESULTS"
		stop_row
		return
	fi
	hwm=$(status_kb $DAEMON_PID VmHWM)
	bpf_kb=$(bpf_memlock_kb $DAEMON_PID)
	stop_daemon
	# N P stacks_cap drains cpu_ticks first_drain_s last_drain_s rss_kb hwm_kb rss_growth_kb
	# stats stats_cap stackmap live samples bpf_kb dropped probes exit_s
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$n" "$p" "$ms" $((d1 - d0)) $((c1 - c0)) \
		"$(metric "$WORK/m.first" allocscope_drain_seconds_total)" \
		"$(metric "$WORK/m1" allocscope_last_drain_seconds)" \
		"$s1" "$hwm" $((s1 - s0)) \
		"$(metric "$WORK/m1" 'allocscope_bpf_map_entries{map="stats"}')" \
		"$(metric "$WORK/m1" 'allocscope_bpf_map_capacity{map="stats"}')" \
		"$(metric "$WORK/m1" 'allocscope_bpf_map_entries{map="stacks"}')" \
		"$(metric "$WORK/m1" 'allocscope_bpf_map_entries{map="live"}')" \
		"$(metric "$WORK/m1" allocscope_samples_total)" "$bpf_kb" \
		"$(awk -F'[{}"]' '/^allocscope_events_dropped_total\{/ { split($0, a, " ");
			if (a[2] + 0 > 0) s = s (s ? ", " : "") $3 " " a[2] } END { print s ? s : "none" }' \
			"$WORK/m1")" \
		"$(metric "$WORK/m1" allocscope_probes_attached)" "$EXIT_S" >>"$RESULTS"
	stop_row
}

echo "## The daemon's own cost"
echo
machine
echo "daemon: --interval $INTERVAL --rate 1 (every allocation recorded) --unwind $UNWIND; $DRAINS intervals" \
	"measured per row after the first drain; clock ticks of $((1000 / HZ)) ms"
echo "targets: N unique stacks split across P processes (N/P each), each allocating once on each" \
	"of its stacks every $((INTERVAL * 1000 / 2)) ms (twice per interval)"
echo
start=$SECONDS
for n in "${STACKS[@]}"; do
	for p in "${PROCS[@]}"; do
		run_row "$n" "$p"
		echo "  done: $n stacks, $p processes ($((SECONDS - start)) s)" >&2
	done
done

awk -F'\t' -v hz="$HZ" -v iv="$INTERVAL" "$AWK_FMT"'
function k(n) { return n >= 1000 ? (n / 1000) "k" : n }
$3 == "err" { printf "| %s | %s | err |||||||||||\n", k($1), $2; next }
{
	cpu_ms = $5 * 1000 / hz / ($4 ? $4 : 1)
	printf "| %s | %s | %.0f | %.2f%% | %.3f | %.3f | %.1f (%.1f) | %+.2f | %s / %s | %s / %s" \
		" | %.0f | %s | %s | %s |\n",
		k($1), $2, cpu_ms, cpu_ms / 100, $6, $7, $8 / 1024, $9 / 1024,
		$10 / 1024 / ($4 ? $4 : 1), commas($11), commas($12), commas($13), commas($3), $16 / 1024,
		$18, $19, $17
}
BEGIN {
	print "| stacks | processes | CPU ms per drain | % of one core at 10 s | first drain s" \
		" | last drain s | RSS MiB (peak) | RSS MiB per drain | stats map | stack map" \
		" | BPF maps MiB | probes | exit s | dropped events (whole run) |"
	print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
}' "$RESULTS"
awk -F'\t' -v hz="$HZ" -v defaults="$DEFAULTS" '
$3 != "err" && $1 == 10000 {
	n1++; c = $5 * 1000 / hz / ($4 ? $4 : 1) / 100; if (c < 2) g1++; s1 = s1 sprintf(" %.2f%%", c)
}
$3 != "err" && $1 == 100000 { n2++; r = $8 / 1024; if (r <= 64) g2++
	s2 = s2 sprintf(" %.1f (peak %.1f)", r, $9 / 1024); if ($11 >= $12) full = 1 }
$3 != "err" && $1 == 10000 && $2 == 100 { w = ($9 + $16) / 1024
	w3 = sprintf("%.1f (%s)", w, w <= 150 ? "met" : "missed") }
END {
	print ""
	printf "goal: < 2%% of one core at 10k stacks per 10 s interval: %d of %d rows (%s )\n", g1, n1, s1
	printf "goal: RSS <= 64 MiB at 100k stacks after the measured drains: %d of %d rows (MiB:%s )\n", g2, n2, s2
	if (defaults)
		printf "goal: the whole daemon (peak RSS + BPF maps) <= 150 MiB at 10k stacks, 100" \
			" processes, defaults: %s\n", w3 ? w3 " MiB" : "no such row"
	if (full)
		print "note: the stats map was full at 100k stacks: samples of the stacks beyond it were" \
			" dropped (stats_map_full)"
}' "$RESULTS"
echo
echo "columns: CPU ms per drain = the daemon's utime+stime over $DRAINS intervals / the drains"
echo "in them; % of one core = that / 10 s; first drain = allocscope_drain_seconds_total after"
echo "the first drain (it copies every stack out of the kernel); last drain ="
echo "allocscope_last_drain_seconds (wall time, under the lock); RSS = VmRSS at the end (VmHWM);"
echo "RSS per drain = its growth over the measured intervals / drains (history snapshots); maps ="
echo "allocscope_bpf_map_entries / capacity; BPF maps = the memlock of the daemon's map fds"
echo "(kernel memory, not in RSS); probes = allocscope_probes_attached; exit = SIGTERM to the"
echo "daemon's exit (probes detached)."
echo
echo "commands (total $((SECONDS - start)) s):"
echo "- targets: gcc ${CFLAGS_TARGET[*]} -o $TARGET tests/bench/stacks.c;"
echo "  P x: $TARGET N FIRST N/P $((INTERVAL * (DRAINS + 3) + 30)) $((INTERVAL * 1000 / 2)) GO_FILE"
echo "- daemon (build/allocscoped of $DAEMON_BUILT, run from a copy):"
if [ "$DEFAULTS" = 1 ]; then
	echo "  ${DAEMON_ARGS_SHOWN:-n/a} (map sizes: the daemon's defaults)"
else
	echo "  ${DAEMON_ARGS_SHOWN:-n/a} (--max-stacks and --max-stats: 1.25N rounded up to a power of 2, 16384 to 131072)"
fi
echo "- metrics: curl -s http://127.0.0.1:PORT/metrics at the first drain, then mid-interval, then"
echo "  $DRAINS intervals later; /proc/DAEMON/stat and /proc/DAEMON/status around them"
[ "$BENCH_ERRORS" = 0 ]
