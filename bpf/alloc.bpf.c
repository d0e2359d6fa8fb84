// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation sampling on uprobes (the malloc family) and syscall tracepoints (anonymous
 * mmap/munmap). An entry probe takes the size and decides, by a per-thread byte countdown, whether
 * the call is sampled; the return probe of a sampled call takes the user stack and records the
 * block as live; free/munmap retire live blocks. Unsampled calls cost a task-storage lookup and a
 * subtraction, and under a uprobe session no return trap at all.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "alloc.h"

/* Set by user space before load. sample_rate <= 1 records every allocation. */
const volatile __u64 sample_rate = 1;
/* Exponentially distributed intervals with mean sample_rate (see daemon/probe/sampling.c). */
const volatile __u64 sample_table[SAMPLE_TABLE_SIZE];
/* Stack ids are hash & stack_id_mask: a power of two at least twice the stacks map's size. */
const volatile __u32 stack_id_mask = 32767;

__u64 counters[ALLOC_CNT_MAX];

/* Content-addressed user stacks (see struct stack_val). A hash map rather than a stack-trace
 * map: that one keeps one stack per hash bucket and drops the next stack that lands there. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stack_val);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct alloc_key);
	__type(value, struct alloc_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct live_key);
	__type(value, struct live_val);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct proc_totals);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} gc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} life_events SEC(".maps");

/* CFI unwinding: bytes of user stack copied per sampled event (0: no CFI unwinding at all). The
 * unwind_events ring is sized by user space; 4 KiB when CFI unwinding is off. */
const volatile __u32 stack_copy_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} unwind_events SEC(".maps");

/* Frees of CFI samples that found the ring full, by token, until user space reads them after
 * the ring (a block whose free is lost stays in use for ever). Allocated as used; one entry
 * when CFI unwinding is off. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct unwind_free_deferred);
} unwind_frees SEC(".maps");

/* Set by user space (after load) while an overhead budget may duty-cycle a process: only then
 * do the probes look for TARGET_F_ALLOC_OFF, a map lookup per call. */
__u32 alloc_gated = 0;

/* Set by user space when someone wants exec and fork events (the daemon). */
const volatile __u32 watch_procs = 0;

/* Processes whose anonymous mmaps are recorded (syscall tracepoints see every process). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* Go struct offsets of TARGET_F_GO_CGO processes (struct go_layout), set by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct go_layout);
} go_layouts SEC(".maps");

/*
 * The helpers that the programs share live in BPF-only headers (*.bpf.h). They use the maps and
 * knobs above, which stay here because user space reads or sets them; a header declares only
 * the maps that its own helpers use alone.
 */
#include "maps.bpf.h"
#include "task.bpf.h"
#include "sampling.bpf.h"
#include "stackid.bpf.h"
#include "cfi.bpf.h"
#include "record.bpf.h"
#include "go.bpf.h"
#include "mmap.bpf.h"
#include "sampler.bpf.h"

/* realloc-like kinds: the old block goes at the call's entry, not at its return (see below). */
/* A realloc's old block taken at its entry, that its return never settled: it was freed. */
static __always_inline void settle_old(struct task_state *st, __u32 tgid)
{
	if (!st->has_old)
		return;
	st->has_old = 0;
	account_free(tgid, &st->old);
}

/*
 * Uprobe sessions (kernel 6.13+): one program runs at both ends of a call, and its entry run
 * returns non-zero to have the kernel skip the return probe of this call. Weak: user space loads
 * alloc_session only where the kernel has them (alloc_probes.c).
 */
extern bool bpf_session_is_return(void) __ksym __weak;

/*
 * An allocator's entry: takes the size and decides whether the call is sampled. Returns whether
 * the call needs its return probe. Under a uprobe session (session != 0) only a sampled call
 * does, or a realloc that took its old block out of the live map: the rest cost one trap, and
 * calls nested in another allocator call take no return probe either (the outer one's records).
 */
