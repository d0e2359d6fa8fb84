// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation sampling on uprobes (the malloc family) and syscall tracepoints (anonymous
 * mmap/munmap). An entry probe takes the size and decides, by a per-thread byte countdown, whether
 * the call is sampled; the return probe of a sampled call takes the user stack and records the
 * block as live; free/munmap retire live blocks. Unsampled calls cost a task-storage lookup and a
 * subtraction.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "alloc.h"

#define MAP_ANONYMOUS 0x20
#define __NR_mmap     9 /* x86-64 */
#define __NR_munmap   11
#define MAX_ERRNO     4095
#define EFAULT	      14
#define ENOMEM	      12
#define EEXIST	      17

/* Set by user space before load. sample_rate <= 1 records every allocation. */
const volatile __u64 sample_rate = 1;
/* Exponentially distributed intervals with mean sample_rate (see daemon/sampling.c). */
const volatile __u64 sample_table[SAMPLE_TABLE_SIZE];
/* Stack ids are hash & stack_id_mask: a power of two at least twice the stacks map's size. */
const volatile __u32 stack_id_mask = 32767;

__u64 counters[ALLOC_CNT_MAX];

/* Per-thread state. Task storage rather than a tid-keyed hash: it is freed with the thread. */
struct task_state {
	__u64 remaining; /* bytes until the next sample; 0 = not drawn yet */
	__u64 entry_sp;	 /* stack pointer at the outermost allocator entry */
	__u64 size;	 /* requested size of the call in progress */
	__u64 aux;	 /* realloc: old pointer; posix_memalign: memptr */
	__u64 mmap_len;	 /* length of an anonymous mmap in progress, 0 if none */
	__u32 depth;	 /* allocator calls in progress (glibc's realloc calls malloc...) */
	__u32 kind;
	__u32 sampled;
	__u32 mmap_sampled;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* Content-addressed user stacks (see struct stack_val). A hash map rather than a stack-trace
 * map: that one keeps one stack per hash bucket and drops the next stack that lands there. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct stack_val);
} stacks SEC(".maps");

/* The stack being recorded, per thread: a per-CPU buffer could be overwritten by another task
 * that runs a probe on the same CPU, as uprobe programs are not run with preemption off. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stack_val);
} stack_bufs SEC(".maps");

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

/* Tokens of CFI samples: per-CPU sequence numbers with the CPU in the low bits, unique without
 * an atomic. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwind_seq SEC(".maps");

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

static __always_inline void count(enum alloc_counter c)
{
	if (c < ALLOC_CNT_MAX)
		__sync_fetch_and_add(&counters[c], 1);
}

static __always_inline __u64 draw_interval(void)
{
	return sample_table[bpf_get_prandom_u32() & (SAMPLE_TABLE_SIZE - 1)];
}

/*
 * Poisson sampling by bytes, as the Go runtime and jemalloc do: the thread's countdown is
 * decremented by each allocation's size, and the allocation that takes it past zero is sampled,
 * so an allocation of s bytes is sampled with probability 1 - exp(-s / rate).
 */
static __always_inline __u32 take_sample(struct task_state *st, __u64 size)
{
	if (sample_rate <= 1)
		return 1;
	if (!st->remaining)
		st->remaining = draw_interval() ?: 1;
	if (size < st->remaining) {
		st->remaining -= size;
		return 0;
	}
	st->remaining = draw_interval() ?: 1;
	return 1;
}

static __always_inline struct task_state *task_state(int create)
{
	struct task_state *st;

	st = bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0,
				  create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!st && create)
		count(ALLOC_CNT_TASK_FULL);
	return st;
}

static __always_inline struct proc_totals *proc_totals(__u32 tgid)
{
	struct proc_totals zero = {}, *t;

	t = bpf_map_lookup_elem(&totals, &tgid);
	if (t)
		return t;
	bpf_map_update_elem(&totals, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&totals, &tgid);
}

