// SPDX-License-Identifier: MIT
/* Prometheus text format 0.0.4: a HELP and TYPE line per family, label values escaped (\\, \"
 * and \n), estimates unsampled with the target's own rate as its profiles are. */
#include <errno.h>
#include <stdio.h>

#include "probe/sampling.h"
#include "service/metrics.h"
#include "util/common.h"

static const double exec_attach_bucket_ms[EXEC_ATTACH_BUCKETS] = {0.5, 1,  2,	3,   5,	  10,
								  20,  50, 100, 200, 500, 1000};

void exec_attach_hist__observe(struct exec_attach_hist *h, __u64 ns)
{
	for (int i = 0; i < EXEC_ATTACH_BUCKETS; i++) {
		if (ns <= exec_attach_bucket_ms[i] * NSEC_PER_MSEC) {
			__atomic_fetch_add(&h->le[i], 1, __ATOMIC_RELAXED);
			break;
		}
	}
	__atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

double exec_attach_hist__quantile(const struct exec_attach_hist *h, double q)
{
	__u64 n = __atomic_load_n(&h->count, __ATOMIC_RELAXED), cum = 0;
	double rank = q * n, lo = 0;

	if (!n)
		return 0;
	for (int i = 0; i < EXEC_ATTACH_BUCKETS; i++) {
		__u64 c = __atomic_load_n(&h->le[i], __ATOMIC_RELAXED);

		if (c && cum + c >= rank)
			return (lo + (exec_attach_bucket_ms[i] - lo) * (rank - cum) / c) / 1e3;
		cum += c;
		lo = exec_attach_bucket_ms[i];
	}
	return lo / 1e3; /* in +Inf: the last bound */
}

static void write_exec_attach(FILE *f, const struct exec_attach_hist *h)
{
	__u64 cum = 0;

	fputs("# HELP allocscope_exec_attach_seconds From a matched process's exec to its "
	      "allocator probes being live.\n"
	      "# TYPE allocscope_exec_attach_seconds histogram\n",
	      f);
	for (int i = 0; i < EXEC_ATTACH_BUCKETS; i++) {
		cum += __atomic_load_n(&h->le[i], __ATOMIC_RELAXED);
		fprintf(f, "allocscope_exec_attach_seconds_bucket{le=\"%g\"} %llu\n",
			exec_attach_bucket_ms[i] / 1e3, (unsigned long long)cum);
	}
	/* count read last: +Inf is never below a finite bucket */
	fprintf(
	    f, "allocscope_exec_attach_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)max_t(__u64, cum, __atomic_load_n(&h->count, __ATOMIC_RELAXED)));
	fprintf(f, "allocscope_exec_attach_seconds_sum %.6f\n",
		__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1e9);
	fprintf(
	    f, "allocscope_exec_attach_seconds_count %llu\n",
	    (unsigned long long)max_t(__u64, cum, __atomic_load_n(&h->count, __ATOMIC_RELAXED)));
}

static void label_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void write_labels(FILE *f, const struct metrics_target *t)
{
	fprintf(f, "pid=\"%d\",executable=\"", t->pid);
	label_escape(f, t->exe);
	fputs("\",comm=\"", f);
	label_escape(f, t->comm);
	fputs("\"", f);
	if (t->container_id && t->container_id[0])
		fprintf(f, ",container_id=\"%s\"", t->container_id);
	if (t->pod_uid && t->pod_uid[0])
		fprintf(f, ",pod_uid=\"%s\"", t->pod_uid);
}

static void write_sample(FILE *f, const char *name, const struct metrics_target *t, long long v)
{
	fprintf(f, "%s{", name);
	write_labels(f, t);
	fprintf(f, "} %lld\n", v);
}

static void write_gauge(FILE *f, const char *name, const struct metrics_target *t, double v)
{
	fprintf(f, "%s{", name);
	write_labels(f, t);
	fprintf(f, "} %.4f\n", v);
}

static void write_target(FILE *f, const struct metrics_target *t)
{
	const struct proc_totals *tot = &t->tot;
	__s64 ac, ab, fc, fb, ic, ib;

	if (t->has_est) {
		ac = t->est.alloc_cnt;
		ab = t->est.alloc_bytes;
		fc = t->est.free_cnt;
		fb = t->est.free_bytes;
		ic = t->est.inuse_cnt;
		ib = t->est.inuse_bytes;
	} else {
		sampling__scale(tot->alloc_cnt, tot->alloc_bytes, t->rate, &ac, &ab);
		sampling__scale(tot->free_cnt, tot->free_bytes, t->rate, &fc, &fb);
		sampling__scale(tot->alloc_cnt - min_t(__u64, tot->free_cnt, tot->alloc_cnt),
				tot->alloc_bytes - min_t(__u64, tot->free_bytes, tot->alloc_bytes),
				t->rate, &ic, &ib);
	}
	write_sample(f, "allocscope_alloc_bytes_total", t, ab);
	write_sample(f, "allocscope_alloc_objects_total", t, ac);
	write_sample(f, "allocscope_freed_bytes_total", t, fb);
	write_sample(f, "allocscope_freed_objects_total", t, fc);
	write_sample(f, "allocscope_inuse_bytes", t, ib);
	write_sample(f, "allocscope_inuse_objects", t, ic);
	if (t->go) {
		write_sample(f, "allocscope_gc_cycles_total", t, t->gc_cycles);
		write_sample(f, "allocscope_go_memprofilerate_written_total", t,
			     t->go_rate_written);
	}
	write_sample(f, "allocscope_live_overwrites_total", t, (long long)tot->live_overwrite_cnt);
	write_sample(f, "allocscope_allocator_never_returned_total", t,
		     (long long)tot->nest_reset_cnt);
	write_sample(f, "allocscope_frees_unseen_total", t, (long long)tot->free_unseen_cnt);
	if (t->has_overhead) {
		write_gauge(f, "allocscope_probe_overhead_ratio", t, t->overhead.now_pct / 100);
		write_gauge(f, "allocscope_probe_overhead_full_ratio", t,
			    t->overhead.full_pct / 100);
		write_gauge(f, "allocscope_alloc_probes_duty_ratio", t, t->overhead.duty);
		write_gauge(f, "allocscope_alloc_probes_seen_ratio", t, t->overhead.seen);
	}
}

static const char *const mmap_tracing_names[] = {
    [MMAP_TRACING_OFF] = "off",
    [MMAP_TRACING_SYSCALLS] = "syscalls",
    [MMAP_TRACING_EVERY_SYSCALL] = "every_syscall",
};

int metrics__write(FILE *f, const struct metrics_input *in)
{
	static const char *const counter_names[ALLOC_CNT_MAX] = {
	    [ALLOC_CNT_SAMPLED] = NULL,
	    [ALLOC_CNT_STACK_LOST] = "stack_lost",
	    [ALLOC_CNT_STATS_FULL] = "stats_map_full",
	    [ALLOC_CNT_LIVE_FULL] = "live_map_full",
	    [ALLOC_CNT_TASK_FULL] = "no_task_state",
	    [ALLOC_CNT_NEST_RESET] = "allocator_never_returned",
	    [ALLOC_CNT_MUNMAP_PARTIAL] = "partial_munmap",
	    [ALLOC_CNT_MORESTACK] = NULL,
	    [ALLOC_CNT_GC_EVENTS_LOST] = "gc_events_lost",
	    [ALLOC_CNT_LIFE_EVENTS_LOST] = "lifecycle_events_lost",
	    [ALLOC_CNT_STACK_UNREADABLE] = "stack_unreadable",
	    [ALLOC_CNT_LIVE_OVERWRITE] = "live_overwrite",
	    [ALLOC_CNT_STACK_REPAIRED] = "stack_repaired",
	    [ALLOC_CNT_FREE_UNSEEN] = "free_unseen",
	    [ALLOC_CNT_MMAP_PROT_NONE] = "mmap_prot_none",
	    [ALLOC_CNT_MMAP_INDEX_FULL] = "mmap_index_full",
	    [ALLOC_CNT_MUNMAP_SCAN_CUT] = "munmap_scan_cut",
	    [ALLOC_CNT_MUNMAP_FAILED] = "munmap_failed",
	};

	fputs("# HELP allocscope_alloc_bytes_total Bytes allocated by the target (estimate).\n"
	      "# TYPE allocscope_alloc_bytes_total counter\n"
	      "# HELP allocscope_alloc_objects_total Objects allocated by the target (estimate).\n"
	      "# TYPE allocscope_alloc_objects_total counter\n"
	      "# HELP allocscope_freed_bytes_total Bytes of sampled allocations freed (estimate).\n"
	      "# TYPE allocscope_freed_bytes_total counter\n"
	      "# HELP allocscope_freed_objects_total Sampled objects freed (estimate).\n"
	      "# TYPE allocscope_freed_objects_total counter\n"
	      "# HELP allocscope_inuse_bytes Bytes still in use (estimate).\n"
	      "# TYPE allocscope_inuse_bytes gauge\n"
	      "# HELP allocscope_inuse_objects Objects still in use (estimate).\n"
	      "# TYPE allocscope_inuse_objects gauge\n"
	      "# HELP allocscope_gc_cycles_total Go GC cycles seen.\n"
	      "# TYPE allocscope_gc_cycles_total counter\n"
	      "# HELP allocscope_live_overwrites_total Sampled blocks whose free was not seen, "
	      "found when a new block took their address (retired as freed).\n"
	      "# TYPE allocscope_live_overwrites_total counter\n"
	      "# HELP allocscope_allocator_never_returned_total Allocator calls whose return was "
	      "not seen.\n"
	      "# TYPE allocscope_allocator_never_returned_total counter\n"
	      "# HELP allocscope_frees_unseen_total At --rate 1, frees of an address never seen "
	      "allocated.\n"
	      "# TYPE allocscope_frees_unseen_total counter\n"
	      "# HELP allocscope_go_memprofilerate_written_total Times --go-set-rate wrote the Go "
	      "program's runtime.MemProfileRate (only over a 0).\n"
	      "# TYPE allocscope_go_memprofilerate_written_total counter\n"
	      "# HELP allocscope_probe_overhead_ratio The probes' estimated share of the target's "
	      "CPU time now (--max-overhead).\n"
	      "# TYPE allocscope_probe_overhead_ratio gauge\n"
	      "# HELP allocscope_probe_overhead_full_ratio The probes' estimated share of the "
	      "target's CPU time with the allocation probes always attached.\n"
	      "# TYPE allocscope_probe_overhead_full_ratio gauge\n"
	      "# HELP allocscope_alloc_probes_duty_ratio Share of each period the target's "
	      "allocation probes are attached (1: always).\n"
	      "# TYPE allocscope_alloc_probes_duty_ratio gauge\n"
	      "# HELP allocscope_alloc_probes_seen_ratio Share of the target's allocator calls "
	      "its allocation probes see; alloc estimates are scaled by its inverse.\n"
	      "# TYPE allocscope_alloc_probes_seen_ratio gauge\n",
	      f);
	for (size_t i = 0; i < in->target_cnt; i++)
		write_target(f, &in->targets[i]);
	fputs("# HELP allocscope_events_dropped_total Events the BPF side could not record.\n"
	      "# TYPE allocscope_events_dropped_total counter\n",
	      f);
	for (int i = 0; i < ALLOC_CNT_MAX; i++)
		if (counter_names[i])
			fprintf(f, "allocscope_events_dropped_total{reason=\"%s\"} %llu\n",
				counter_names[i], (unsigned long long)in->counters[i]);
	fprintf(f,
		"# HELP allocscope_samples_total Sampled allocations recorded.\n"
		"# TYPE allocscope_samples_total counter\n"
		"allocscope_samples_total %llu\n",
		(unsigned long long)in->counters[ALLOC_CNT_SAMPLED]);
	fputs("# HELP allocscope_bpf_map_entries Entries in a BPF map.\n"
	      "# TYPE allocscope_bpf_map_entries gauge\n"
	      "# HELP allocscope_bpf_map_capacity Capacity of a BPF map.\n"
	      "# TYPE allocscope_bpf_map_capacity gauge\n",
	      f);
	for (size_t i = 0; i < in->map_cnt; i++) {
		const struct metrics_map *m = &in->maps[i];

		if (m->entries < 0)
			continue;
		fprintf(f, "allocscope_bpf_map_entries{map=\"%s\"} %ld\n", m->name, m->entries);
		fprintf(f, "allocscope_bpf_map_capacity{map=\"%s\"} %u\n", m->name, m->capacity);
	}
	fprintf(
	    f,
	    "# HELP allocscope_targets Processes watched now.\n"
	    "# TYPE allocscope_targets gauge\n"
	    "allocscope_targets %zu\n"
	    "# HELP allocscope_probes_attached uprobes attached now.\n"
	    "# TYPE allocscope_probes_attached gauge\n"
	    "allocscope_probes_attached %zu\n"
	    "# HELP allocscope_drains_total Drains of the kernel maps.\n"
	    "# TYPE allocscope_drains_total counter\n"
	    "allocscope_drains_total %llu\n"
	    "# HELP allocscope_drain_seconds_total Time spent draining.\n"
	    "# TYPE allocscope_drain_seconds_total counter\n"
	    "allocscope_drain_seconds_total %.6f\n"
	    "# HELP allocscope_last_drain_seconds Duration of the last drain.\n"
	    "# TYPE allocscope_last_drain_seconds gauge\n"
	    "allocscope_last_drain_seconds %.6f\n"
	    "# HELP allocscope_history_snapshots_dropped_total Snapshots dropped to stay within "
	    "--max-history-entries.\n"
	    "# TYPE allocscope_history_snapshots_dropped_total counter\n"
	    "allocscope_history_snapshots_dropped_total %llu\n"
	    "# HELP allocscope_exited_targets_dropped_total Exited processes released before "
	    "their retention ended, to stay within --max-exited.\n"
	    "# TYPE allocscope_exited_targets_dropped_total counter\n"
	    "allocscope_exited_targets_dropped_total %llu\n"
	    "# HELP allocscope_attach_failures_total Processes that could not be watched.\n"
	    "# TYPE allocscope_attach_failures_total counter\n"
	    "allocscope_attach_failures_total %llu\n"
	    "# HELP allocscope_pushes_total Profiles pushed to --push.\n"
	    "# TYPE allocscope_pushes_total counter\n"
	    "allocscope_pushes_total %llu\n"
	    "# HELP allocscope_push_failures_total Profiles --push could not deliver (dropped).\n"
	    "# TYPE allocscope_push_failures_total counter\n"
	    "allocscope_push_failures_total %llu\n"
	    "# HELP allocscope_push_retries_total Push requests that failed and were tried again.\n"
	    "# TYPE allocscope_push_retries_total counter\n"
	    "allocscope_push_retries_total %llu\n"
	    "# HELP allocscope_push_dropped_total Profiles --push dropped, by reason.\n"
	    "# TYPE allocscope_push_dropped_total counter\n"
	    "allocscope_push_dropped_total{reason=\"queue_full\"} %llu\n"
	    "allocscope_push_dropped_total{reason=\"refused\"} %llu\n"
	    "allocscope_push_dropped_total{reason=\"shutdown\"} %llu\n"
	    "# HELP allocscope_push_queued Profiles waiting to be pushed.\n"
	    "# TYPE allocscope_push_queued gauge\n"
	    "allocscope_push_queued %llu\n"
	    "# HELP allocscope_daemon_rss_bytes The daemon's resident memory.\n"
	    "# TYPE allocscope_daemon_rss_bytes gauge\n"
	    "allocscope_daemon_rss_bytes %ld\n",
	    in->target_cnt, in->probes_attached, (unsigned long long)in->drains,
	    in->drain_ns_total / 1e9, in->drain_ns_last / 1e9,
	    (unsigned long long)in->snapshots_dropped, (unsigned long long)in->exited_dropped,
	    (unsigned long long)in->attach_failures, (unsigned long long)in->pushes,
	    (unsigned long long)in->push_failures, (unsigned long long)in->push_retries,
	    (unsigned long long)in->push_dropped[METRICS_PUSH_DROP_FULL],
	    (unsigned long long)in->push_dropped[METRICS_PUSH_DROP_REFUSED],
	    (unsigned long long)in->push_dropped[METRICS_PUSH_DROP_SHUTDOWN],
	    (unsigned long long)in->push_queued, in->rss_bytes);
	fputs("# HELP allocscope_mmap_tracepoints Whether the mmap/munmap tracepoints are attached "
	      "now, and how: 1 for the current mode (attached only while a watched process needs "
	      "them).\n"
	      "# TYPE allocscope_mmap_tracepoints gauge\n",
	      f);
	for (int m = MMAP_TRACING_OFF; m <= MMAP_TRACING_EVERY_SYSCALL; m++)
		fprintf(f, "allocscope_mmap_tracepoints{mode=\"%s\"} %d\n", mmap_tracing_names[m],
			in->mmap_tracing == (enum mmap_tracing)m);
	fprintf(
	    f,
	    "# HELP allocscope_mmap_tracepoint_attaches_total Times the mmap/munmap tracepoints "
	    "were attached.\n"
	    "# TYPE allocscope_mmap_tracepoint_attaches_total counter\n"
	    "allocscope_mmap_tracepoint_attaches_total %llu\n"
	    "# HELP allocscope_mmap_targets Watched processes whose anonymous mmaps are tracked "
	    "(native ones): the mmap tracepoints are attached while there is one.\n"
	    "# TYPE allocscope_mmap_targets gauge\n"
	    "allocscope_mmap_targets %zu\n",
	    (unsigned long long)in->mmap_tracing_attaches, in->mmap_tracing_targets);
	fprintf(
	    f,
	    "# HELP allocscope_history_entries Entries held by the targets' histories.\n"
	    "# TYPE allocscope_history_entries gauge\n"
	    "allocscope_history_entries %zu\n"
	    "# HELP allocscope_history_entries_max --max-history-entries (as fitted to the "
	    "memory limit).\n"
	    "# TYPE allocscope_history_entries_max gauge\n"
	    "allocscope_history_entries_max %zu\n"
	    "# HELP allocscope_exited_targets Exited processes kept for queries.\n"
	    "# TYPE allocscope_exited_targets gauge\n"
	    "allocscope_exited_targets %zu\n"
	    "# HELP allocscope_exited_targets_max --max-exited (as fitted to the memory "
	    "limit).\n"
	    "# TYPE allocscope_exited_targets_max gauge\n"
	    "allocscope_exited_targets_max %zu\n"
	    "# HELP allocscope_stacks_cached Stacks copied out of the kernel's stack map.\n"
	    "# TYPE allocscope_stacks_cached gauge\n"
	    "allocscope_stacks_cached %zu\n"
	    "# HELP allocscope_stack_frames_interned Distinct stack frames stored (each once).\n"
	    "# TYPE allocscope_stack_frames_interned gauge\n"
	    "allocscope_stack_frames_interned %zu\n",
	    in->bounds.history_entries, in->bounds.history_entries_max, in->bounds.exited,
	    in->bounds.exited_max, in->bounds.stacks_cached, in->bounds.frames_interned);
	fputs("# HELP allocscope_target_files_refused_total Files of targets not read, by reason: "
	      "outside the process's root or a link (link), not a regular file (not_regular), not "
	      "the mapped file (mismatch), too large, the process gone (exited), missing, error. "
	      "Their frames stay addresses.\n"
	      "# TYPE allocscope_target_files_refused_total counter\n",
	      f);
	for (int i = 0; i < ROOTFS_REFUSED__CNT; i++)
		fprintf(f, "allocscope_target_files_refused_total{reason=\"%s\"} %llu\n",
			rootfs__refusal_name(i), (unsigned long long)in->files_refused[i]);
	if (in->unwind) {
		const struct unwind_stats *us = in->unwind;

		fprintf(
		    f,
		    "# HELP allocscope_unwind_events_total Sampled allocations unwound from CFI.\n"
		    "# TYPE allocscope_unwind_events_total counter\n"
		    "allocscope_unwind_events_total %llu\n"
		    "# HELP allocscope_unwind_truncated_total CFI stacks that stop before the "
		    "thread's first frame (kept, marked [truncated]).\n"
		    "# TYPE allocscope_unwind_truncated_total counter\n"
		    "allocscope_unwind_truncated_total %llu\n"
		    "# HELP allocscope_unwind_seconds_total Time spent unwinding CFI samples.\n"
		    "# TYPE allocscope_unwind_seconds_total counter\n"
		    "allocscope_unwind_seconds_total %.6f\n"
		    "# HELP allocscope_unwind_fp_fallback_total CFI samples the unwind ring had no "
		    "room for, kept with their frame-pointer stack instead.\n"
		    "# TYPE allocscope_unwind_fp_fallback_total counter\n"
		    "allocscope_unwind_fp_fallback_total %llu\n"
		    "# HELP allocscope_unwind_frees_deferred_total Frees of CFI samples the unwind "
		    "ring had no room for, kept in a map and read after it.\n"
		    "# TYPE allocscope_unwind_frees_deferred_total counter\n"
		    "allocscope_unwind_frees_deferred_total %llu\n"
		    "# HELP allocscope_unwind_frees_lost_total Frees of CFI samples that neither "
		    "the "
		    "unwind ring nor that map had room for (the block stays counted as in use).\n"
		    "# TYPE allocscope_unwind_frees_lost_total counter\n"
		    "allocscope_unwind_frees_lost_total %llu\n",
		    (unsigned long long)us->events, (unsigned long long)us->truncated,
		    us->unwind_ns / 1e9, (unsigned long long)in->counters[ALLOC_CNT_UNWIND_LOST],
		    (unsigned long long)in->counters[ALLOC_CNT_UNWIND_FREE_DEFERRED],
		    (unsigned long long)in->counters[ALLOC_CNT_UNWIND_FREE_LOST]);
	}
	if (in->exec_attach)
		write_exec_attach(f, in->exec_attach);
	return ferror(f) ? -EIO : 0;
}

void metrics__label_value(FILE *f, const char *s)
{
	label_escape(f, s);
}
