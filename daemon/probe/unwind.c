// SPDX-License-Identifier: MIT
/* Unwinds the stack copies of CFI samples with libdwfl, one Dwfl per process whose modules
 * (and their parsed CFI) are kept across events, and aggregates samples and frees per stack. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "util/common.h"
#include "util/htab.h"
#include "util/log.h"
#include "symbols/rootfs.h"
#include "symbols/symbolize.h"
#include "probe/unwind.h"

#define MAX_PROCS 256

/* One process: its Dwfl, reported from the target's maps and attached to our thread
 * callbacks once. */
struct proc_unwind {
	__u32 tgid;
	int attached;
	Dwfl *dwfl;
	size_t reported_snaps; /* the target's maps_gen when its modules were reported */
	__u64 last_used_ns;
};

struct cfi_entry {
	__u32 tgid;
	__u32 kind; /* enum alloc_kind, and the sample's duty cycle above bit 16 (alloc_key.duty) */
	__u32 serial; /* unique and stable: the entry's identity in alloc_key.pad */
	__u64 size;   /* alloc_key.size: per size when sampled (unwind_event.key_size), else 0 */
	struct stack *stack;
	struct alloc_stats stats;
};

struct unwinder {
	struct proc_unwind procs[MAX_PROCS];
	size_t proc_cnt;
	struct cfi_entry *entries;
	size_t cnt, cap;
	__u32 next_serial;
	struct htab by_stack; /* entry indices by (tgid, kind, size, stack) */
	struct htab tokens;   /* entry indices by the token of a live sample (hash_token) */
	/* The event being unwound, for the thread callbacks. */
	const struct unwind_event *ev;
	struct target *target;
	__u64 ips[ALLOC_MAX_STACK_DEPTH];
	__u32 nr;
	int outside_copy;
	int past_stack_end; /* the last read was above the end of the thread's stack */
	struct unwind_stats stats;
	struct symbolizer *sym; /* may be NULL: modules then open their files themselves */
};

/* find_elf runs inside dwfl calls on behalf of the process being unwound: where its files are
 * opened from (below /proc/PID/root while it lives), and the symbolizer whose parsed files the
 * modules of every process share. One unwinder is used by one thread. */
static struct target *cur_target;
static struct symbolizer *cur_sym;

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	char path[4096];
	int fd;

	if (cur_target && name[0] == '/') {
		target__file_path(cur_target, name, path, sizeof(path));
		/* The symbolizer's Elf of this file (dev, inode, size, mtime): read and mapped once
		 * for all the processes that map it, and for symbolizing their frames. */
		if (cur_sym && (*elfp = symbolizer__elf(cur_sym, path))) {
			*file_name = strdup(path);
			return -1;
		}
		fd = rootfs__open(path, NULL);
		if (fd >= 0) {
			*file_name = strdup(path);
			*elfp = NULL;
			return fd;
		}
	}
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

static char *debuginfo_path;

static const Dwfl_Callbacks dwfl_cbs = {
    .find_elf = find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo, /* .gnu_debuglink and build ID */
    .debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct unwinder *u = arg;

	if (*thread_argp)
		return 0;
	*thread_argp = u;
	return u->ev->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	*thread_argp = arg;
	return true;
}