static long vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	*(__u64 *)data = vma->vm_end;
	return 0;
}

/* The target's flags when its sample of this kind is unwound from CFI, else 0. */
static __always_inline __u32 wants_cfi(__u32 tgid, __u32 kind)
{
	__u32 *flags;

	if (!stack_copy_bytes || kind == ALLOC_KIND_GO || kind == ALLOC_KIND_GO_MALLOCGC)
		return 0;
	flags = bpf_map_lookup_elem(&targets, &tgid);
	return flags && (*flags & TARGET_F_CFI) ? *flags : 0;
}

static __always_inline int read_u64(__u64 *out, __u64 addr)
{
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/*
 * A thread in C called from Go runs on its M's system stack (g0), whose copy the CFI walk reads;
 * the goroutine that called is elsewhere. Go's TLS g is then g0; m.curg is the goroutine, whose
 * gobuf holds the sp and bp that asmcgocall left it with: [sp] is the return address into
 * runtime.cgocall, and bp heads the goroutine's frame-pointer chain. Every pointer is checked
 * (g0 is m's, curg's m is m, sp and bp inside curg's stack) so that a wrong layout yields no
 * frames rather than wrong ones. Reads only; never writes the target.
 */
static __always_inline void go_cgo_frames(struct unwind_event *e, __u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fsbase, g, m, g0, curg, cm, lo, hi, sp, bp, fr[2];
	struct go_layout *l = bpf_map_lookup_elem(&go_layouts, &tgid);

	if (!l)
		return;
	fsbase = BPF_CORE_READ(task, thread.fsbase);
	if (!fsbase || read_u64(&g, fsbase - 8) || !g || read_u64(&m, g + GO_G_M) || !m ||
	    read_u64(&g0, m) || g0 != g)
		return;
	if (read_u64(&curg, m + l->m_curg) || !curg || curg == g0 || read_u64(&cm, curg + GO_G_M) ||
	    cm != m || read_u64(&lo, curg + GO_G_STACK_LO) || read_u64(&hi, curg + GO_G_STACK_HI) ||
	    read_u64(&sp, curg + l->g_sched_sp) || read_u64(&bp, curg + l->g_sched_bp))
		return;
	if (sp < lo || sp >= hi || bp < sp || bp >= hi || read_u64(&e->go_ips[0], sp))
		return;
	e->go_nr = 1;
	for (int i = 1; i < UNWIND_GO_MAX_FRAMES; i++) {
		if (bp < lo || bp + sizeof(fr) > hi ||
		    bpf_probe_read_user(fr, sizeof(fr), (void *)bp) || !fr[1])
			return;
		e->go_ips[i] = fr[1];
		e->go_nr = i + 1;
		/* The goroutine's first frame saved a zero frame pointer. */
		if (!fr[0]) {
			e->flags |= UNWIND_F_GO_WHOLE;
			return;
		}
		if (fr[0] <= bp)
			return;
		bp = fr[0];
	}
}

static __always_inline __u64 next_token(void)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&unwind_seq, &zero);

	if (!seq)
		return 0;
	return (++*seq << 12) | (bpf_get_smp_processor_id() & 0xfff);
}

/*
 * Reserve and fill the unwind event of a CFI sample: registers in DWARF order and the stack from
 * sp up to the end of its mapping or stack_copy_bytes. NULL when the ring is full (counted).
 */
