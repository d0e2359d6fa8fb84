# SPDX-License-Identifier: MIT
# Shared by the benchmark scripts (sourced, never run): paths, the smoke switch, the machine line,
# medians, tracefs, the offline Go build, and bounded waits. Benchmarks are scripts, not tests:
# slow numbers never make them fail; a broken command does (so a smoke run proves they work).

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
BUILD=${OUT:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
REC=$BUILD/allocscope
SMOKE=${BENCH_SMOKE:-0}
TRACEFS=/sys/kernel/tracing
LIBC=$(awk '$NF ~ /libc\.so\.6$/ {print $NF; exit}' /proc/self/maps)
BENCH_ERRORS=0

# A scratch folder removed on exit; scripts add their own cleanups with at_exit.
WORK=$(mktemp -d /tmp/allocscope-bench.XXXXXX)
EXIT_HOOKS=()
at_exit() { EXIT_HOOKS+=("$1"); }
_run_exit_hooks() {
	local h
	for h in "${EXIT_HOOKS[@]}"; do eval "$h" || true; done
	rm -rf "$WORK"
}
trap _run_exit_hooks EXIT

machine() {
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
		"kernel $(uname -r), glibc $(ldd --version | head -1 | awk '{print $NF}')," \
		"$(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg) at start$([ "$SMOKE" = 1 ] &&
			echo ' (SMOKE RUN: the numbers mean nothing)')"
}

# Logs a broken command (not a slow one): the script still prints what it has and exits 1.
bench_error() {
	echo "bench: error: $*" >&2
	BENCH_ERRORS=$((BENCH_ERRORS + 1))
}

# median VALUES...: the median of numbers ("n/a" and "err" values are ignored; none left: err).
median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk '{v[NR] = $1} END { if (!NR) print "err"; else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

has() { command -v "$1" >/dev/null 2>&1; }

need_tracefs() {
	mountpoint -q $TRACEFS || mount -t tracefs nodev $TRACEFS 2>/dev/null || true
	[ -w $TRACEFS/uprobe_events ]
}

# Builds the Go programs of tests/bench/go with Debian's Go, offline, cache in the build folder.
GO_ENV=(GOCACHE="$BUILD/gocache" GOPATH="$BUILD/gopath" GOPROXY=off GOFLAGS=-mod=mod
	GO111MODULE=on GOTOOLCHAIN=local CGO_ENABLED=0)
build_go() {
	mkdir -p "$GOBIN"
	(cd "$ROOT/tests/bench/go" && env "${GO_ENV[@]}" GOTOOLCHAIN=local "$BENCH_GO" build \
		-o "$GOBIN/" "$@")
}

# wait_for FILE PATTERN SECONDS: waits until FILE has a line matching PATTERN (0) or time is up.
wait_for() {
	local file=$1 pattern=$2 deadline=$((SECONDS + $3))
	while [ $SECONDS -lt $deadline ]; do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; reaps it if it is our child.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# awk functions for the tables, prepended to awk programs: num(v) prints a number with a
# thousands separator (one decimal below 100), ratio(v) as "1.23x"; "n/a"/"err" pass through.
AWK_FMT='
function isnum(v) { return v ~ /^-?[0-9]+(\.[0-9]+)?$/ }
function commas(s,   neg, out) {
	neg = s ~ /^-/; if (neg) s = substr(s, 2); out = ""
	while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
	return (neg ? "-" : "") s out
}
function num(v) {
	if (!isnum(v)) return v
	if (v < 100 && v > -100) return sprintf("%.1f", v)
	return commas(sprintf("%.0f", v))
}
function ratio(v) { return isnum(v) ? sprintf("%.2fx", v) : v }
'

# A memory cgroup limited to LIMIT (bytes, or with K/M/G): its folder on stdout. cgroup v2 where
# the memory controller is there (unified hosts), else v1's memory hierarchy (hybrid hosts).
memory_cgroup_new() { # name limit
	local bytes
	bytes=$(numfmt --from=iec "$2") || return 1
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		mkdir -p "/sys/fs/cgroup/$1" && echo "$bytes" >"/sys/fs/cgroup/$1/memory.max" &&
			echo "/sys/fs/cgroup/$1"
	elif [ -d /sys/fs/cgroup/memory ]; then
		mkdir -p "/sys/fs/cgroup/memory/$1" &&
			echo "$bytes" >"/sys/fs/cgroup/memory/$1/memory.limit_in_bytes" &&
			echo "/sys/fs/cgroup/memory/$1"
	else
		return 1
	fi
}
memory_cgroup_remove() { # folder (its processes gone)
	[ -n "$1" ] && rmdir "$1" 2>/dev/null || true
}
# The cgroup's peak memory in MiB (v1 max_usage_in_bytes, v2 memory.peak), n/a without one.
memory_cgroup_peak_mib() {
	local f
	for f in "$1/memory.peak" "$1/memory.max_usage_in_bytes"; do
		[ -n "$1" ] && [ -r "$f" ] && { awk '{printf "%.1f", $1 / 1048576}' "$f"; return; }
	done
	printf 'n/a'
}
memory_cgroup_oom_kills() {
	local f
	for f in "$1/memory.events" "$1/memory.oom_control"; do
		[ -r "$f" ] && { awk '$1 == "oom_kill" {print $2; exit}' "$f"; return; }
	done
	printf 'n/a'
}
