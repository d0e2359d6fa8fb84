#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Debian's redis-server (jemalloc, no frame pointers) under redis-benchmark -t set,get,lpush,lpop,
# hset -c 8 on loopback, server and client pinned to different CPUs: requests/s alone and while
# allocscoped watches it, one row per daemon setting (ROWS below), the rows interleaved in every
# round, medians of the rounds. Then the readable stacks: the top functions of the alloc profile
# and `allocscope top --pid` of the server under the default settings.
# Usage: tests/bench/redis.sh [ROUNDS]   (BENCH_SMOKE=1: one short round, proves it works)
# Needs: apt-get install redis-server redis-tools (Debian 12's); prints how when missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS=${1:-5}
REQUESTS=${BENCH_REDIS_REQUESTS:-200000}
TESTS=set,get,lpush,lpop,hset
CLIENTS=8
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1
	REQUESTS=20000
fi
# One row per line: "label|allocscoped flags" (the flags split on spaces; --pid of the server
# and the listener are added). "-" as flags: redis alone, the baseline. Flags starting with
# "@preload" run against a second redis-server started with LD_PRELOAD of our sampler library
# (liballocscope_sampler.so: only its samples trap, through the otel_memory USDTs). Other
# settings add a line here.
ROWS=(
	"unprofiled|-"
	"allocscoped (default settings: --unwind auto, budget 3%, uprobe sessions)|"
	"allocscoped --max-overhead off|--max-overhead off"
	"allocscoped --unwind fp|--unwind fp"
	"allocscoped --no-uprobe-session|--no-uprobe-session"
	"allocscoped --max-overhead 1|--max-overhead 1"
	"preloaded liballocscope_sampler.so, unprofiled|@preload -"
	"preloaded liballocscope_sampler.so, allocscoped (default settings)|@preload"
)
SAMPLER_LIB=$BUILD/liballocscope_sampler.so
SERVER_CPU=1
CLIENT_CPU=0
DAEMON=$BUILD/allocscoped

for cmd in redis-server redis-benchmark redis-cli taskset; do
	if ! has $cmd; then
		echo "redis.sh: $cmd not found: apt-get install redis-server redis-tools (Debian 12's" \
			"packages; taskset is util-linux)" >&2
		exit 1
	fi