static __always_inline struct unwind_event *
unwind_event_fill(struct pt_regs *regs, __u32 tgid, __u64 size, __u32 kind, __u32 target_flags)
{
	__u64 t0 = bpf_ktime_get_ns(), sp, end = 0, len = stack_copy_bytes, token;
	struct task_struct *task;
	struct unwind_event *e;

	token = next_token();
	if (!token)
		return NULL;
	e = bpf_ringbuf_reserve(&unwind_events, sizeof(*e) + stack_copy_bytes, 0);
	if (!e) {
		count(ALLOC_CNT_UNWIND_LOST);
		return NULL;
	}
	e->type = UNWIND_EV_ALLOC;
	e->tgid = tgid;
	e->token = token;
	e->size = size;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->kind = kind;
	e->flags = 0;
	e->go_nr = 0;
	e->go_pad = 0;
	if (target_flags & TARGET_F_GO_CGO)
		go_cgo_frames(e, tgid);
	e->regs[0] = BPF_CORE_READ(regs, ax);
	e->regs[1] = BPF_CORE_READ(regs, dx);
	e->regs[2] = BPF_CORE_READ(regs, cx);
	e->regs[3] = BPF_CORE_READ(regs, bx);
	e->regs[4] = BPF_CORE_READ(regs, si);
	e->regs[5] = BPF_CORE_READ(regs, di);
	e->regs[6] = BPF_CORE_READ(regs, bp);
	e->regs[7] = sp = BPF_CORE_READ(regs, sp);
	e->regs[8] = BPF_CORE_READ(regs, r8);
	e->regs[9] = BPF_CORE_READ(regs, r9);
	e->regs[10] = BPF_CORE_READ(regs, r10);
	e->regs[11] = BPF_CORE_READ(regs, r11);
	e->regs[12] = BPF_CORE_READ(regs, r12);
	e->regs[13] = BPF_CORE_READ(regs, r13);
	e->regs[14] = BPF_CORE_READ(regs, r14);
	e->regs[15] = BPF_CORE_READ(regs, r15);
	e->regs[16] = BPF_CORE_READ(regs, ip);
	/* A read that crosses the end of the stack's mapping fails as a whole: stop at it. The
	 * main thread's stack ends a few KiB above main (environment, auxv). bpf_find_vma gives
	 * up when the mmap lock is taken; then the main thread's stack is cut where the kernel
	 * put argc (mm->start_stack), above every frame. */
	task = bpf_get_current_task_btf();
	if (bpf_find_vma(task, sp, vma_end_cb, &end, 0) || end <= sp) {
		end = BPF_CORE_READ(task, mm, start_stack);
		count(ALLOC_CNT_UNWIND_NO_VMA);
	}
	if (end > sp && end - sp <= len) {
		len = end - sp;
		e->flags |= UNWIND_F_STACK_END;
	}
	if (len > stack_copy_bytes)
		len = stack_copy_bytes;
	if (bpf_probe_read_user(e->stack, len, (void *)sp)) {
		/* Some page of the range is not there: keep what the first page holds. */
		len = 4096 - (sp & 4095);
		if (len > stack_copy_bytes)
			len = stack_copy_bytes;
		e->flags &= ~UNWIND_F_STACK_END;
		count(ALLOC_CNT_UNWIND_SHORT_COPY);
		if (bpf_probe_read_user(e->stack, len, (void *)sp))
			len = 0;
	}
	e->stack_len = len;
	e->bpf_ns = bpf_ktime_get_ns() - t0;
	return e;
}

static __always_inline void record_alloc_cfi(struct pt_regs *regs, __u32 tgid, __u64 addr,
					     __u64 size, __u32 kind, struct unwind_event *e)
{
	struct proc_totals *tot;
	struct live_key lk = {};
	struct live_val lv = {};

	count(ALLOC_CNT_SAMPLED);
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, 1);
		__sync_fetch_and_add(&tot->alloc_bytes, size);
	}
	lk.addr = addr;
	lk.tgid = tgid;
	lv.size = size;
	lv.key.tgid = tgid;
	lv.key.kind = kind;
	lv.key.stack_id = -1;
	lv.token = e->token;
	/* In the live map before the event is submitted: a free of the block, which cannot come
	 * before this allocator returns, is reserved in the ring after it. */
	if (!addr || bpf_map_update_elem(&live, &lk, &lv, BPF_ANY)) {
		if (addr)
			count(ALLOC_CNT_LIVE_FULL);
		e->flags |= UNWIND_F_UNTRACKED;
	}
	bpf_ringbuf_submit(e, 0);
}

