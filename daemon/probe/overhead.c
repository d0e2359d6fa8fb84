// SPDX-License-Identifier: MIT
/* The overhead budget: prices a trap on a function of our own at start, estimates each native
 * target's probe overhead every period from its probe hits (bpf/alloc.h proc_totals) and its CPU
 * time (/proc/PID/stat), and duty-cycles the allocation probes of those over budget. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe/links.h"
#include "probe/overhead.h"
#include "util/common.h"
#include "util/log.h"
#include "util/thread.h"

#define MAX_PROCS     4096
#define CALIB_BATCHES 5
#define CALIB_CALLS   400
/* Less CPU than this over a period says too little to change a duty cycle on. */
#define MIN_CPU_NS (20 * 1000 * 1000ull)
/* Fewer frees than this over a period say too little of the share of calls seen. */
#define MIN_FREES 200
/* Resolved shares of forgotten processes' first cycled periods, kept for a late drain. */
#define DONE_KEEP 256

/* Steps per halving of the share of calls seen in the sample keys: each key stands for a share
 * within 1.1% of the one measured, and a steady process uses a few keys per stack. */
#define KEY_STEPS 32.0

/*
 * The function a trap is priced on. It starts with a push, an instruction the kernel emulates
 * rather than single-steps, as at malloc's probe site (probe_place.c); written in assembly so
 * that no compiler moves it.
 */
__asm__(".text\n"
	".globl allocscope_overhead_target\n"
	".type allocscope_overhead_target, @function\n"
	"allocscope_overhead_target:\n"
	"\tpush %rbp\n"
	"\tmov %rsp, %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size allocscope_overhead_target, .-allocscope_overhead_target\n");
void allocscope_overhead_target(void);

struct ov_proc {
	int pid;
	int seen;
	int attached;	    /* allocation side attached now */
	__u32 duty_q;	    /* of time, DUTY_ONE units; DUTY_ONE: not cycled */
	__u32 key_q;	    /* the share of calls seen, in the sample keys (alloc_key.duty) */
	double seen_ratio;  /* share of calls seen / scheduled share of time, smoothed; 0: none */
	__u64 free_hits_on; /* proc_totals at last_ns: frees while the allocation side was on */
	__u64 last_ns;	    /* start of the period being measured */
	__u64 cpu_ticks;    /* utime + stime at last_ns */
	__u64 alloc_hits;   /* proc_totals at last_ns */
	__u64 free_hits;
	__u64 on_since_ns; /* when the allocation side was attached (0: detached) */
	__u64 on_ns;	   /* time attached since last_ns */
	int over;	   /* periods measured over budget in a row while not cycled */
	double attach_ns;  /* how long attaching its allocation side takes (smoothed) */
	/* The first cycled period (DUTY_PENDING): open from its start until a period start has
	 * measured enough frees since, then the key of the share of calls it saw. */
	enum { PENDING_NONE, PENDING_OPEN, PENDING_DONE } pending;
	__u64 pend_frees, pend_on; /* proc_totals at its start */
	__u32 pend_q;		   /* its duty cycle (of time): the share when too few frees */
	__u16 pending_key;	   /* PENDING_DONE: what its samples weigh (alloc_key.duty) */
	/* The rest of this period's schedule: at ev_ns[i], attach (ev_on[i]) or detach. */
	__u64 ev_ns[2];
	int ev_on[2];
	int nev, next_ev;
	struct overhead_stat st;
};

struct overhead {
	struct alloc_probes *ap;
	struct overhead_opts o;
	double trap_ns;	 /* per probe run, trap and program */
	double base_ns;	 /* the trap alone, when bpf_stats told the calibration program's time */
	int stats_on;	 /* kernel.bpf_stats_enabled was on at start */
	int prog_fds[4]; /* the malloc family's programs; -errno for those not loaded */
	__u64 run_ns, run_cnt;
	pthread_t th;
	int running;
	pthread_mutex_t mu; /* procs, trap_ns, stop */
	pthread_cond_t wake;
	int stop;
	unsigned int seed;     /* the windows' offsets (rand_r), the overhead thread's alone */
	struct ov_proc *procs; /* grown by the thread under mu */
	size_t cnt;
	struct {
		int pid;
		__u16 key;
	} done[DONE_KEEP]; /* under mu */
	size_t done_next;
};

