/* SPDX-License-Identifier: MIT */
/* The overhead budget (--max-overhead): what a uprobe trap costs on this host, each watched
 * native process's probe overhead from its probe hits and CPU time, and the duty cycle of its
 * allocation probes that keeps it under the budget, run by a thread of its own. */
#ifndef ALLOCSCOPE_OVERHEAD_H
#define ALLOCSCOPE_OVERHEAD_H

#include <stddef.h>
#include <linux/types.h>

#include "probe/alloc_probes.h"

/* The default budget, in percent of a process's CPU time (README "Why 3%"). */
#define OVERHEAD_DEFAULT_PCT 3.0
#define OVERHEAD_PERIOD_MS   1000
/*
 * Periods a process must measure over budget, one after another, before it is first cycled.
 * A cycled period's samples weigh by the share of calls seen measured in the period before,
 * which stands for the next only in a process in a steady state: a program that lives a few
 * seconds and changes phase within one (a test, a compiler) is all transient, and was
 * underestimated by up to 28% when cycled. Such a program pays its full overhead for its short
 * life; a service is held to the budget from its sixth second on.
 */
#define OVERHEAD_HOLD_PERIODS 5
/* The shortest duty cycle. Below it the on-window (125 ms a second) comes near the jitter of a
 * busy host's wake-ups and link closes, which makes the share of calls seen vary from period to
 * period, and a weight that varies is biased (E[1/q] > 1/E[q]: +65% at 1/64 in a test run);
 * and since the free probe is never cycled, a shorter one buys little. */
#define OVERHEAD_DUTY_MIN (1.0 / 8)

struct overhead_opts {
	double max_pct;	  /* 0: no budget (overheads are still estimated and shown) */
	__u32 period_ms;  /* 0: OVERHEAD_PERIOD_MS */
	const char *proc; /* "/proc" unless tests say otherwise */
	double trap_ns;	  /* > 0: use this trap cost instead of measuring it */
};

/* What is known of one process, for profiles, /metrics and top. */
struct overhead_stat {
	double full_pct;   /* estimated overhead with the allocation probes attached all the time */
	double now_pct;	   /* estimated overhead at the current duty cycle */
	double duty;	   /* fraction of each period the allocation probes are attached (1: all) */
	double seen;	   /* share of its allocator calls they see: samples weigh 1 / seen */
	double hits_per_s; /* probe runs per second over the last period */
	__u64 cycled_periods; /* periods it spent duty-cycled */
	int valid;	      /* at least one period measured */
};

struct overhead;

/* Price a trap and start the thread. NULL and errno on failure (logged). */
struct overhead *overhead__new(struct alloc_probes *ap, const struct overhead_opts *opts);
/* Stop the thread, attach every allocation side again. Accepts NULL. */
void overhead__free(struct overhead *ov);
/* The cost of one probe run (trap and program), in ns. */
double overhead__trap_ns(const struct overhead *ov);
/* Where the trap cost comes from: "measured at start", "measured at start + bpf_stats". */
const char *overhead__trap_source(const struct overhead *ov);
/* Parse --max-overhead / max_overhead: a percentage in [0, 100), "off" or "0" for none (*out 0).
 * 0 or -EINVAL (not logged). */
int overhead__parse_pct(const char *arg, double *out);
/* pid's figures; -ENOENT when it is not known (yet). */
int overhead__get(struct overhead *ov, int pid, struct overhead_stat *out);
/* What a reader of pid's samples does with those of its first cycled period (DUTY_PENDING)
 * while that period is still open. */
enum overhead_pending {
	OVERHEAD_PENDING_HOLD,	/* wait: drains, whose entries are cumulative, from one to the next
				 */
	OVERHEAD_PENDING_NOW,	/* the share seen so far: a profile built from scratch (record, top)
				 */
	OVERHEAD_PENDING_FINAL, /* the process has ended: fix the share seen to its end */
};
/* The key (alloc_key.duty) that pid's DUTY_PENDING samples take: the share of calls its first
 * cycled period saw; 0 while it is open and how is OVERHEAD_PENDING_HOLD. */
__u16 overhead__pending_key(struct overhead *ov, int pid, enum overhead_pending how);
/* A line for a profile's comments about pid, "" when nothing is known. */
#define OVERHEAD_COMMENT_LEN 512
void overhead__comment(struct overhead *ov, int pid, char *buf, size_t len);

/*
 * The pure part, for tests. Over one period a process ran cpu_ns on CPU, its allocation probes
 * ran alloc_hits times while attached a fraction duty of the period and its free probes
 * free_hits times, each run costing trap_ns. *ra and *rf are the probe time per unit of the
 * process's own work (its CPU time less the probes'), allocation side at full attach and free
 * side. 0, or -EINVAL when there is nothing to judge from.
 */
int overhead__rates(double alloc_hits, double free_hits, double cpu_ns, double duty, double trap_ns,
		    double *ra, double *rf);
/* The share of CPU time in probes at duty cycle d: (d ra + rf) / (1 + d ra + rf). */
double overhead__fraction(double ra, double rf, double d);
/* The largest duty cycle in [min_duty, 1] whose fraction is at most budget (a fraction). */
double overhead__duty(double budget, double ra, double rf, double min_duty);
/* A share of calls seen in DUTY_ONE units for the sample keys (alloc_key.duty), on a grid of
 * 32 steps per halving. */
__u32 overhead__key_share(double share);
/* A duty cycle (of time) in DUTY_ONE units, keeping prev while d is within 20% of it, so that
 * the schedule does not chase noise. */
__u32 overhead__quantize(double d, __u32 prev);

#endif