/*
 * Ids tried from a stack's hash before it counts as lost; the id space is at most half full.
 * Double hashing (a step per stack, odd so that it visits the whole power-of-two space): linear
 * probing's runs of taken ids lost ~1% of 100k stacks at 38% fill, each stack hashing into a long
 * run every time; with independent probes the chance is the fill to the 16th power.
 */
#define STACK_ID_PROBES 16

/*
 * The id of the current user stack in the stacks map, inserting it if new; < 0 if it cannot be
 * stored. Two different stacks never share an id: the stored 64-bit hash must match.
 */
static __always_inline long stack_id(void *ctx)
{
	__u64 h = 0xcbf29ce484222325ULL;
	struct stack_val *b, *v;
	long n, nr;
	__u32 id, step;

	b = bpf_task_storage_get(&stack_bufs, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!b) {
		count(ALLOC_CNT_STACK_UNREADABLE);
		return -ENOMEM;
	}
	/* Zero-fills the buffer past the stack's end. */
	n = bpf_get_stack(ctx, b->ips, sizeof(b->ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count(ALLOC_CNT_STACK_UNREADABLE);
		return n ? n : -EFAULT;
	}
	nr = n / sizeof(__u64);
	for (int i = 0; i < ALLOC_MAX_STACK_DEPTH; i++) {
		if (i >= nr)
			break;
		h = (h ^ b->ips[i]) * 0x100000001b3ULL;
	}
	/* Finalizer of splitmix64: every input bit reaches the low bits the id is taken from. */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	b->hash = h;
	step = (__u32)(h >> 32) | 1;
	for (__u32 i = 0; i < STACK_ID_PROBES; i++) {
		id = ((__u32)h + i * step) & stack_id_mask;
		v = bpf_map_lookup_elem(&stacks, &id);
		if (!v) {
			n = bpf_map_update_elem(&stacks, &id, b, BPF_NOEXIST);
			if (!n)
				return id;
			/* Another CPU filled the id first (compared below), or the map is full. */
			v = bpf_map_lookup_elem(&stacks, &id);
			if (!v) {
				count(ALLOC_CNT_STACK_LOST);
				return n;
			}
		}
		if (v->hash == h)
			return id;
	}
	count(ALLOC_CNT_STACK_LOST);
	return -EEXIST;
}

static __always_inline void record_alloc(void *ctx, struct pt_regs *regs, __u32 tgid, __u64 addr,
					 __u64 size, __u32 kind, __u64 caller_hint)
{
	struct alloc_stats zero = {}, *v;
	struct proc_totals *tot;
	struct alloc_key key = {};
	struct live_key lk = {};
	struct live_val lv = {};
	__u32 cfi = wants_cfi(tgid, kind);
	long id;

	if (cfi) {
		struct unwind_event *e = unwind_event_fill(regs, tgid, size, kind, cfi);

		if (e) {
			record_alloc_cfi(regs, tgid, addr, size, kind, e);
			return;
		}
	}
	key.tgid = tgid;
	key.kind = kind;
	key.caller_hint = caller_hint;
	key.size = kind == ALLOC_KIND_GO ? size : 0;
	id = stack_id(ctx); /* < 0: counted, and kept under a lost-stack key */
	key.stack_id = id;

	v = bpf_map_lookup_elem(&stats, &key);
	if (!v) {
		bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&stats, &key);
		if (!v) {
			count(ALLOC_CNT_STATS_FULL);
			return;
		}
	}
	count(ALLOC_CNT_SAMPLED);
	__sync_fetch_and_add(&v->alloc_cnt, 1);
	__sync_fetch_and_add(&v->alloc_bytes, size);
	tot = proc_totals(tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->alloc_cnt, 1);
		__sync_fetch_and_add(&tot->alloc_bytes, size);
	}
	/* No address (every-call Go mode sees no return value): never live, never freed. */
	if (!addr) {
		__sync_fetch_and_add(&v->untracked_cnt, 1);
		__sync_fetch_and_add(&v->untracked_bytes, size);
		return;
	}

	lk.addr = addr;
	lk.tgid = tgid;
	lv.size = size;
	lv.key = key;
	if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY)) {
		count(ALLOC_CNT_LIVE_FULL);
		__sync_fetch_and_add(&v->untracked_cnt, 1);
		__sync_fetch_and_add(&v->untracked_bytes, size);
	}
}