int overhead__rates(double alloc_hits, double free_hits, double cpu_ns, double duty, double trap_ns,
		    double *ra, double *rf)
{
	double probe_ns = trap_ns * (alloc_hits + free_hits), work_ns;

	if (cpu_ns <= 0 || trap_ns <= 0 || duty <= 0)
		return -EINVAL;
	/* The process's own work; the trap estimate may exceed what the process ran (a busier
	 * host than at calibration): its own work is then taken as a twentieth of its time. */
	work_ns = max_t(double, cpu_ns - probe_ns, cpu_ns / 20);
	*ra = trap_ns * alloc_hits / duty / work_ns;
	*rf = trap_ns * free_hits / work_ns;
	return 0;
}

double overhead__fraction(double ra, double rf, double d)
{
	double x = d * ra + rf;

	return x / (1 + x);
}

double overhead__duty(double budget, double ra, double rf, double min_duty)
{
	double x, d;

	if (budget <= 0 || budget >= 1 || ra <= 0)
		return 1;
	/* f(d) <= b  <=>  d ra + rf <= b / (1 - b) */
	x = budget / (1 - budget);
	if (ra + rf <= x)
		return 1;
	d = (x - rf) / ra;
	return d < min_duty ? min_duty : d > 1 ? 1 : d;
}

__u32 overhead__quantize(double d, __u32 prev)
{
	__u32 q;

	if (d >= 1)
		return DUTY_ONE;
	q = (__u32)lround(d * DUTY_ONE);
	q = q < 1 ? 1 : q >= DUTY_ONE ? DUTY_ONE - 1 : q;
	if (prev && prev < DUTY_ONE && q > prev * 0.8 && q < prev * 1.2)
		return prev;
	return q;
}

static __u64 add_ns(__u64 t, double ns)
{
	return t + (__u64)ns;
}

static void sleep_until(struct overhead *ov, __u64 t_ns)
{
	struct timespec ts = {.tv_sec = t_ns / 1000000000ull, .tv_nsec = t_ns % 1000000000ull};

	pthread_mutex_lock(&ov->mu);
	while (!ov->stop && now_mono_ns() < t_ns)
		if (pthread_cond_timedwait(&ov->wake, &ov->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&ov->mu);
}

/* utime + stime of pid in clock ticks, or -errno. */
static long long cpu_ticks(const struct overhead *ov, int pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%d/stat", ov->o.proc, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command may hold spaces and parentheses: the fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	return (long long)(ut + st);
}

/* The mean run time of the malloc family's programs since the last call (bpf_stats), or -1. */
static double prog_run_ns(struct overhead *ov)
{
	__u64 ns = 0, cnt = 0;
	double avg = -1;

	for (int i = 0; i < 4; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (ov->prog_fds[i] < 0 || bpf_obj_get_info_by_fd(ov->prog_fds[i], &info, &len))
			continue;
		ns += info.run_time_ns;
		cnt += info.run_cnt;
	}
	if (cnt > ov->run_cnt + 100)
		avg = (double)(ns - ov->run_ns) / (cnt - ov->run_cnt);
	ov->run_ns = ns;
	ov->run_cnt = cnt;
	return avg;
}

static int bpf_stats_enabled(void)
{
	char buf[8] = "";
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] == '1';
}

