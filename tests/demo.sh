#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo (`make demo`): allocscoped watching a small Go web service under a local load loop,
# then the pprof views that say which handler allocates and why, and how the heap moved; then
# the same service built without runtime/pprof (demoweb-noprof, as most services are), which the
# daemon says it has no samples of, until it is restarted with --go-set-rate.
#
#   DEMO_SECONDS=N  load for N seconds (default 20), then stop everything
#   DEMO_PORT=P     allocscoped's port on 127.0.0.1 (default 6464)
# Without DEMO_SECONDS and on a terminal, the daemon and the service keep running until Ctrl-C.
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${OUT:-build}
GOBIN_DIR=$BUILD/tests/targets/go
PORT=${DEMO_PORT:-6464}
SECONDS_LOAD=${DEMO_SECONDS:-20}
INTERVAL=2
API=http://127.0.0.1:$PORT

keep_running=0
if [ -z "${DEMO_SECONDS:-}" ] && [ -t 0 ] && [ -t 1 ]; then
	keep_running=1
fi

die() {
	echo "demo: $*" >&2
	exit 1
}

if ! [[ $SECONDS_LOAD =~ ^[0-9]+$ ]] || [ "$SECONDS_LOAD" -lt 1 ] || [ "$SECONDS_LOAD" -gt 3600 ]; then
	die "DEMO_SECONDS must be a number of seconds from 1 to 3600, not '$SECONDS_LOAD'"