/* Retire a live block. len == 0 means the whole block (free); munmap passes its length. */
static __always_inline void record_free(__u32 tgid, __u64 addr, __u64 len)
{
	struct live_key lk = {};
	struct live_val *lvp, lv;
	struct proc_totals *tot;
	struct alloc_stats *v;

	if (!addr)
		return;
	lk.addr = addr;
	lk.tgid = tgid;
	lvp = bpf_map_lookup_elem(&live, &lk);
	if (!lvp)
		return;
	if (len && len < lvp->size) {
		count(ALLOC_CNT_MUNMAP_PARTIAL);
		return;
	}
	lv = *lvp;
	/* Whoever deletes the entry accounts for it: a racing free of the same address (a double
	 * free in the target) must not count twice. */
	if (bpf_map_delete_elem(&live, &lk))
		return;
	tot = bpf_map_lookup_elem(&totals, &tgid);
	if (tot) {
		__sync_fetch_and_add(&tot->free_cnt, 1);
		__sync_fetch_and_add(&tot->free_bytes, lv.size);
	}
	if (lv.token) {
		struct unwind_free_event *fe;

		fe = bpf_ringbuf_reserve(&unwind_events, sizeof(*fe), 0);
		if (!fe) {
			count(ALLOC_CNT_UNWIND_FREE_LOST);
			return;
		}
		fe->type = UNWIND_EV_FREE;
		fe->tgid = tgid;
		fe->token = lv.token;
		fe->size = lv.size;
		bpf_ringbuf_submit(fe, 0);
		return;
	}
	v = bpf_map_lookup_elem(&stats, &lv.key);
	if (!v)
		return;
	__sync_fetch_and_add(&v->free_cnt, 1);
	__sync_fetch_and_add(&v->free_bytes, lv.size);
}