/* The file offset of our own function, for a uprobe on /proc/self/exe. */
static int self_offset(void *fn, unsigned long *off)
{
	unsigned long start, end, pgoff, addr = (unsigned long)fn;
	char line[4096];
	int err = -ENOENT;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %lx", &start, &end, &pgoff) != 3)
			continue;
		if (addr >= start && addr < end) {
			*off = addr - start + pgoff;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The thread's CPU time, which the kernel charges the traps to, rather than wall time, which a
 * busy host stretches with other processes' turns. */
static double batch_ns(void (*volatile fn)(void))
{
	__u64 t0 = thread_cpu_ns();

	for (int i = 0; i < CALIB_CALLS; i++)
		fn();
	return (double)(thread_cpu_ns() - t0) / CALIB_CALLS;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Price a probe run: CALIB_BATCHES batches of calls of our own function without and with the
 * calibration program on it (a uprobe in this process only), the medians' difference. ~5 ms at
 * 1 us a trap; nothing of any target is touched.
 */
static int calibrate(struct overhead *ov)
{
	void (*volatile fn)(void) = allocscope_overhead_target;
	struct bpf_program *prog = alloc_probes__calibrate_prog(ov->ap);
	double bare[CALIB_BATCHES], probed[CALIB_BATCHES];
	struct bpf_link *link = NULL;
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	unsigned long off;
	int fd = -1, err;

	err = self_offset((void *)allocscope_overhead_target, &off);
	if (err)
		return err;
	for (int i = 0; i < CALIB_BATCHES; i++)
		bare[i] = batch_ns(fn);
	if (alloc_probes__multi(ov->ap)) {
		fd = uprobe_multi__link(bpf_program__fd(prog), "/proc/self/exe", &off, NULL, 1, 0,
					getpid());
		if (fd < 0)
			return fd;
	} else {
		link = bpf_program__attach_uprobe(prog, false, getpid(), "/proc/self/exe", off);
		if (!link)
			return -errno;
	}
	for (int i = 0; i < CALIB_BATCHES; i++)
		probed[i] = batch_ns(fn);
	if (ov->stats_on && !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &info_len) &&
	    info.run_cnt)
		ov->base_ns = -(double)info.run_time_ns / info.run_cnt;
	if (link)
		bpf_link__destroy(link);
	else
		close(fd);
	/* Medians: a batch that met an interrupt or a cache-cold path counts for one of five. */
	qsort(bare, CALIB_BATCHES, sizeof(bare[0]), cmp_double);
	qsort(probed, CALIB_BATCHES, sizeof(probed[0]), cmp_double);
	ov->trap_ns = max_t(double, probed[CALIB_BATCHES / 2] - bare[CALIB_BATCHES / 2], 1);
	/* base_ns: the trap without the calibration program's own run time */
	ov->base_ns = ov->base_ns < 0 ? max_t(double, ov->trap_ns + ov->base_ns, 1) : ov->trap_ns;
	return 0;
}

static struct ov_proc *proc_get(struct overhead *ov, int pid)
{
	struct ov_proc *n;

	for (size_t i = 0; i < ov->cnt; i++)
		if (ov->procs[i].pid == pid)
			return &ov->procs[i];
	/* Under mu: overhead__get and overhead__pending_key read procs from other threads. */
	pthread_mutex_lock(&ov->mu);
	n = realloc(ov->procs, (ov->cnt + 1) * sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&ov->mu);
		return NULL;
	}
	ov->procs = n;
	n = &ov->procs[ov->cnt++];
	memset(n, 0, sizeof(*n));
	pthread_mutex_unlock(&ov->mu);
	n->pid = pid;
	n->attached = 1;
	n->duty_q = DUTY_ONE;
	n->key_q = DUTY_ONE;
	n->st.duty = 1;
	n->st.seen = 1;
	return n;
}

/* Attach or detach p's allocation side. Returns how late the side came on (ns: the links'
 * attach, until the gate opened), 0 for a detach or no change. */
static __u64 set_side(struct overhead *ov, struct ov_proc *p, int on)
{
	__u64 t;
	int err;

	if (p->attached == on)
		return 0;
	/* Gated off before the links go and on once they are all back: what is recorded and the
	 * free probe's count of the window (free_hits_on) cover the same calls, however long the
	 * links take to close or attach. */
	if (!on)
		alloc_probes__gate_alloc_side(ov->ap, p->pid, 1);
	t = now_mono_ns();
	err = alloc_probes__set_alloc_side(ov->ap, p->pid, on);
	if (err < 0)
		log_debug("pid %d: cannot %s its allocation probes: %s", p->pid,
			  on ? "attach" : "detach", strerror(-err));
	if (on)
		alloc_probes__gate_alloc_side(ov->ap, p->pid, 0);
	p->attached = on;
	if (!on) {
		p->on_ns += t - p->on_since_ns;
		p->on_since_ns = 0;
		return 0;
	}
	p->on_since_ns = now_mono_ns();
	t = p->on_since_ns - t;
	p->attach_ns = p->attach_ns > 0 ? 0.7 * p->attach_ns + 0.3 * (double)t : (double)t;
	return t;
}

__u32 overhead__key_share(double share)
{
	double k;

	if (share >= 1)
		return DUTY_ONE;
	k = lround(-log2(share > 0 ? share : 1.0 / DUTY_ONE) * KEY_STEPS);
	return min_t(__u32, max_t(__u32, (__u32)lround(DUTY_ONE * exp2(-k / KEY_STEPS)), 1),
		     DUTY_ONE - 1);
}

/*
 * The on-window of a cycled period: q/DUTY_ONE of it, from a random offset, wrapping around the
 * period's end. Every instant of the period is then as likely to fall in it, so a process that
 * exits (or changes pace) part way through a period is estimated without bias; a window always
 * at the start would weigh the calls of a period cut short by the exit as a whole period's.
 */
static void schedule(struct overhead *ov, struct ov_proc *p, __u64 start, double period_ns, __u32 q)
{
	double len = period_ns * q / DUTY_ONE, off, early;
	__u64 late;

	p->nev = p->next_ev = 0;
	if (q >= DUTY_ONE) {
		set_side(ov, p, 1);
		return;
	}
	/*
	 * Windows of the same length in every period: the links are made early by what attaching
	 * them has taken (the gate opens about when the window starts), and a window opened late
	 * anyway closes as late. Their attach (tens of ms under load) came off the window, twice
	 * in a period whose window wraps: the share of calls seen then swung 5% to 10% from one
	 * period to the next, and weighing each period by the one before overcounted by 19-47%.
	 */
	early = min_t(double, p->attach_ns, len / 2);
	off = period_ns * (rand_r(&ov->seed) / ((double)RAND_MAX + 1));
	if (off + len <= period_ns) {
		set_side(ov, p, 0);
		p->ev_ns[0] = add_ns(start, max_t(double, off - early, 0));
		p->ev_on[0] = 1;
		p->ev_ns[1] = add_ns(start, off + len);
		p->ev_on[1] = 0;
	} else {
		late = set_side(ov, p, 1);
		p->ev_ns[0] = add_ns(start, off + len - period_ns + (double)late);
		p->ev_on[0] = 0;
		p->ev_ns[1] =
		    add_ns(start, max_t(double, off - early, off + len - period_ns + late));
		p->ev_on[1] = 1;
	}
	p->nev = 2;
}

/*
 * The key of the share of calls p's first cycled period saw, from the free probe's hits since
 * it began (now: its proc_totals, NULL to read them): the same period's measure, where later
 * periods use the one before. Too few frees to tell (or totals gone): its scheduled share of
 * time. close: the period is over, the key is what its samples weigh from here on. With mu
 * held where other threads may read p.
 */
static __u16 pending_resolve(struct overhead *ov, struct ov_proc *p, const struct proc_totals *now,
			     int close)
{
	double share = (double)p->pend_q / DUTY_ONE;
	struct proc_totals tot;
	__u16 key;

	if (!now) {
		alloc_probes__totals(ov->ap, p->pid, &tot);
		now = &tot;
	}
	if (now->free_hits >= p->pend_frees + MIN_FREES && now->free_hits_on >= p->pend_on)
		share = min_t(
		    double,
		    (double)(now->free_hits_on - p->pend_on) / (now->free_hits - p->pend_frees), 1);
	key = (__u16)overhead__key_share(share);
	if (close) {
		p->pending_key = key;
		p->pending = PENDING_DONE;
	}
	return key;
}

/*
 * The start of a period for p: measure the one that ended, choose the next duty cycle (of time)
 * and the share of calls its samples stand for (the keys' weight). A process busy on CPU runs
 * slower while probed, so fewer of its calls fall in the on-windows than their share of time; a
 * process paced by its input makes as many calls either way. The free probe, attached all the
 * time, tells them apart: the share of its hits that fell in the on-windows is the share of
 * allocator calls seen, measured each period and applied to the next.
 */
static void period_start(struct overhead *ov, struct ov_proc *p, __u64 now, double period_ns)
{
	struct proc_totals tot;
	long long ticks = cpu_ticks(ov, p->pid);
	double budget = ov->o.max_pct / 100, cpu_ns, wall_ns, duty = 1, ra = 0, rf = 0, d, share;
	__u64 frees = 0;
	static long tck;
	__u32 q = p->duty_q, key;
	int had = p->last_ns != 0;

	if (!tck)
		tck = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	alloc_probes__totals(ov->ap, p->pid, &tot);
	if (p->attached) {
		p->on_ns += now - p->on_since_ns;
		p->on_since_ns = now;
	}
	if (had && ticks >= 0 && now > p->last_ns) {
		wall_ns = now - p->last_ns;
		cpu_ns = (double)(ticks - (long long)p->cpu_ticks) * 1e9 / tck;
		duty = min_t(double, (double)p->on_ns / wall_ns, 1);
		frees = tot.free_hits - p->free_hits;
		if (p->duty_q < DUTY_ONE && frees >= MIN_FREES) {
			double r =
			    min_t(double, (double)(tot.free_hits_on - p->free_hits_on) / frees, 1) *
			    DUTY_ONE / p->duty_q;

			/* Smoothed: 1/q of one period's q is biased up where q varies. */
			p->seen_ratio = p->seen_ratio > 0 ? 0.7 * p->seen_ratio + 0.3 * r : r;
			log_debug(
			    "pid %d: a cycled period: attached %.1f%% of the time, saw %.1f%% of "
			    "the frees (%llu), its samples weighed as %.1f%%",
			    p->pid, 100.0 * p->duty_q / DUTY_ONE, 100 * r * p->duty_q / DUTY_ONE,
			    (unsigned long long)frees,
			    100.0 * (p->key_q == DUTY_PENDING ? r * p->duty_q : p->key_q) /
				DUTY_ONE);
		}
		pthread_mutex_lock(&ov->mu);
		p->st.hits_per_s = (tot.alloc_hits - p->alloc_hits + frees) * 1e9 / wall_ns;
		if (cpu_ns >= MIN_CPU_NS && !overhead__rates(tot.alloc_hits - p->alloc_hits, frees,
							     cpu_ns, duty, ov->trap_ns, &ra, &rf)) {
			d = alloc_probes__multi(ov->ap)
				? overhead__duty(budget, ra, rf, OVERHEAD_DUTY_MIN)
				: 1;
			q = overhead__quantize(d, p->duty_q);
			/* First cycled only once over budget for OVERHEAD_HOLD_PERIODS in a row. */
			if (q == DUTY_ONE || p->duty_q < DUTY_ONE)
				p->over = 0;
			else if (++p->over < OVERHEAD_HOLD_PERIODS)
				q = DUTY_ONE;
			p->st.full_pct = 100 * overhead__fraction(ra, rf, 1);
			p->st.now_pct = 100 * overhead__fraction(ra, rf, (double)q / DUTY_ONE);
			p->st.valid = 1;
		}
		p->st.duty = (double)q / DUTY_ONE;
		if (q < DUTY_ONE)
			p->st.cycled_periods++;
		pthread_mutex_unlock(&ov->mu);
	}
	if (ticks >= 0)
		p->cpu_ticks = ticks;
	p->alloc_hits = tot.alloc_hits;
	p->free_hits = tot.free_hits;
	p->free_hits_on = tot.free_hits_on;
	p->last_ns = now;
	p->on_ns = 0;
	if (q < DUTY_ONE && p->duty_q == DUTY_ONE)
		log_info("pid %d: probe overhead ~%.1f%% of its CPU: allocation probes attached "
			 "%.0f%% of the time (--max-overhead %g)",
			 p->pid, p->st.full_pct, 100.0 * q / DUTY_ONE, ov->o.max_pct);
	p->duty_q = q;
	share = (double)q / DUTY_ONE;
	/*
	 * The share measured last period, for the next, scaled if the schedule changed: measured
	 * rather than the scheduled share of time, because the windows come out longer than
	 * scheduled on a busy host (a late wake-up, a slow close). With nothing measured yet (the
	 * first cycled period), the scheduled share of time: a model of the process's slowdown,
	 * resting on the trap cost's estimate, could be off without bound.
	 */
	if (q < DUTY_ONE && p->seen_ratio > 0)
		share = min_t(double, share * p->seen_ratio, 1);
	key = overhead__key_share(share);
	/*
	 * The first cycled period has nothing measured before it: its samples wait under
	 * DUTY_PENDING for the share it saw itself, resolved here once enough frees were seen
	 * since it began (or it stopped being cycled), or by overhead__pending_key if the process
	 * ends first. Weighed by its share of time instead, a CPU-bound program that ended in its
	 * first cycled second was underestimated by 7-10%.
	 */
	if (p->pending == PENDING_OPEN &&
	    (tot.free_hits >= p->pend_frees + MIN_FREES || q == DUTY_ONE)) {
		pthread_mutex_lock(&ov->mu);
		pending_resolve(ov, p, &tot, 1);
		pthread_mutex_unlock(&ov->mu);
		log_debug("pid %d: its first cycled period saw %.1f%% of its calls", p->pid,
			  100.0 * p->pending_key / DUTY_ONE);
	} else if (p->pending == PENDING_NONE && q < DUTY_ONE && p->seen_ratio <= 0) {
		pthread_mutex_lock(&ov->mu);
		p->pend_frees = tot.free_hits;
		p->pend_on = tot.free_hits_on;
		p->pend_q = q;
		p->pending = PENDING_OPEN;
		pthread_mutex_unlock(&ov->mu);
	}
	if (p->pending == PENDING_OPEN)
		key = DUTY_PENDING;
	/* Until it is a target (its probes are attached first), tried again each period. */
	if (key != p->key_q &&
	    !alloc_probes__set_duty(ov->ap, p->pid, key == DUTY_ONE ? 0 : (__u16)key))
		p->key_q = key;
	pthread_mutex_lock(&ov->mu);
	p->st.seen = key == DUTY_PENDING ? (double)q / DUTY_ONE : (double)p->key_q / DUTY_ONE;
	pthread_mutex_unlock(&ov->mu);
	schedule(ov, p, now, period_ns, q);
}

static void *run(void *arg)
{
	struct overhead *ov = arg;
	double period_ns = ov->o.period_ms * 1e6;
	__u64 start = now_mono_ns(), end;
	static int pids[MAX_PROCS];
	size_t n, j;

	for (;;) {
		pthread_mutex_lock(&ov->mu);
		if (ov->stop) {
			pthread_mutex_unlock(&ov->mu);
			break;
		}
		pthread_mutex_unlock(&ov->mu);
		end = add_ns(start, period_ns);
		if (ov->stats_on) {
			double run_ns = prog_run_ns(ov);

			if (run_ns >= 0) {
				pthread_mutex_lock(&ov->mu);
				ov->trap_ns = ov->base_ns + run_ns;
				pthread_mutex_unlock(&ov->mu);
			}
		}
		n = alloc_probes__cyclable_pids(ov->ap, pids, MAX_PROCS);
		for (size_t i = 0; i < ov->cnt; i++)
			ov->procs[i].seen = 0;
		for (size_t i = 0; i < n; i++) {
			struct ov_proc *p = proc_get(ov, pids[i]);

			if (!p)
				continue;
			p->seen = 1;
			period_start(ov, p, now_mono_ns(), period_ns);
		}
		/* Gone: forget them, keeping what their first cycled period weighs for a drain yet
		 * to read it. */
		pthread_mutex_lock(&ov->mu);
		for (size_t i = j = 0; i < ov->cnt; i++) {
			struct ov_proc *p = &ov->procs[i];

			if (p->seen) {
				ov->procs[j++] = *p;
				continue;
			}
			if (p->pending == PENDING_OPEN)
				pending_resolve(ov, p, NULL, 1);
			if (p->pending == PENDING_DONE) {
				ov->done[ov->done_next % DONE_KEEP].pid = p->pid;
				ov->done[ov->done_next % DONE_KEEP].key = p->pending_key;
				ov->done_next++;
			}
		}
		ov->cnt = j;
		pthread_mutex_unlock(&ov->mu);
		/* Each cycled process's window edges at their times, earliest first. */
		for (;;) {
			struct ov_proc *next = NULL;

			for (size_t i = 0; i < ov->cnt; i++) {
				struct ov_proc *p = &ov->procs[i];

				if (p->next_ev < p->nev && p->ev_ns[p->next_ev] < end &&
				    (!next || p->ev_ns[p->next_ev] < next->ev_ns[next->next_ev]))
					next = p;
			}
			if (!next)
				break;
			sleep_until(ov, next->ev_ns[next->next_ev]);
			set_side(ov, next, next->ev_on[next->next_ev]);
			next->next_ev++;
		}
		sleep_until(ov, end);
		start = end;
		/* Fell behind (a stopped machine): start afresh rather than catch up. */
		if (now_mono_ns() > add_ns(start, period_ns))
			start = now_mono_ns();
	}
	/* Leave every allocation side as it was found. */
	for (size_t i = 0; i < ov->cnt; i++)
		set_side(ov, &ov->procs[i], 1);
	return NULL;
}

struct overhead *overhead__new(struct alloc_probes *ap, const struct overhead_opts *opts)
{
	/* One pair or the other is loaded: entry+return probes, or a uprobe session. */
	static const char *const progs[4] = {"alloc_enter", "alloc_exit", "alloc_session",
					     "free_enter"};
	struct overhead *ov = calloc(1, sizeof(*ov));
	pthread_condattr_t ca;
	int err;

	if (!ov)
		return NULL;
	ov->ap = ap;
	ov->o = *opts;
	ov->seed = (unsigned int)(now_mono_ns() ^ getpid());
	if (!ov->o.period_ms)
		ov->o.period_ms = OVERHEAD_PERIOD_MS;
	if (!ov->o.proc)
		ov->o.proc = "/proc";
	ov->stats_on = bpf_stats_enabled();
	for (int i = 0; i < 4; i++)
		ov->prog_fds[i] = alloc_probes__prog_fd(ap, progs[i]);
	pthread_mutex_init(&ov->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ov->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (opts->trap_ns > 0) {
		ov->trap_ns = ov->base_ns = opts->trap_ns;
	} else {
		__u64 t0 = now_mono_ns();

		err = calibrate(ov);
		if (err) {
			log_warn("cannot price a uprobe trap (%s): assuming 5 us", strerror(-err));
			ov->trap_ns = ov->base_ns = 5000;
		} else {
			log_info("a probe run costs %.0f ns here (measured in %.0f ms)%s",
				 ov->trap_ns, (now_mono_ns() - t0) / 1e6,
				 ov->stats_on ? "; kept current from bpf_stats" : "");
		}
	}
	if (ov->o.max_pct > 0 && !alloc_probes__multi(ap))
		log_warn("--max-overhead: duty cycling needs uprobe_multi links (Linux 6.6+); "
			 "overheads are estimated only");
	else if (ov->o.max_pct > 0)
		alloc_probes__set_alloc_gated(ap, 1);
	if (ov->stats_on)
		prog_run_ns(ov);
	err = thread_start(&ov->th, run, ov);
	if (err) {
		log_error("cannot start the overhead thread: %s", strerror(err));
		overhead__free(ov);
		errno = err;
		return NULL;
	}
	ov->running = 1;
	return ov;
}

void overhead__free(struct overhead *ov)
{
	if (!ov)
		return;
	if (ov->running) {
		pthread_mutex_lock(&ov->mu);
		ov->stop = 1;
		pthread_cond_broadcast(&ov->wake);
		pthread_mutex_unlock(&ov->mu);
		pthread_join(ov->th, NULL);
	}
	pthread_cond_destroy(&ov->wake);
	pthread_mutex_destroy(&ov->mu);
	free(ov->procs);
	free(ov);
}

double overhead__trap_ns(const struct overhead *ov)
{
	return ov->trap_ns;
}

const char *overhead__trap_source(const struct overhead *ov)
{
	if (ov->o.trap_ns > 0)
		return "given";
	return ov->stats_on ? "measured at start, kept current from bpf_stats"
			    : "measured at start";
}

int overhead__get(struct overhead *ov, int pid, struct overhead_stat *out)
{
	int err = -ENOENT;

	if (!ov)
		return -ENOENT;
	pthread_mutex_lock(&ov->mu);
	for (size_t i = 0; i < ov->cnt; i++) {
		if (ov->procs[i].pid != pid)
			continue;
		*out = ov->procs[i].st;
		err = out->valid ? 0 : -ENOENT;
		break;
	}
	pthread_mutex_unlock(&ov->mu);
	return err;
}

__u16 overhead__pending_key(struct overhead *ov, int pid, enum overhead_pending how)
{
	__u16 key = 0;

	if (!ov)
		return 0;
	pthread_mutex_lock(&ov->mu);
	for (size_t i = 0; i < ov->cnt; i++) {
		struct ov_proc *p = &ov->procs[i];

		if (p->pid != pid || p->pending == PENDING_NONE)
			continue;
		if (p->pending == PENDING_OPEN && how != OVERHEAD_PENDING_HOLD)
			key = pending_resolve(ov, p, NULL, how == OVERHEAD_PENDING_FINAL);
		else if (p->pending == PENDING_DONE)
			key = p->pending_key;
		pthread_mutex_unlock(&ov->mu);
		return key;
	}
	/* Forgotten: the newest of its pid, else a guess (the shortest duty cycle's share) rather
	 * than samples lost. */
	for (size_t n = 0; n < DONE_KEEP && n < ov->done_next; n++) {
		size_t i = (ov->done_next - 1 - n) % DONE_KEEP;

		if (ov->done[i].pid == pid) {
			key = ov->done[i].key;
			break;
		}
	}
	pthread_mutex_unlock(&ov->mu);
	if (!key && how != OVERHEAD_PENDING_HOLD)
		key = (__u16)overhead__key_share(OVERHEAD_DUTY_MIN);
	return key;
}

void overhead__comment(struct overhead *ov, int pid, char *buf, size_t len)
{
	struct overhead_stat s;
	char seen[160] = "";

	buf[0] = 0;
	if (overhead__get(ov, pid, &s))
		return;
	if (s.cycled_periods)
		snprintf(seen, sizeof(seen),
			 "; cycled %llu periods; the probes saw ~%.3g%% of its allocator calls, "
			 "their samples weigh %.4g",
			 (unsigned long long)s.cycled_periods, 100 * s.seen, 1 / s.seen);
	snprintf(buf, len,
		 "allocscope: pid %d: probe overhead ~%.1f%% of its CPU with the allocation probes "
		 "always attached (%.0f probe runs/s, %.0f ns each); allocation probes attached "
		 "%.0f%% of the time (--max-overhead %g%s), %.1f%% now%s",
		 pid, s.full_pct, s.hits_per_s, ov->trap_ns, 100 * s.duty, ov->o.max_pct,
		 ov->o.max_pct > 0 ? "%" : ": off", s.now_pct, seen);
}
