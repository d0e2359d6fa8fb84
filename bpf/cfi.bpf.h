/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: CFI samples. Which samples go to user space to be unwound from CFI, and the
 * unwind_event that carries them: registers, a copy of the user stack, and for cgo the calling
 * goroutine's frames. Expects the including file to define the `targets` and `go_layouts` maps,
 * the `unwind_events` ring and the knob `stack_copy_bytes`. */
#ifndef ALLOCSCOPE_CFI_BPF_H
#define ALLOCSCOPE_CFI_BPF_H

#include "maps.bpf.h"

/* Tokens of CFI samples: per-CPU sequence numbers with the CPU in the low bits. The increment is
 * atomic: uprobe programs run with migration off but preemptible, so two tasks can be in
 * next_token on one CPU at once, and a plain ++ could give both one token (and a free then
 * retire the other's sample). */
#define UNWIND_TOKEN_CPU_BITS 12

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwind_seq SEC(".maps");

/* bpf_find_vma's callback: the end of the mapping that holds the stack pointer. */
static long vma_end_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	*(__u64 *)data = vma->vm_end;
	return 0;
}

/* The target's flags when its sample of this kind is unwound from CFI, else 0. */
static __always_inline __u32 wants_cfi(__u32 tgid, __u32 kind)
{
	__u32 *flags;

	/* Go's samples keep frame-pointer stacks: Go code always has them. */
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
	return ((__sync_fetch_and_add(seq, 1) + 1) << UNWIND_TOKEN_CPU_BITS) |
	       (bpf_get_smp_processor_id() & ((1u << UNWIND_TOKEN_CPU_BITS) - 1));
}

/* The end of the stack's mapping above sp (counted when it had to be guessed). */
static __always_inline __u64 stack_end(__u64 sp)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 end = 0;

	/* The main thread's stack ends a few KiB above main (environment, auxv). bpf_find_vma
	 * gives up when the mmap lock is taken; then the main thread's stack is cut where the
	 * kernel put argc (mm->start_stack), above every frame. */
	if (bpf_find_vma(task, sp, vma_end_cb, &end, 0) || end <= sp) {
		end = BPF_CORE_READ(task, mm, start_stack);
		count(ALLOC_CNT_UNWIND_NO_VMA);
	}
	return end;
}

/*
 * The stack from sp up to the first page that cannot be read, len bytes at most, copied to buf
 * (cap bytes): its length, 0 when sp's own page cannot be read. Besides a page never touched,
 * a page that is there can be unreadable for an instant (being migrated, compacted or
 * collapsed): one such page anywhere above the frames must not cost the frames below it.
 * Tries the prefixes that end on a page boundary, longest first; only after a failed read.
 */
static __always_inline __u64 stack_readable_prefix(void *buf, __u64 sp, __u64 len, const __u64 cap)
{
	__u64 first = 4096 - (sp & 4095), n;

	if (len <= first)
		return 0;
	n = first + ((len - first - 1) >> 12 << 12);
	for (int i = 0; i <= UNWIND_STACK_COPY_MAX / 4096; i++) {
		if (n > cap)
			n = cap;
		if (!bpf_probe_read_user(buf, n, (void *)sp))
			return n;
		if (n <= first)
			return 0;
		n -= 4096;
	}
	return 0;
}

/*
 * Fill a reserved event of room cap bytes of stack (a constant in each caller, so that the
 * verifier can bound every read): registers in DWARF order and the stack from sp, len bytes at
 * most.
 */