SEC("uprobe")
int BPF_KPROBE(alloc_enter)
{
	__u32 kind = bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx), size, aux = 0;
	struct task_state *st;

	st = task_state(1);
	if (!st)
		return 0;
	if (st->depth) {
		/* A nested call sits deeper on the stack than the outer one. One that does not
		 * means the outer call left without its return probe firing. */
		if (sp < st->entry_sp) {
			st->depth++;
			return 0;
		}
		count(ALLOC_CNT_NEST_RESET);
	}

	switch (kind) {
	case ALLOC_KIND_MALLOC:
	case ALLOC_KIND_VALLOC:
	case ALLOC_KIND_PVALLOC:
		size = PT_REGS_PARM1(ctx);
		break;
	case ALLOC_KIND_CALLOC:
		size = PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx);
		break;
	case ALLOC_KIND_REALLOC:
		aux = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM2(ctx);
		break;
	case ALLOC_KIND_REALLOCARRAY:
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

	st->depth = 1;
	st->entry_sp = sp;
	st->kind = kind;
	st->size = size;
	st->aux = aux;
	st->sampled = take_sample(st, size);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_exit)
{
	__u64 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_state *st;
	__u64 addr;

	st = task_state(0);
	if (!st || !st->depth)
		return 0;
	if (st->depth > 1) {
		st->depth--;
		return 0;
	}
	st->depth = 0;

	addr = PT_REGS_RC(ctx);
	if (st->kind == ALLOC_KIND_POSIX_MEMALIGN) {
		/* Returns an error number; the block is stored through memptr. */
		if (addr || bpf_probe_read_user(&addr, sizeof(addr), (void *)st->aux))
			return 0;
	}
	if (!addr)
		return 0; /* failed allocation, or realloc(p, 0): its free is seen by free's probe
			   */
	if (st->kind == ALLOC_KIND_REALLOC || st->kind == ALLOC_KIND_REALLOCARRAY)
		record_free(tgid, st->aux, 0);
	if (st->sampled)
		record_alloc(ctx, ctx, tgid, addr, st->size, st->kind, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	record_free(bpf_get_current_pid_tgid() >> 32, (__u64)ptr, 0);
	return 0;
}

static __always_inline int is_target(__u32 tgid)
{
	__u32 *flags = bpf_map_lookup_elem(&targets, &tgid);

	return flags && (*flags & TARGET_F_MMAP);
}

/*
 * BTF tracepoints on every syscall rather than syscalls/sys_enter_mmap: those need tracefs, which
 * is not mounted on every host, to find their IDs. The syscall number is checked first, so other
 * syscalls cost a compare.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	__u32 tgid;
	struct task_state *st;
	__u64 len, flags;
	long fd;

	if (id != __NR_mmap && id != __NR_munmap)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_target(tgid))
		return 0;
	if (id == __NR_munmap) {
		record_free(tgid, regs->di, regs->si);
		return 0;
	}
	len = regs->si;
	flags = regs->r10;
	fd = (long)regs->r8;
	if (!(flags & MAP_ANONYMOUS) && fd != -1)
		return 0;
	st = task_state(1);
	if (!st)
		return 0;
	/* malloc's own mmaps for large blocks are already counted as the malloc. */
	if (st->depth) {
		st->mmap_len = 0;
		return 0;
	}
	st->mmap_len = len;
	st->mmap_sampled = take_sample(st, len);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 addr = ret, len, hint;
	struct task_state *st;
	__u32 tgid;

	if (regs->orig_ax != __NR_mmap)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_target(tgid))
		return 0;
	st = task_state(0);
	if (!st || !st->mmap_len)
		return 0;
	len = st->mmap_len;
	st->mmap_len = 0;
	if (addr >= (__u64)-MAX_ERRNO || !st->mmap_sampled)
		return 0;
	if (bpf_probe_read_user(&hint, sizeof(hint), (void *)regs->sp))
		hint = 0;
	record_alloc(ctx, regs, tgid, addr, len, ALLOC_KIND_MMAP, hint);
	return 0;
}

/* x86 flags: jbe is taken when CF or ZF is set. */
#define X86_FLAG_CF 0x0001
#define X86_FLAG_ZF 0x0040

/*
 * Go entry probes sit on the jbe of the stack-bound check. When it is taken, the function calls
 * morestack and starts over from its first byte, so the probe fires again: drop this hit.
 */
static __always_inline int go_will_grow_stack(struct pt_regs *ctx, __u64 cookie)
{
	if (!(cookie & GO_COOKIE_AT_JBE))
		return 0;
	if (!(ctx->flags & (X86_FLAG_CF | X86_FLAG_ZF)))
		return 0;
	count(ALLOC_CNT_MORESTACK);
	return 1;
}

/*
 * The return address into the probed function's caller, at [rsp] before the prologue pushes
 * anything: the frame-pointer walk from an entry skips that caller.
 */
static __always_inline __u64 go_caller(struct pt_regs *ctx)
{
	__u64 ret = 0;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)))
		return 0;
	return ret;
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
	if (((cookie >> 8) & 0xff) == GO_ARGS_P_RBX_SIZE_RCX) {
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
	__u32 kind_off = (cookie >> 16) & 0xff, profile_kind = (cookie >> 24) & 0xff;
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
	e->probe = cookie & 0xff;
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