static __always_inline int alloc_entry(struct pt_regs *ctx, int session)
{
	__u32 kind = COOKIE_FIELD(bpf_get_attach_cookie(ctx), ALLOC_COOKIE_KIND);
	__u64 sp = PT_REGS_SP(ctx), size, aux = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_totals *tot;
	struct task_state *st;

	count_probe_hit(tgid, 0);
	st = task_state(1);
	if (!st)
		return 0;
	if (st->depth && st->no_return) {
		if (nest_in_unreturned(st, sp, kind))
			return 0;
		st->depth = 0; /* it returned: no return probe said so */
	} else if (st->depth) {
		if (nest_is_inner(st, sp)) {
			if (session)
				return 0;
			st->depth++;
			return 1;
		}
		tot = bpf_map_lookup_elem(&totals, &tgid);
		if (tot)
			__sync_fetch_and_add(&tot->nest_reset_cnt, 1);
		settle_old(st, tgid);
	}

	switch (kind) {
	case ALLOC_KIND_MALLOC:
	case ALLOC_KIND_VALLOC:
	case ALLOC_KIND_PVALLOC:
	case ALLOC_KIND_MALLOCX:
	case ALLOC_KIND_NEW:
	case ALLOC_KIND_MI_MALLOC:
		size = PT_REGS_PARM1(ctx);
		break;
	case ALLOC_KIND_CALLOC:
	case ALLOC_KIND_MI_CALLOC:
		size = PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
		break;
	case ALLOC_KIND_REALLOC:
	case ALLOC_KIND_RALLOCX:
	case ALLOC_KIND_XALLOCX:
	case ALLOC_KIND_REALLOCF:
	case ALLOC_KIND_MI_REALLOC:
		aux = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM2(ctx);
		break;
	case ALLOC_KIND_REALLOCARRAY:
	case ALLOC_KIND_MI_REALLOCN:
		aux = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM2(ctx) * PT_REGS_PARM3(ctx);
		break;
	case ALLOC_KIND_POSIX_MEMALIGN:
		aux = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM3(ctx);
		break;
	case ALLOC_KIND_ALIGNED_ALLOC:
	case ALLOC_KIND_MEMALIGN:
		size = PT_REGS_PARM2(ctx);
		break;
	default:
		return 0;
	}

	nest_begin(st, sp);
	st->kind = kind;
	st->size = size;
	st->aux = aux;
	/* Gated off (the overhead budget): nothing new is recorded, but a realloc still retires
	 * its old block below. */
	st->sampled = !alloc_side_off(tgid) && take_sample(st, size);
	/*
	 * The old block leaves the live map now, while the caller still owns it: once realloc has
	 * freed it, another thread may be given the same address, and retiring it at our return
	 * would retire that thread's block. Its accounting waits for the return: a failed realloc
	 * leaves it allocated, and it goes back.
	 */
	if (alloc_kind_reallocs(kind) && aux)
		st->has_old = live_take(tgid, aux, 0, &st->old);
	if (session && !st->sampled && !st->has_old) {
		st->no_return = 1;
		return 0;
	}
	return 1;
}

/* An allocator's return (of a call whose entry wanted it): records a sampled block. */
static __always_inline void alloc_return(struct pt_regs *ctx)
{
	__u64 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_state *st;
	struct live_key lk = {};
	__u64 addr, size;

	count_probe_hit(tgid, 0);
	st = task_state(0);
	if (!st || !nest_exit(st))
		return;

	addr = PT_REGS_RC(ctx);
	size = st->size;
	if (st->kind == ALLOC_KIND_POSIX_MEMALIGN) {
		/* Returns an error number; the block is stored through memptr. */
		if (addr || bpf_probe_read_user(&addr, sizeof(addr), (void *)st->aux))
			return;
	} else if (st->kind == ALLOC_KIND_XALLOCX) {
		/* Resizes in place and returns the block's real size (its old one on failure). */
		size = addr;
		addr = st->aux;
	}
	if (st->has_old) {
		st->has_old = 0;
		/* Failed: the old block is still the caller's (but reallocf freed it, and
		 * realloc(p, 0) may free it and return NULL). */
		if (!addr && size && st->kind != ALLOC_KIND_REALLOCF) {
			lk.addr = st->aux;
			lk.tgid = tgid;
			if (live_insert(tgid, &lk, &st->old))
				account_free(tgid, &st->old);
		} else {
			account_free(tgid, &st->old);
		}
	}
	if (!addr)
		return; /* failed allocation, or realloc(p, 0) */
	if (st->sampled)
		record_alloc(ctx, ctx, tgid, addr, size, st->kind, 0);
}

