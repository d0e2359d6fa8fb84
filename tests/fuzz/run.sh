#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs libFuzzer targets for a bounded time each, FUZZ_JOBS at a time, and prints one line per
# target. Fails when any target crashed, leaked, timed out or did not start.
#   tests/fuzz/run.sh OUT SECONDS JOBS TARGET...
# Inputs: $OUT/fuzz/seeds/<target> (read-only). New inputs go to $OUT/fuzz/work/<target>,
# emptied at the start of each run; crashes to $OUT/fuzz/crashes/<target>-*; the full log of
# each target to $OUT/fuzz/logs/<target>.log.
set -u
out=$1 secs=$2 jobs=$3
shift 3
fz=$out/fuzz

run_one() {
	local t=$1 log=$fz/logs/$1.log rc maxlen
	rm -rf "$fz/work/$t"
	mkdir -p "$fz/work/$t" "$fz/crashes" "$fz/logs"
	rm -f "$fz/crashes/$t"-*
	# libFuzzer caps inputs at 1 MiB unless told: the Go seeds are larger and would lose
	# their pclntab. -close_fd_mask=2: the modules' own warnings are noise here; libFuzzer
	# and the sanitizers still report on a duplicate of stderr.
	maxlen=$(find "$fz/seeds/$t" -type f -printf '%s\n' | sort -n | tail -1)
	[ "${maxlen:-0}" -ge 4096 ] || maxlen=4096
	"$fz/$t" -max_total_time="$secs" -max_len="$maxlen" -timeout=25 -rss_limit_mb=2048 \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$fz/crashes/$t-" \
		"$fz/work/$t" "$fz/seeds/$t" >"$log" 2>&1
	rc=$?
	local execs cov corpus crashes
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	# "#N DONE cov: C ft: F corp: U/SIZE ...": edges covered and inputs kept.
	cov=$(sed -n 's/.*DONE .*cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
	corpus=$(sed -n 's/.*DONE .*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' "$log" | tail -1)
	crashes=$(find "$fz/crashes" -name "$t-*" -type f | wc -l)
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
		printf 'fuzz %-12s ok   %9s execs in %ss, 0 crashes, %s edges, corpus %s\n' \
			"$t" "${execs:-?}" "$secs" "${cov:-?}" "${corpus:-?}"
		return 0
	fi
	printf 'fuzz %-12s FAIL  exit %s, %s execs, %s crash files; log %s\n' \
		"$t" "$rc" "${execs:-?}" "$crashes" "$log"
	# The report: from the sanitizer's or libFuzzer's first line of it to the end.
	sed -n '/^==[0-9]*==\|^[^ ]*: runtime error\|check failed:\|ERROR: libFuzzer/,/^SUMMARY/p' "$log" |
		grep -v 'in fuzzer::\|in __libc_start\|in _start\|in main ' | head -40 | sed 's/^/    /'
	return 1
}

fail=0
running=0
for t in "$@"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || fail=1
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || fail=1
	running=$((running - 1))
done
if [ "$fail" -ne 0 ]; then
	echo "fuzz: FAILED (reproduce: $fz/<target> <crash file>)"
	exit 1
fi
echo "fuzz: $# targets, no crash in ${secs}s each"