/* Only the copied stack is memory: what lies beyond it is unknown, and the walk stops there. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwinder *u = arg;
	__u64 sp = u->ev->regs[7];

	if (addr < sp || addr + sizeof(*result) > sp + u->ev->stack_len || addr + 8 < addr) {
		u->outside_copy = 1;
		u->past_stack_end =
		    addr >= sp + u->ev->stack_len && (u->ev->flags & UNWIND_F_STACK_END);
		return false;
	}
	memcpy(result, u->ev->stack + (addr - sp), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct unwinder *u = arg;
	Dwarf_Word regs[UNWIND_NR_REGS];

	for (int i = 0; i < UNWIND_NR_REGS; i++)
		regs[i] = u->ev->regs[i];
	dwfl_thread_state_register_pc(thread, regs[16]);
	return dwfl_thread_state_registers(thread, 0, UNWIND_NR_REGS, regs);
}

static const Dwfl_Thread_Callbacks thread_cbs = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

struct unwinder *unwinder__new(struct symbolizer *sym)
{
	struct unwinder *u = calloc(1, sizeof(struct unwinder));

	if (u)
		u->sym = sym;
	return u;
}

static void proc_release(struct proc_unwind *p)
{
	if (p->dwfl)
		dwfl_end(p->dwfl);
	memset(p, 0, sizeof(*p));
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->proc_cnt; i++)
		proc_release(&u->procs[i]);
	for (size_t i = 0; i < u->cnt; i++)
		stack__put(u->entries[i].stack);
	free(u->entries);
	htab__free(&u->by_stack);
	htab__free(&u->tokens);
	free(u);
}

/* Report the process's modules: from the target's newest maps text, else /proc/PID/maps.
 * Modules already reported at the same place are kept with what they parsed. */
static int report_modules(struct unwinder *u, struct proc_unwind *p, struct target *t)
{
	int err = 0;

	dwfl_report_begin(p->dwfl);
	if (t && t->last_maps_text) {
		FILE *f = fmemopen(t->last_maps_text, strlen(t->last_maps_text), "r");

		if (!f) {
			err = -errno;
		} else {
			if (dwfl_linux_proc_maps_report(p->dwfl, f))
				err = -EINVAL;
			fclose(f);
		}
	} else if (dwfl_linux_proc_report(p->dwfl, p->tgid)) {
		err = -ESRCH;
	}
	dwfl_report_end(p->dwfl, NULL, NULL);
	p->reported_snaps = t ? t->maps_gen : 0;
	if (err)
		return err;
	if (!p->attached) {
		if (!dwfl_attach_state(p->dwfl, NULL, p->tgid, &thread_cbs, u)) {
			log_debug("pid %u: cannot attach the unwinder: %s", p->tgid,
				  dwfl_errmsg(-1));
			return -EINVAL;
		}
		p->attached = 1;
	}
	return 0;
}

static struct proc_unwind *proc_get(struct unwinder *u, __u32 tgid)
{
	struct proc_unwind *p = NULL;

	for (size_t i = 0; i < u->proc_cnt; i++) {
		if (u->procs[i].tgid == tgid) {
			p = &u->procs[i];
			break;
		}
	}
	if (!p) {
		if (u->proc_cnt == MAX_PROCS) {
			/* Evict the least recently used process. */
			size_t lru = 0;

			for (size_t i = 1; i < u->proc_cnt; i++)
				if (u->procs[i].last_used_ns < u->procs[lru].last_used_ns)
					lru = i;
			proc_release(&u->procs[lru]);
			p = &u->procs[lru];
		} else {
			p = &u->procs[u->proc_cnt++];
		}
		p->tgid = tgid;
		p->dwfl = dwfl_begin(&dwfl_cbs);
		if (!p->dwfl) {
			log_error("pid %u: cannot start libdwfl: %s", tgid, dwfl_errmsg(-1));
			p->tgid = 0;
			return NULL;
		}
	}
	p->last_used_ns = now_mono_ns();
	return p;
}

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct unwinder *u = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	/* Return addresses as the kernel's walk gives them: heap_profile looks up pc - 1. */
	if (u->nr >= ALLOC_MAX_STACK_DEPTH - 1)
		return DWARF_CB_ABORT;
	u->ips[u->nr++] = pc;
	return DWARF_CB_OK;
}

/* Where threads start: a walk that stops past one of these has found every frame, even when
 * the entry's CFI does not say that it is the last (ld.so's _start does not). */
static const char *const entry_points[] = {
    "_start", "_dl_start_user", "__clone3", "clone3", "__clone", "clone", "start_thread",
};

static int is_entry_point(Dwfl *dwfl, __u64 pc)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
	const char *name = mod ? dwfl_module_addrname(mod, pc) : NULL;

	if (!name)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(entry_points); i++)
		if (!strcmp(name, entry_points[i]))
			return 1;
	return 0;
}

