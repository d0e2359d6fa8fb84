#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The host tax (issue 12): ns per getppid() of a process allocscoped does not watch, daemon off vs
# on, in the same run, interleaved (every round runs each setup once; medians over the rounds).
# Setups: no daemon; --all-go (the unit's and the DaemonSet's default targets: a host with no
# native target watched); --comm of a native process that runs (the mmap tracepoints attached:
# per syscall, syscalls/sys_enter_mmap...); and, with BENCH_TAX_BEFORE=PATH (an allocscoped built
# before issue 12), that binary --all-go, which ran BTF sys_enter/sys_exit on every syscall.
# Goal: ratio <= 1.02 for --all-go.
# Usage: tests/bench/syscall_tax.sh   (BENCH_SMOKE=1: 1 round, short loops)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_TAX_ROUNDS:-7}
CALLS=2000000
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	CALLS=200000
fi
DAEMON=$BUILD/allocscoped
LOOP=$BUILD/tests/bench/syscall_loop
[ -x "$DAEMON" ] || { echo "syscall_tax.sh: build first (make)" >&2; exit 1; }
cp "$DAEMON" "$WORK/allocscoped"
mkdir -p "$(dirname "$LOOP")"
gcc -O2 -Wall -Wextra -Werror -o "$LOOP" "$ROOT/tests/bench/syscall_loop.c"
# The native target: a copy of sleep with its own comm.
cp "$(command -v sleep)" "$WORK/tax_native"

DAEMON_PID=
NATIVE_PID=
stop_all() {
	[ -z "$DAEMON_PID" ] || stop_pid "$DAEMON_PID"
	[ -z "$NATIVE_PID" ] || stop_pid "$NATIVE_PID"
	DAEMON_PID=
	NATIVE_PID=
}
at_exit stop_all
trap 'exit 130' INT
trap 'exit 143' TERM

# metric PORT NAME: a metric's value (NAME with its labels), or err.
metric() {
	curl -s --max-time 10 "http://127.0.0.1:$1/metrics" |
		awk -v n="$2" '$1 == n { v = $2 } END { print (v == "" ? "err" : v) }'
}

# start BINARY WANT ARGS...: a daemon serving, with the mmap tracepoints in mode WANT
# (off, syscalls); 1 if it never gets there.
start() {
	local bin=$1 want=$2 deadline port
	shift 2
	"$bin" --listen 127.0.0.1:0 "$@" >/dev/null 2>"$WORK/daemon.err" &
	DAEMON_PID=$!
	wait_for "$WORK/daemon.err" 'serving on' 120 || return 1
	port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/daemon.err" | head -1)
	[ "$want" != any ] || return 0
	deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(metric "$port" "allocscope_mmap_tracepoints{mode=\"$want\"}")" = 1 ] && return 0
		sleep 0.2
	done
	return 1
}

SETUPS=(none all_go native)
[ -z "${BENCH_TAX_BEFORE:-}" ] || SETUPS+=(before)
declare -A NS
for r in $(seq "$ROUNDS"); do
	for s in "${SETUPS[@]}"; do
		ok=1
		case $s in
		none) ;;
		all_go) start "$WORK/allocscoped" off --all-go || ok=0 ;;
		native)
			"$WORK/tax_native" 3600 &
			NATIVE_PID=$!
			start "$WORK/allocscoped" syscalls --comm tax_native || ok=0
			;;
		before) start "$BENCH_TAX_BEFORE" any --all-go || ok=0 ;;
		esac
		if [ $ok = 1 ]; then
			NS[$s]+=" $("$LOOP" "$CALLS")"
		else
			bench_error "$s, round $r: the daemon did not get ready: $(tail -1 "$WORK/daemon.err")"
		fi
		stop_all
	done
	echo "  round $r of $ROUNDS done" >&2
done

echo "## The host tax: a syscall of a process the daemon does not watch"
echo
machine
echo "getppid() via syscall(2), $CALLS calls per run, $ROUNDS rounds, setups interleaved in each round;"
echo "median CPU ns per call (the loop's own CPU time, kernel included: wall time on a loaded"
echo "machine measures the others), ratio to no daemon. BPF programs that other tools attach"
echo "host-wide are paid in every setup alike."
echo
base=$(median ${NS[none]})
echo "| setup | mmap tracepoints | ns per getppid (median) | runs | ratio |"
echo "| --- | --- | ---: | ---: | ---: |"
for s in "${SETUPS[@]}"; do
	case $s in
	none) what="no daemon"; tp="-" ;;
	all_go) what="allocscoped --all-go (unit and DaemonSet default)"; tp="not attached" ;;
	native) what="allocscoped --comm tax_native (a native process running)"
		tp="syscalls/sys_{enter,exit}_mmap, sys_enter_munmap" ;;
	before) what="$BENCH_TAX_BEFORE --all-go (before issue 12)"; tp="BTF sys_enter/sys_exit" ;;
	esac
	m=$(median ${NS[$s]:-})
	awk -v w="$what" -v tp="$tp" -v m="$m" -v b="$base" -v runs="${NS[$s]:-}" "$AWK_FMT"'BEGIN {
		printf "| %s | %s | %s | %s | %s |\n", w, tp, num(m), runs, ratio(isnum(m) && isnum(b) ? m / b : "err") }'
done
echo
echo "goal: --all-go ratio <= 1.02. Runs: each run's ns per call, in round order."
[ "$BENCH_ERRORS" = 0 ]