/* Entry and return probes (a uretprobe per call): kernels without uprobe sessions. */
SEC("uprobe")
int BPF_KPROBE(alloc_enter)
{
	alloc_entry(ctx, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit)
{
	alloc_return(ctx);
	return 0;
}

/* A uprobe session on the same sites: the entry's non-zero result spares an unsampled call its
 * return trap. Counts its return runs (ALLOC_CNT_SESSION_RETURNS), which tests compare with the
 * calls sampled. */
SEC("uprobe")
int BPF_KPROBE(alloc_session)
{
	if (bpf_session_is_return()) {
		count(ALLOC_CNT_SESSION_RETURNS);
		alloc_return(ctx);
		return 0;
	}
	return !alloc_entry(ctx, 1);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_totals *tot;
	struct task_state *st;
	struct live_val lv;

	count_probe_hit(tgid, 1);
	if (live_take(tgid, (__u64)ptr, 0, &lv)) {
		account_free(tgid, &lv);
		return 0;
	}
	/* Only every-call recording knows every block: sampled, most frees are of blocks never
	 * sampled. A free inside an allocator call is its own business: glibc's realloc(p, 0)
	 * calls free on the block its entry already took. */
	if (sample_rate > 1 || !ptr)
		return 0;
	/* Duty-cycled: the allocation side did not see every block. */
	if (target_duty(tgid, ALLOC_KIND_FREE))
		return 0;
	st = task_state(0);
	if (st && in_alloc_call(st, PT_REGS_SP(ctx)))
		return 0;
	count(ALLOC_CNT_FREE_UNSEEN);
	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot)
		__sync_fetch_and_add(&tot->free_unseen_cnt, 1);
	return 0;
}

/* Where the daemon prices a trap (daemon/probe/overhead.c): a probe on a function of its own,
 * doing the lookups every malloc-family probe does before it knows the call is not sampled. */
SEC("uprobe")
int BPF_KPROBE(calibrate)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&totals, &tgid))
		return 1;
	task_state(0);
	return 0;
}

static __always_inline int is_target(__u32 tgid)
{
	__u32 *flags = bpf_map_lookup_elem(&targets, &tgid);

	return flags && (*flags & TARGET_F_MMAP);
}

/*
 * Two ways to see a target's mmap and munmap, attached by user space only while some target
 * needs them (TARGET_F_MMAP), so that a host with none pays nothing per syscall. Preferred: the
 * per-syscall tracepoints (syscalls/sys_enter_mmap...), which run no program for other syscalls;
 * their ids come from tracefs. Without tracefs: BTF tracepoints on every syscall, where other
 * syscalls cost a program run and a compare.
 */