/* 1 when the walk reached the thread's first frame, 0 when it stopped early. */
static int walk(struct unwinder *u, struct proc_unwind *p)
{
	int rc;

	u->nr = 0;
	u->outside_copy = 0;
	u->past_stack_end = 0;
	rc = dwfl_getthread_frames(p->dwfl, u->ev->tid, frame_cb, u);
	if (rc && u->nr && u->nr < ALLOC_MAX_STACK_DEPTH - 1 &&
	    is_entry_point(p->dwfl, u->ips[u->nr - 1] - (u->nr > 1)))
		return 1;
	if (rc && !u->past_stack_end)
		log_debug("pid %u: unwind stopped after %u frames at 0x%llx: %s", p->tgid, u->nr,
			  u->nr ? (unsigned long long)u->ips[u->nr - 1] : 0ULL, dwfl_errmsg(-1));
	/* libdwfl ends a walk without an error when a return address cannot be read, so a read
	 * outside the copy is what tells a cut stack from a whole one; unless it was above the
	 * stack's end: then every frame there is was found (ld.so's _start does not say that it
	 * is the last). */
	return (rc == 0 && !u->outside_copy) || (u->nr && u->past_stack_end);
}

/* Whether the code at pc (a process address) has no .eh_frame entry: Go's own functions have
 * none (only .debug_frame, gone when stripped), C's do. */
static int no_eh_frame(Dwfl_Module *mod, __u64 pc)
{
	Dwarf_Addr bias;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
	Dwarf_Frame *fr = NULL;

	if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &fr) != 0)
		return 1;
	free(fr);
	return 0;
}

/*
 * A sample in C called from Go (TARGET_F_GO_CGO): the CFI walk goes up the system stack
 * through the C frames and into asmcgocall, where it loses its way (the goroutine's stack is
 * elsewhere). Keep its frames below the first one in Go code (in the module that holds
 * runtime.cgocall, without .eh_frame) and go on with the goroutine's frames from the BPF side.
 * 1 when joined; *whole then says whether the goroutine's walk reached its first frame.
 */
static int join_goroutine(struct unwinder *u, struct proc_unwind *p, int *whole)
{
	const struct unwind_event *ev = u->ev;
	Dwfl_Module *go = dwfl_addrmodule(p->dwfl, ev->go_ips[0] - 1), *mod;
	__u32 cut, n = min_t(__u32, ev->go_nr, UNWIND_GO_MAX_FRAMES);

	if (!go)
		return 0;
	for (cut = 1; cut < u->nr; cut++) {
		__u64 pc = u->ips[cut] - 1; /* a return address: the call is just before it */

		mod = dwfl_addrmodule(p->dwfl, pc);
		if (mod == go && no_eh_frame(mod, pc))
			break;
	}
	if (cut >= u->nr)
		return 0; /* the walk stopped before reaching Go */
	u->nr = cut;
	for (__u32 i = 0; i < n && u->nr < ALLOC_MAX_STACK_DEPTH - 1; i++)
		u->ips[u->nr++] = ev->go_ips[i];
	*whole = (ev->flags & UNWIND_F_GO_WHOLE) && u->nr < ALLOC_MAX_STACK_DEPTH - 1;
	u->stats.go_joined++;
	return 1;
}

static __u64 hash_entry(__u32 tgid, __u32 kind, __u64 size, const __u64 *ips, __u32 nr)
{
	__u64 h =
	    (1469598103934665603ULL ^ ((__u64)tgid << 32 | kind)) + size * 0x9e3779b97f4a7c15ULL;

	for (__u32 i = 0; i < nr; i++) {
		h ^= ips[i];
		h *= 1099511628211ULL;
		h ^= h >> 29;
	}
	return h ?: 1;
}

struct entry_key {
	__u32 tgid, kind, nr;
	__u64 size;
	const __u64 *ips;
};

static bool entry_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const struct cfi_entry *e = &((const struct unwinder *)ctx)->entries[idx];
	const struct entry_key *k = key;

	return e->tgid == k->tgid && e->kind == k->kind && e->size == k->size &&
	       stack__equal(e->stack, k->ips, k->nr);
}

