#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmarks of issue 6, one after the other, each printing Markdown tables of ratios against
# a baseline measured in the same invocation, with the machine and the exact commands:
#   native.sh    the floor and a malloc-heavy C loop: unprobed, allocscope, bpftrace, heaptrack
#   go.sh        an allocation-heavy Go program and a Go HTTP service under wrk (127.0.0.1)
#   accuracy.sh  allocscope against DHAT and against the Go runtime's own heap profile
#   cfi.sh       issue 7: cost per sampled event, CFI unwinding against frame pointers
#   cfi_churn.sh issue 7: CFI stacks of short-lived processes picked up by the daemon at exec
#   daemon.sh    issue 4: allocscoped's CPU per drain and RSS, 1k-100k stacks, 1-100 processes
#   syscall_tax.sh   issue 12: what an unwatched process pays per syscall with the daemon running
#   short_lived.sh   issue 20: processes matched at exec, watched or not, by lifetime
# Scripts, not tests: slow numbers never fail; a broken command does.
# Usage: tests/bench/run.sh [ALLOCATIONS_PER_THREAD]   (for native.sh)
#   BENCH_SMOKE=1     a short run that only proves the scripts work (well under 2 minutes)
#   BENCH_ONLY="native go"   run some of them
set -uo pipefail
dir=$(dirname "$0")
only=${BENCH_ONLY:-native go accuracy daemon cfi cfi_churn syscall_tax short_lived}
status=0
start=$SECONDS
for b in $only; do
	case $b in
	native) "$dir/native.sh" "$@" || status=1 ;;
	go) "$dir/go.sh" || status=1 ;;
	accuracy) "$dir/accuracy.sh" || status=1 ;;
	daemon) "$dir/daemon.sh" || status=1 ;;
	cfi) "$dir/cfi.sh" || status=1 ;;
	cfi_churn) "$dir/cfi_churn.sh" || status=1 ;;
	syscall_tax) "$dir/syscall_tax.sh" || status=1 ;;
	short_lived) "$dir/short_lived.sh" || status=1 ;;
	*) echo "run.sh: no benchmark $b" >&2; status=1; continue ;;
	esac
	echo
done
echo "bench: done in $((SECONDS - start)) s$([ $status = 0 ] || echo ', with errors (see above)')"
exit $status