fi
if ! [[ $PORT =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
	die "DEMO_PORT must be a TCP port number, not '$PORT'"
fi
[ "$(id -u)" -eq 0 ] || die "allocscoped loads BPF programs: run the demo as root"
for f in "$BUILD/allocscoped" "$GOBIN_DIR/demoweb" "$GOBIN_DIR/demoweb-noprof" \
	"$GOBIN_DIR/demoload"; do
	[ -x "$f" ] || die "$f is missing: run 'make' first"
done
command -v go >/dev/null || die "'go' is not on PATH (go tool pprof reads the profiles)"
command -v python3 >/dev/null || die "python3 is not on PATH"

work=$(mktemp -d /tmp/allocscope-demo.XXXXXX)
daemon_pid='' web_pid='' plain_pid='' load_pid='' plain_load_pid=''

# Stop what this script started, by pid: SIGTERM, then SIGKILL after 5 s.
cleanup() {
	local status=$? pid i
	trap - EXIT INT TERM
	for pid in $load_pid $plain_load_pid $web_pid $plain_pid $daemon_pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $load_pid $plain_load_pid $web_pid $plain_pid $daemon_pid; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

# GET a URL on loopback; prints the body, fails on anything but 200.
get() {
	python3 - "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
    sys.stdout.buffer.write(r.read())
EOF
}

# allocscoped refuses a busy port too, but say so before starting anything.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
	die "port $PORT on 127.0.0.1 is busy (another allocscoped?): set DEMO_PORT to a free port"
fi

# start_daemon [ARGS...]: allocscoped watching both services, on $PORT, its log in $work.
start_daemon() {
	local args=(--exe '*/demoweb' --exe '*/demoweb-noprof' --interval "$INTERVAL"
		--listen "127.0.0.1:$PORT" "$@")
	cmdline "$BUILD/allocscoped" "${args[@]}" | sed 's/$/ \&/'
	"$BUILD/allocscoped" "${args[@]}" 2>"$work/allocscoped.log" &
	daemon_pid=$!
	for i in $(seq 150); do
		grep -q "serving on" "$work/allocscoped.log" && break
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.2
	done
	if ! grep -q "serving on" "$work/allocscoped.log"; then
		cat "$work/allocscoped.log" >&2
		die "allocscoped did not start (its log is above)"
	fi
}

# start_web NAME: one of the two services on a free port; sets started_pid and started_addr.
start_web() {
	echo "\$ $GOBIN_DIR/$1 -port 0 &"
	"$GOBIN_DIR/$1" -port 0 >"$work/$1.out" 2>&1 &
	started_pid=$!
	started_addr=''
	for i in $(seq 100); do
		started_addr=$(sed -n 's/^demoweb: listening on //p' "$work/$1.out")
		[ -n "$started_addr" ] && break
		kill -0 "$started_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$started_addr" ]; then
		cat "$work/$1.out" >&2
		die "$1 did not start (its output is above)"
	fi
	echo "$1: pid $started_pid, listening on $started_addr"
}

# wait_watched PID: until the daemon knows the pid (it attaches at exec, or at start).
wait_watched() {
	for i in $(seq 100); do
		get "$API/timeline?pid=$1" >/dev/null 2>&1 && return
		sleep 0.2
	done
	die "allocscoped did not pick up pid $1"
}

# A command line as a user would type it: arguments with shell characters single-quoted.
cmdline() {
	local a out=''
	for a in "$@"; do
		[[ $a =~ ^[A-Za-z0-9_./:=,+-]+$ ]] || a="'$a'"
		out+="${out:+ }$a"
	done
	echo "\$ $out"
}

start_daemon
start_web demoweb
web_pid=$started_pid web_addr=$started_addr
start_web demoweb-noprof
plain_pid=$started_pid plain_addr=$started_addr
wait_watched "$web_pid"
wait_watched "$plain_pid"

echo "\$ $GOBIN_DIR/demoload -addr $plain_addr -duration ${SECONDS_LOAD}s &"
"$GOBIN_DIR/demoload" -addr "$plain_addr" -duration "${SECONDS_LOAD}s" >/dev/null &
plain_load_pid=$!
echo "\$ $GOBIN_DIR/demoload -addr $web_addr -duration ${SECONDS_LOAD}s"
"$GOBIN_DIR/demoload" -addr "$web_addr" -duration "${SECONDS_LOAD}s" &
load_pid=$!
wait "$load_pid" || die "the load loop failed"
load_pid=''
wait "$plain_load_pid" || die "the load loop of demoweb-noprof failed"
plain_load_pid=''
# Let the daemon drain the kernel maps once more after the last request.
sleep $((INTERVAL + 1))

allocs="$API/debug/pprof/allocs?pid=$web_pid"
# go tool pprof keeps a copy of every profile it fetches: keep those in the demo's folder.
export PPROF_TMPDIR=$work

# Runs a go tool pprof command and prints its table (from the column header on).
show() {
	local title=$1 lines=$2
	shift 2
	echo
	echo "# $title"
	cmdline "$@"
	"$@" >"$work/pprof.out" 2>"$work/pprof.err" || {
		cat "$work/pprof.err" >&2
		die "go tool pprof failed (above)"
	}
	sed -n '/^ *flat  *flat%/,$p' "$work/pprof.out" | head -"$lines"
}

echo
echo "================ which handler allocates ================"
show "Bytes allocated, by function (the handlers are main.handle*)" 11 \
	go tool pprof -top -sample_index=alloc_space "$allocs"

echo
echo "================ why: the cause label ================"
for cause in interface-boxing slice-growth new-object string-bytes-conversion; do
	show "Only cause=$cause" 3 \
		go tool pprof -top -sample_index=alloc_space -tagfocus "cause=$cause" "$allocs"
done
# handler_causes URL: the two main causes of each handler's bytes in the profile at URL.
handler_causes() {
	local h causes
	for h in handleBox handleGrow handleClosure handleBytes handleOK; do
		go tool pprof -tags -sample_index=alloc_space -focus "^main\.$h\$" "$1" \
			>"$work/pprof.out" 2>"$work/pprof.err" || {
			cat "$work/pprof.err" >&2
			die "go tool pprof failed (above)"
		}
		# The cause section: " cause: Total 63.5MB" then "   63.5MB (100%): interface-boxing".
		causes=$(sed -n '/^ *cause:/,/^$/p' "$work/pprof.out" |
			sed -n 's/^ *\([0-9.]*[kMG]*B\) *( *\([0-9.]*%\)): \(.*\)/\3 \2 (\1)/p' |
			head -2 | paste -sd, | sed 's/,/, /g')
		printf '  %-20s %s\n' "main.$h" "${causes:-(no samples: allocates next to nothing)}"
	done
}

echo
echo "# Causes of each handler's bytes"
echo "\$ go tool pprof -tags -sample_index=alloc_space -focus '^main\.handleBox\$' '$allocs'   # and so on"
handler_causes "$allocs"

echo
echo "================ how the heap moved ================"
echo "\$ curl -s '$API/timeline?pid=$web_pid'    # summarised:"
get "$API/timeline?pid=$web_pid" >"$work/timeline.json" || die "cannot fetch the timeline"
python3 - "$work/timeline.json" <<'EOF'
import json, sys

tl = json.load(open(sys.argv[1]))
recs = tl.get("records", [])
gcs = [r for r in recs if r.get("type") == "gc"]
mib = lambda b: "?" if b is None else "%.1f MiB" % (b / 1048576)
print("pid %s, %s, sampling rate %s bytes, %d GC cycles" % (
    tl.get("pid"), tl.get("go_version", "?"), tl.get("sampling_rate"), tl.get("gc_cycles", 0)))

# A delta below 0 or beyond 2^53 is a wrapped counter, not a measurement: shown as "?" and
# listed below the table rather than summed.
bad = []
def val(r, key):
    v = r.get(key, 0)
    if v < 0 or v > 1 << 53:
        bad.append("%s %s=%d" % (r.get("type"), key, v))
        return None
    return v
def total(vals):
    return None if None in vals else sum(vals)

# Each record counts what happened since the record before it, GC or interval: one row per
# interval record sums the records up to it; at most 10 rows, merging neighbours.
rows, acc = [], {"alloc": [], "freed": [], "gcs": 0}
for r in recs:
    acc["alloc"].append(val(r, "alloc_bytes"))
    acc["freed"].append(val(r, "freed_bytes"))
    if r.get("type") == "gc":
        acc["gcs"] += 1
        continue
    rows.append(dict(acc, t=r.get("time_unix_ns", 0), inuse=val(r, "inuse_bytes"),
                     rss=r.get("rss_bytes", 0)))
    acc = {"alloc": [], "freed": [], "gcs": 0}
if rows:
    per = -(-len(rows) // 10)
    t0 = rows[0]["t"]
    print("%-8s %12s %12s %5s %12s %10s" % ("until", "allocated", "freed", "GCs", "in use",
                                            "RSS"))
    for i in range(0, len(rows), per):
        g = rows[i:i + per]
        print("%-8s %12s %12s %5d %12s %10s" % (
            "+%.0f s" % ((g[-1]["t"] - t0) / 1e9), mib(total(sum((x["alloc"] for x in g), []))),
            mib(total(sum((x["freed"] for x in g), []))), sum(x["gcs"] for x in g),
            mib(g[-1]["inuse"]), mib(g[-1]["rss"])))
if gcs:
    after = sorted(r["inuse_bytes"] for r in gcs if 0 <= r.get("inuse_bytes", -1) <= 1 << 53)
    durs = sorted(r.get("gc_duration_ns", 0) for r in gcs)
    if after:
        print("in use at GC cycles: min %s, median %s, max %s; GC cycle median %.2f ms" % (
            mib(after[0]), mib(after[len(after) // 2]), mib(after[-1]),
            durs[len(durs) // 2] / 1e6))
if bad:
    print("? = impossible value in the daemon's records (a counter went backwards): "
          + "; ".join(bad[:3]))
EOF

echo
echo "================ a service that never links runtime/pprof ================"
echo "demoweb-noprof (pid $plain_pid) is the same service built without runtime/pprof, as most"
echo "services are: the Go linker then leaves runtime.MemProfile out, the runtime starts with"
echo "MemProfileRate 0 and samples nothing, and allocscoped's Go mode, which reads the runtime's"
echo "own sampler, has nothing to read. It had the same load. allocscoped said why, in its log:"
grep "pid $plain_pid .*samples no allocations" "$work/allocscoped.log" | fold -s -w 94 | sed 's/^/  /' ||
	die "allocscoped did not say why it has no samples of demoweb-noprof"
plain_allocs="$API/debug/pprof/allocs?pid=$plain_pid"
echo "\$ go tool pprof -top -sample_index=alloc_space '$plain_allocs'"
go tool pprof -top -sample_index=alloc_space "$plain_allocs" >"$work/pprof.out" 2>&1 ||
	die "go tool pprof failed: $(cat "$work/pprof.out")"
grep -E '^(Showing|Total|Dropped)|^ *flat' "$work/pprof.out" | head -3 | sed 's/^/  /'
grep -q 'main\.handle' "$work/pprof.out" && die "demoweb-noprof has samples without --go-set-rate"

echo
echo "# Restarted with --go-set-rate 512k: the daemon writes the rate into the process (only"
echo "# over a 0: the runtime reads it at each allocation), then reads its sampler as for demoweb."
kill -TERM "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=''
start_daemon --go-set-rate 512k
wait_watched "$plain_pid"
grep "pid $plain_pid" "$work/allocscoped.log" | grep -i "wrote" | head -1 | fold -s -w 94 | sed 's/^/  /'
plain_seconds=$((SECONDS_LOAD < 10 ? SECONDS_LOAD : 10))
echo "\$ $GOBIN_DIR/demoload -addr $plain_addr -duration ${plain_seconds}s"
"$GOBIN_DIR/demoload" -addr "$plain_addr" -duration "${plain_seconds}s" &
plain_load_pid=$!
wait "$plain_load_pid" || die "the load loop of demoweb-noprof failed"
plain_load_pid=''
sleep $((INTERVAL + 1))
show "demoweb-noprof's bytes, by function" 8 \
	go tool pprof -top -sample_index=alloc_space "$plain_allocs"
echo
echo "# Causes of each handler's bytes, as for demoweb"
handler_causes "$plain_allocs"

cat <<EOF

================ try it yourself ================
  go tool pprof -http=127.0.0.1:8080 '$allocs'      # flame graph; Sample: alloc_space
  go tool pprof -top -sample_index=alloc_space -tagfocus cause=slice-growth '$allocs'
  go tool pprof -traces -focus main.handleBox '$allocs'
  go tool pprof -top '$API/debug/pprof/heap?pid=$web_pid'             # what is still live
  go tool pprof -top '$API/debug/pprof/allocs?exe=*/demoweb&seconds=10'  # the last 10 s
  curl -s '$API/timeline?pid=$web_pid' | python3 -m json.tool | less
  curl -s $API/metrics | grep '^allocscope_'
  $GOBIN_DIR/demoload -addr $web_addr -duration 30s     # more load
EOF
command -v curl >/dev/null ||
	echo "  (curl is not installed: apt-get install curl, or use python3 -m urllib.request)"

if [ "$keep_running" -eq 1 ]; then
	echo
	echo "allocscoped (pid $daemon_pid, $API), demoweb (pid $web_pid, $web_addr) and"
	echo "demoweb-noprof (pid $plain_pid, $plain_addr) keep running. Press Ctrl-C to stop them."
	wait -n "$daemon_pid" "$web_pid" "$plain_pid" || true
	die "allocscoped or demoweb exited on its own"
fi