/* The entry of (tgid, kind, size, ips[0..nr)), created when new; its index or -errno. */
static long entry_get(struct unwinder *u, __u32 tgid, __u32 kind, __u64 size, const __u64 *ips,
		      __u32 nr)
{
	struct entry_key key = {.tgid = tgid, .kind = kind, .nr = nr, .size = size, .ips = ips};
	__u64 h = hash_entry(tgid, kind, size, ips, nr);
	struct stack *st;
	uintptr_t idx;
	int err;

	/* Room first: once the entry is added, indexing it cannot fail. */
	err = htab__reserve(&u->by_stack, 1);
	if (err)
		return err;
	if (htab__find(&u->by_stack, h, entry_eq, u, &key, &idx))
		return idx;
	if (u->cnt == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		struct cfi_entry *n = realloc(u->entries, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		u->entries = n;
		u->cap = cap;
	}
	st = stack__new(ips, nr);
	if (!st)
		return -ENOMEM;
	u->entries[u->cnt] = (struct cfi_entry){
	    .tgid = tgid, .kind = kind, .serial = ++u->next_serial, .size = size, .stack = st};
	htab__set(&u->by_stack, h, entry_eq, u, &key, u->cnt);
	return u->cnt++;
}

/* htab__hash_u64 is a bijection, so the hash is the token: the token table needs no comparison
 * and keeps no tokens. */
static int token_put(struct unwinder *u, __u64 token, __u32 entry)
{
	return htab__set(&u->tokens, htab__hash_u64(token), NULL, NULL, NULL, entry);
}

/* Remove token; its entry index, or -ENOENT. */
static long token_take(struct unwinder *u, __u64 token)
{
	uintptr_t entry;

	if (!htab__remove(&u->tokens, htab__hash_u64(token), NULL, NULL, NULL, &entry))
		return -ENOENT;
	return entry;
}

static int handle_alloc(struct unwinder *u, struct target *t, const struct unwind_event *ev)
{
	struct proc_unwind *p;
	__u64 t0 = now_mono_ns();
	int complete = 0;
	long idx;
	int err;

	u->ev = ev;
	u->target = t;
	cur_target = t;
	cur_sym = u->sym;
	u->nr = 0;
	p = proc_get(u, ev->tgid);
	if (p) {
		err = 0;
		if (!p->attached || (t && t->maps_gen != p->reported_snaps))
			err = report_modules(u, p, t);
		/* An address in no reported module: a library mapped since the last snapshot. */
		if (!err && t && t->alive && !dwfl_addrmodule(p->dwfl, ev->regs[16]) &&
		    target__refresh_maps(t) == 0 && t->maps_gen != p->reported_snaps)
			err = report_modules(u, p, t);
		if (!err && p->attached) {
			complete = walk(u, p);
			/* Stopped at a module not reported yet: refresh once and walk again. */
			if (!complete && !u->outside_copy && t && t->alive &&
			    target__refresh_maps(t) == 0 && t->maps_gen != p->reported_snaps &&
			    !report_modules(u, p, t))
				complete = walk(u, p);
			if (ev->go_nr && u->nr)
				join_goroutine(u, p, &complete);
		}
	}
	cur_target = NULL;
	cur_sym = NULL;
	if (!u->nr) {
		/* Not even the leaf: keep the allocator's own address as the one frame. */
		u->stats.empty++;
		u->ips[u->nr++] = ev->regs[16];
	}
	if (!complete) {
		u->stats.truncated++;
		u->ips[u->nr++] = STACK_IP_TRUNCATED;
	}
	u->stats.events++;
	u->stats.bpf_ns += ev->bpf_ns;
	u->stats.stack_bytes += ev->stack_len;
	/* Per size when sampled, as the kernel's keys are: unsampling is exact only per size. */
	idx = entry_get(u, ev->tgid, (ev->kind & 0xffff) | (ev->duty & 0xffff) << 16, ev->key_size,
			u->ips, u->nr);
	u->stats.unwind_ns += now_mono_ns() - t0;
	if (idx < 0)
		return idx;
	u->entries[idx].stats.alloc_cnt++;
	u->entries[idx].stats.alloc_bytes += ev->size;
	if (ev->flags & UNWIND_F_UNTRACKED) {
		u->entries[idx].stats.untracked_cnt++;
		u->entries[idx].stats.untracked_bytes += ev->size;
		return 0;
	}
	return token_put(u, ev->token, idx);
}

int unwinder__handle(struct unwinder *u, struct target *t, const void *data, size_t len)
{
	const struct unwind_free_event *fe = data;
	const struct unwind_event *ev = data;
	long idx;

	if (len < sizeof(__u32))
		return 0;
	if (fe->type == UNWIND_EV_FREE && len >= sizeof(*fe)) {
		idx = token_take(u, fe->token);
		if (idx < 0 || (size_t)idx >= u->cnt || u->entries[idx].tgid != fe->tgid) {
			u->stats.frees_unknown++;
			return 0;
		}
		u->stats.frees++;
		u->entries[idx].stats.free_cnt++;
		u->entries[idx].stats.free_bytes += fe->size;
		return 0;
	}
	if (ev->type != UNWIND_EV_ALLOC || len < sizeof(*ev) || ev->stack_len > len - sizeof(*ev))
		return 0;
	if (t && (__u32)t->pid != ev->tgid)
		t = NULL;
	return handle_alloc(u, t, ev);
}

int unwinder__read(struct unwinder *u, struct entry_set *(*set_for)(void *ctx, __u32 tgid),
		   void *ctx)
{
	for (size_t i = 0; i < u->cnt; i++) {
		const struct cfi_entry *ce = &u->entries[i];
		struct alloc_entry e = {
		    /* Kernel keys have pad 0; a serial keeps CFI stacks apart where the daemon
		     * matches entries by key from one drain to the next. */
		    .key = {.tgid = ce->tgid,
			    .kind = ce->kind & 0xffff,
			    .duty = ce->kind >> 16,
			    .stack_id = -1,
			    .pad = ce->serial,
			    .size = ce->size},
		    .stats = ce->stats,
		    .stack = ce->stack,
		};
		struct entry_set *set = set_for(ctx, ce->tgid);
		int err;

		if (!set)
			continue;
		err = entry_set__add(set, &e);
		if (err)
			return err;
	}
	return 0;
}

#define ENTRY_GONE UINT32_MAX

/* Through remap (old entry index -> new, or ENTRY_GONE): the tables follow a compaction. */
static bool entry_remap(void *ctx, uintptr_t *idx)
{
	const __u32 *remap = ctx;

	if (remap[*idx] == ENTRY_GONE)
		return false;
	*idx = remap[*idx];
	return true;
}

void unwinder__forget_pid(struct unwinder *u, __u32 tgid)
{
	__u32 *remap;
	size_t n = 0;

	for (size_t i = 0; i < u->proc_cnt; i++) {
		if (u->procs[i].tgid == tgid) {
			proc_release(&u->procs[i]);
			u->procs[i] = u->procs[--u->proc_cnt];
			memset(&u->procs[u->proc_cnt], 0, sizeof(u->procs[0]));
			break;
		}
	}
	/* Entry indices change: both tables are remapped, and this process's entries and the
	 * tokens of its live samples dropped. */
	remap = malloc((u->cnt ?: 1) * sizeof(*remap));
	if (!remap)
		return; /* its entries stay: only memory */
	for (size_t i = 0; i < u->cnt; i++) {
		if (u->entries[i].tgid == tgid) {
			stack__put(u->entries[i].stack);
			remap[i] = ENTRY_GONE;
			continue;
		}
		remap[i] = n;
		u->entries[n++] = u->entries[i];
	}
	u->cnt = n;
	htab__filter(&u->by_stack, entry_remap, remap);
	htab__filter(&u->tokens, entry_remap, remap);
	free(remap);
}

void unwinder__stats(const struct unwinder *u, struct unwind_stats *out)
{
	*out = u->stats;
}