done
[ -x "$DAEMON" ] && [ -x "$REC" ] || { echo "redis.sh: build first (make)" >&2; exit 1; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

REDIS_PORT=$(free_port)
REDIS_PID=
PRE_PORT=$(free_port)
PRE_PID=
start_redis() { # port [env...]: sets STARTED_PID
	local port=$1 i
	shift
	env "$@" taskset -c $SERVER_CPU redis-server --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no --dir "$WORK" >"$WORK/redis-$port.log" 2>&1 &
	STARTED_PID=$!
	for i in $(seq 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	bench_error "redis-server did not answer: $(tail -3 "$WORK/redis-$port.log")"
	return 1
}
at_exit '[ -n "$REDIS_PID" ] && stop_pid $REDIS_PID; [ -n "$PRE_PID" ] && stop_pid $PRE_PID'

DAEMON_PID=
DAEMON_URL=
start_daemon() { # flags...
	local port
	port=$(free_port)
	DAEMON_URL=http://127.0.0.1:$port
	"$DAEMON" --pid "$CUR_PID" --listen "127.0.0.1:$port" --interval 2 "$@" \
		>"$WORK/daemon.log" 2>&1 &
	DAEMON_PID=$!
	# Attached once its target is listed with probes.
	local i
	for i in $(seq 200); do
		curl -sf "$DAEMON_URL/metrics" 2>/dev/null | grep -q "^allocscope_targets [1-9]" && return 0
		sleep 0.1
	done
	bench_error "allocscoped $* did not attach: $(tail -3 "$WORK/daemon.log")"
	return 1
}
stop_daemon() {
	[ -n "$DAEMON_PID" ] && stop_pid "$DAEMON_PID"
	DAEMON_PID=
}
at_exit 'stop_daemon'

# requests/s summed over the five tests (each test's own rate, averaged: the mean rate).
run_load() {
	taskset -c $CLIENT_CPU redis-benchmark -p "$CUR_PORT" -t $TESTS -c $CLIENTS -n "$REQUESTS" \
		--csv 2>/dev/null | awk -F'"' 'NR > 1 && $4 + 0 > 0 { s += $4; n++ }
			END { if (n) printf "%.0f\n", s / n; else print "err" }'
}

machine
echo "redis-server $(redis-server --version | grep -o 'v=[^ ]*'), $(ldd "$(command -v redis-server)" |
	grep -o 'libjemalloc[^ ]*' | head -1), redis-benchmark -t $TESTS -c $CLIENTS -n $REQUESTS," \
	"server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU, $ROUNDS rounds"
# The trap cost of this machine: native.sh's floor is the reference; here, a quick measure of
# the uprobe trap with allocscope's own probes on a malloc loop (--rate 1g: no samples).
LOOP=$BUILD/tests/bench/malloc_loop
if [ -x "$LOOP" ]; then
	/usr/bin/time -f %e -o "$WORK/t0" "$LOOP" 200000 64 1 1 0 >/dev/null 2>&1
	/usr/bin/time -f %e -o "$WORK/t1" "$REC" record --rate 1g --unwind fp -o "$WORK/t.pb.gz" -- \
		"$LOOP" 200000 64 1 1 0 >/dev/null 2>&1
	t0=$(tail -1 "$WORK/t0")
	t1=$(tail -1 "$WORK/t1")
	echo "trap cost: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 200000 / 3 * 1e6 }') us" \
		"per trap (malloc_loop 200000 x 64 B, three traps per malloc+free pair, record --rate 1g" \
		"vs unprobed; includes record's start-up)"
fi

row_index() { # label: its index in ROWS
	local i
	for i in "${!ROWS[@]}"; do [ "${ROWS[$i]%%|*}" = "$1" ] && echo "$i" && return; done
}

start_redis "$REDIS_PORT"
REDIS_PID=$STARTED_PID
if [ -f "$SAMPLER_LIB" ]; then
	start_redis "$PRE_PORT" LD_PRELOAD="$SAMPLER_LIB"
	PRE_PID=$STARTED_PID
else
	echo "redis.sh: $SAMPLER_LIB not built: its rows are left out" >&2
fi
declare -A RPS
for ((round = 1; round <= ROUNDS; round++)); do
	for row in "${ROWS[@]}"; do
		label=${row%%|*}
		flags=${row#*|}
		CUR_PID=$REDIS_PID
		CUR_PORT=$REDIS_PORT
		if [ "${flags#@preload}" != "$flags" ]; then
			[ -n "$PRE_PID" ] || continue
			flags=${flags#@preload}
			flags=${flags# }
			CUR_PID=$PRE_PID
			CUR_PORT=$PRE_PORT
		fi
		if [ "$flags" != "-" ]; then
			# shellcheck disable=SC2086
			start_daemon $flags || continue
		fi
		r=$(run_load)
		# The last round's profiles: their top sites against a --rate 1 run's (below).
		if [ "$flags" != "-" ] && [ "$round" = "$ROUNDS" ]; then
			curl -sf -o "$WORK/row$(row_index "$label").pb.gz" \
				"$DAEMON_URL/debug/pprof/allocs?pid=$CUR_PID" ||
				bench_error "no profile from allocscoped $flags"
		fi
		stop_daemon
		RPS[$label]="${RPS[$label]:-} $r"
		echo "round $round: $label: $r requests/s" >&2
	done
done

base=$(median ${RPS["unprofiled"]})
echo
echo "| setting | requests/s (median) | rounds | vs unprofiled |"
echo "| --- | ---: | --- | ---: |"
for row in "${ROWS[@]}"; do
	label=${row%%|*}
	# shellcheck disable=SC2086
	m=$(median ${RPS[$label]:-})
	ratio=$(awk -v m="$m" -v b="$base" 'BEGIN { if (m + 0 > 0 && b + 0 > 0) printf "%.3f", m / b;
		else print "n/a" }')
	echo "| $label | $m | ${RPS[$label]:-} | $ratio |"
done

# Fidelity: each setting's ten top sites (functions that called the allocator, by alloc_space)
# against those of a --rate 1 run of the same load, the truth up to the load's own variation.
# A pair of sites is out of order only where the reference tells them apart by more than 3 sigma
# of the setting's estimates (sampling at 512 KiB: variance ~ rate x bytes, over the share of
# calls the probes saw when duty-cycled).
CUR_PID=$REDIS_PID
CUR_PORT=$REDIS_PORT
if start_daemon --rate 1 --max-overhead off; then
	run_load >/dev/null
	curl -sf -o "$WORK/rate1.pb.gz" "$DAEMON_URL/debug/pprof/allocs?pid=$REDIS_PID" ||
		bench_error "no --rate 1 profile"
	stop_daemon
	echo
	echo "Top 10 sites by alloc_space against \`--rate 1\` (same load):"
	echo
	echo "| setting | top 10 in common | pairs out of order (> 3 sigma apart) |"
	echo "| --- | ---: | ---: |"
	for row in "${ROWS[@]}"; do
		label=${row%%|*}
		f=$WORK/row$(row_index "$label").pb.gz
		[ -f "$f" ] || continue
		python3 - "$ROOT/tests/e2e" "$WORK/rate1.pb.gz" "$f" "$label" <<'PY' ||
import math, re, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

def sites(path):
    p = pprof_raw.read(path)
    flat = {}
    for s in p.samples:
        if s["stack"]:
            flat[s["stack"][0]] = flat.get(s["stack"][0], 0) + p.value(s, "alloc_space")
    seen = 1.0
    for c in pprof_raw.comments(path):
        m = re.search(r"the probes saw ~([\d.]+)% of its allocator calls", c)
        if m:
            seen = float(m.group(1)) / 100
    return flat, seen

ref, _ = sites(sys.argv[2])
got, seen = sites(sys.argv[3])
rate = 512 * 1024 / seen
top = sorted(ref, key=ref.get, reverse=True)[:10]
mine = sorted(got, key=got.get, reverse=True)[:10]
bad = 0
for i, a in enumerate(top):
    for b in top[i + 1:]:
        sigma = math.sqrt(rate * (got.get(a, 0) + got.get(b, 0)))
        if ref[a] - ref[b] > 3 * sigma and got.get(a, 0) < got.get(b, 0):
            bad += 1
print("| %s | %d | %d |" % (sys.argv[4], len(set(top) & set(mine)), bad))
PY
			bench_error "site comparison failed for $label"
	done
fi

# Readable stacks: the default settings' profile of the same load, top functions by alloc_space,
# and allocscope top through the daemon.
echo
if start_daemon; then
	run_load >/dev/null
	curl -sf -o "$WORK/redis.pb.gz" "$DAEMON_URL/debug/pprof/allocs?pid=$REDIS_PID" ||
		bench_error "no profile from allocscoped"
	echo "go tool pprof -top -sample_index=alloc_space (allocscoped, default settings):"
	echo '```'
	go tool pprof -top -nodecount=12 -sample_index=alloc_space "$WORK/redis.pb.gz" 2>/dev/null |
		sed -n '/flat%/,$p' || bench_error "go tool pprof failed"
	echo '```'
	echo "allocscope top --pid \$(pidof redis-server) --iterations 2 (through the daemon), under load:"
	taskset -c $CLIENT_CPU redis-benchmark -p "$CUR_PORT" -t $TESTS -c $CLIENTS -n $((REQUESTS * 4)) \
		-q >/dev/null 2>&1 &
	load=$!
	echo '```'
	COLUMNS=100 "$REC" top --pid "$REDIS_PID" --daemon "$DAEMON_URL" --iterations 2 --interval 2 \
		--sites 10 2>/dev/null | tail -12 || bench_error "allocscope top failed"
	echo '```'
	kill "$load" 2>/dev/null || true
	wait "$load" 2>/dev/null || true
	stop_daemon
fi
[ "$BENCH_ERRORS" = 0 ]