SEC("tracepoint/syscalls/sys_enter_mmap")
int sys_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	struct pt_regs *regs;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	mmap_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], (long)ctx->args[4],
		   BPF_CORE_READ(regs, sp));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sys_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pt_regs *regs;

	if (!is_target(tgid))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	mmap_exit(ctx, regs, tgid, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int sys_enter_munmap(struct trace_event_raw_sys_enter *ctx)
{
	struct pt_regs *regs;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	syscall_remember(__NR_munmap, ctx->args[0], ctx->args[1], 0, 0, 0, BPF_CORE_READ(regs, sp));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_munmap")
int sys_exit_munmap(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (is_target(tgid))
		munmap_done(tgid, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int sys_enter_mremap(struct trace_event_raw_sys_enter *ctx)
{
	struct pt_regs *regs;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	syscall_remember(__NR_mremap, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3],
			 ctx->args[4], BPF_CORE_READ(regs, sp));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int sys_exit_mremap(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pt_regs *regs;

	if (!is_target(tgid))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	mremap_done(ctx, regs, tgid, ctx->ret);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if (id != __NR_mmap && id != __NR_munmap && id != __NR_mremap)
		return 0;
	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (id == __NR_mmap)
		mmap_enter(regs->di, regs->si, regs->dx, regs->r10, (long)regs->r8, regs->sp);
	else
		syscall_remember(id, regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->sp);
	return 0;
}

/* Two programs at every syscall's exit: one records (mmap, mremap), the other ends ranges
 * (munmap), as the per-syscall ones do; the verifier's stack has room for one or the other. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	__u32 tgid;

	if (id != __NR_mmap && id != __NR_mremap)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_target(tgid))
		return 0;
	if (id == __NR_mmap)
		mmap_exit(ctx, regs, tgid, ret);
	else
		mremap_done(ctx, regs, tgid, ret);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_unmap, struct pt_regs *regs, long ret)
{
	__u32 tgid;

	if (regs->orig_ax != __NR_munmap)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (is_target(tgid))
		munmap_done(tgid, ret);
	return 0;
}

/* runtime.mProf_Malloc: exactly the allocations the Go runtime samples at MemProfileRate. */
SEC("uprobe")
int BPF_KPROBE(go_mprof_malloc)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), p, size;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 ax = ctx->ax, bx = ctx->bx, cx = ctx->cx;

	/* Load every register first: the verifier refuses a context access through a pointer the
	 * compiler computed to pick one of them. */
	asm volatile("" : "+r"(ax), "+r"(bx), "+r"(cx));
	if (go_will_grow_stack(ctx, cookie))
		return 0;
	if (COOKIE_FIELD(cookie, GO_COOKIE_ARGS) == GO_ARGS_P_RBX_SIZE_RCX) {
		p = bx;
		size = cx;
	} else {
		p = ax;
		size = bx;
	}
	if (!p)
		return 0;
	record_alloc(ctx, ctx, tgid, p, size, ALLOC_KIND_GO, go_caller(ctx));
	return 0;
}

/* runtime.freeSpecial(s, p, size): the sweeper frees a sampled object's profile record. */
SEC("uprobe")
int BPF_KPROBE(go_free_special)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), s = ctx->ax, p = ctx->bx;
	__u32 kind_off = COOKIE_FIELD(cookie, GO_COOKIE_KIND_OFF);
	__u32 profile_kind = COOKIE_FIELD(cookie, GO_COOKIE_PROFILE_KIND);
	__u8 kind = 0;

	if (go_will_grow_stack(ctx, cookie))
		return 0;
	if (bpf_probe_read_user(&kind, sizeof(kind), (void *)(s + kind_off)) ||
	    kind != profile_kind)
		return 0;
	record_free(bpf_get_current_pid_tgid() >> 32, p, 0);
	return 0;
}

/* runtime.mallocgc(size, typ, needzero) on every call, sampled here by bytes: for programs whose
 * runtime samples nothing. No uretprobe on Go code, so no address and no in-use. */
SEC("uprobe")
int BPF_KPROBE(go_mallocgc)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), size = ctx->ax;
	struct task_state *st;

	if (go_will_grow_stack(ctx, cookie) || !size)
		return 0;
	st = task_state(1);
	if (!st || !take_sample(st, size))
		return 0;
	record_alloc(ctx, ctx, bpf_get_current_pid_tgid() >> 32, 0, size, ALLOC_KIND_GO_MALLOCGC,
		     go_caller(ctx));
	return 0;
}

/* runtime.gcStart and runtime.gcMarkTermination: a GC cycle's start and the end of its mark. */
SEC("uprobe")
int BPF_KPROBE(go_gc)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_totals *tot;
	struct gc_event *e;

	if (go_will_grow_stack(ctx, cookie))
		return 0;
	e = bpf_ringbuf_reserve(&gc_events, sizeof(*e), 0);
	if (!e) {
		count(ALLOC_CNT_GC_EVENTS_LOST);
		return 0;
	}
	e->tgid = tgid;
	e->probe = COOKIE_FIELD(cookie, GO_COOKIE_PROBE);
	e->time_ns = bpf_ktime_get_ns();
	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot)
		e->totals = *tot;
	else
		__builtin_memset(&e->totals, 0, sizeof(e->totals));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline void emit_life_event(__u32 type, __u32 tgid, __u32 parent)
{
	struct life_event *e;

	e = bpf_ringbuf_reserve(&life_events, sizeof(*e), 0);
	if (!e) {
		count(ALLOC_CNT_LIFE_EVENTS_LOST);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	e->parent_tgid = parent;
	e->pad = 0;
	e->time_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (watch_procs)
		emit_life_event(LIFE_EVENT_EXEC, p->tgid, 0);
	return 0;
}

/* A watched process forking a new process (not a thread): the child is watched too, as a
 * preforking server's workers should be. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(proc_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;

	if (!watch_procs || child->tgid != child->pid)
		return 0;
	if (bpf_map_lookup_elem(&targets, &ptgid))
		emit_life_event(LIFE_EVENT_FORK, child->tgid, ptgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