static __always_inline struct unwind_event *
unwind_event_put(struct unwind_event *e, struct pt_regs *regs, __u32 tgid, __u64 size, __u32 kind,
		 __u32 target_flags, __u64 token, __u64 t0, __u64 len, __u32 flags, const __u64 cap)
{
	__u64 sp = BPF_CORE_READ(regs, sp);

	e->type = UNWIND_EV_ALLOC;
	e->tgid = tgid;
	e->token = token;
	e->size = size;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->kind = kind;
	e->flags = flags;
	e->go_nr = 0;
	/* mmaps are seen by the syscall tracepoints, which are never duty-cycled. */
	e->duty = kind == ALLOC_KIND_MMAP ? 0 : target_flags >> TARGET_DUTY_SHIFT;
	if (target_flags & TARGET_F_GO_CGO)
		go_cgo_frames(e, tgid);
	e->regs[0] = BPF_CORE_READ(regs, ax);
	e->regs[1] = BPF_CORE_READ(regs, dx);
	e->regs[2] = BPF_CORE_READ(regs, cx);
	e->regs[3] = BPF_CORE_READ(regs, bx);
	e->regs[4] = BPF_CORE_READ(regs, si);
	e->regs[5] = BPF_CORE_READ(regs, di);
	e->regs[6] = BPF_CORE_READ(regs, bp);
	e->regs[7] = sp;
	e->regs[8] = BPF_CORE_READ(regs, r8);
	e->regs[9] = BPF_CORE_READ(regs, r9);
	e->regs[10] = BPF_CORE_READ(regs, r10);
	e->regs[11] = BPF_CORE_READ(regs, r11);
	e->regs[12] = BPF_CORE_READ(regs, r12);
	e->regs[13] = BPF_CORE_READ(regs, r13);
	e->regs[14] = BPF_CORE_READ(regs, r14);
	e->regs[15] = BPF_CORE_READ(regs, r15);
	e->regs[16] = BPF_CORE_READ(regs, ip);
	if (len > cap)
		len = cap;
	/* A read that meets a page not there fails as a whole. */
	if (bpf_probe_read_user(e->stack, len, (void *)sp)) {
		e->flags &= ~UNWIND_F_STACK_END;
		count(ALLOC_CNT_UNWIND_SHORT_COPY);
		len = stack_readable_prefix(e->stack, sp, len, cap);
	}
	e->stack_len = len;
	e->bpf_ns = bpf_ktime_get_ns() - t0;
	return e;
}

/* Room for the stack in the smaller reservations: a thread deep in its stack copies
 * stack_copy_bytes, but the main thread of a program like perl copies ~5 KiB up to the end of
 * its stack. Reserving only what is copied fits three times as many such events in the ring. */
#define UNWIND_CLASS_SMALL  2048
#define UNWIND_CLASS_MEDIUM 8192

/*
 * Reserve and fill the unwind event of a CFI sample: registers in DWARF order and the stack from
 * sp up to the end of its mapping or stack_copy_bytes, in a reservation of the smallest of three
 * sizes that holds it. NULL when the ring is full (counted).
 */
static __always_inline struct unwind_event *
unwind_event_fill(struct pt_regs *regs, __u32 tgid, __u64 size, __u32 kind, __u32 target_flags)
{
	__u64 t0 = bpf_ktime_get_ns(), sp, end, len = stack_copy_bytes, token;
	struct unwind_event *e;
	__u32 flags = 0;

	token = next_token();
	if (!token)
		return NULL;
	sp = BPF_CORE_READ(regs, sp);
	end = stack_end(sp);
	if (end > sp && end - sp <= len) {
		len = end - sp;
		flags |= UNWIND_F_STACK_END;
	}
	/* stack_copy_bytes is read-only after load, so the verifier knows each reservation's
	 * size; the cap passed along bounds every read into it. */
	if (len <= UNWIND_CLASS_SMALL && stack_copy_bytes > UNWIND_CLASS_SMALL) {
		e = bpf_ringbuf_reserve(&unwind_events, sizeof(*e) + UNWIND_CLASS_SMALL, 0);
		if (e)
			return unwind_event_put(e, regs, tgid, size, kind, target_flags, token, t0,
						len, flags, UNWIND_CLASS_SMALL);
	} else if (len <= UNWIND_CLASS_MEDIUM && stack_copy_bytes > UNWIND_CLASS_MEDIUM) {
		e = bpf_ringbuf_reserve(&unwind_events, sizeof(*e) + UNWIND_CLASS_MEDIUM, 0);
		if (e)
			return unwind_event_put(e, regs, tgid, size, kind, target_flags, token, t0,
						len, flags, UNWIND_CLASS_MEDIUM);
	} else {
		e = bpf_ringbuf_reserve(&unwind_events, sizeof(*e) + stack_copy_bytes, 0);
		if (e)
			return unwind_event_put(e, regs, tgid, size, kind, target_flags, token, t0,
						len, flags, stack_copy_bytes);
	}
	count(ALLOC_CNT_UNWIND_LOST);
	return NULL;
}

#endif
