/* SPDX-License-Identifier: MIT */
/* Draining the BPF maps into plain user-space entries: (key, stats, stack) with stacks copied
 * out of the kernel's stack map and shared by reference count, so profiles can be built from
 * history after the kernel's entries are gone. */
#ifndef ALLOCSCOPE_COLLECT_H
#define ALLOCSCOPE_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "bpf/alloc.h"
#include "probe/alloc_probes.h"
#include "probe/stack.h"

struct alloc_entry {
	struct alloc_key key;
	struct alloc_stats stats;
	struct stack *stack; /* a reference, or NULL when the stack was lost */
};

struct entry_set {
	struct alloc_entry *e;
	size_t cnt;
	size_t cap;
};

/* Copies of the kernel's stacks by stack id. An id is only reused by the kernel after we delete
 * it (collect__gc_stacks), which drops it here too. */
struct stack_cache;

struct stack_cache *stack_cache__new(void);
void stack_cache__free(struct stack_cache *c);
size_t stack_cache__size(const struct stack_cache *c);

/*
 * Read every stats entry of the processes for which want(ctx, tgid) is true (want NULL: all)
 * into per-process sets: sets_for(ctx, tgid) returns the set to append to, or NULL to skip.
 * 0 or -errno.
 */
int collect__read(struct alloc_probes *ap, struct stack_cache *cache,
		  struct entry_set *(*set_for)(void *ctx, __u32 tgid), void *ctx);

/* Forget a process in the kernel: its stats, live blocks, totals and target flags. */
void collect__forget_pid(struct alloc_probes *ap, __u32 tgid);

/* Delete kernel stacks no stats entry refers to any more (after processes were forgotten), so
 * the stack map does not fill with the dead. Returns how many were deleted. */
int collect__gc_stacks(struct alloc_probes *ap, struct stack_cache *cache);

int entry_set__add(struct entry_set *s, const struct alloc_entry *e); /* takes a stack ref */
void entry_set__clear(struct entry_set *s);
/* Whether s holds entries of a first cycled period (alloc_key.duty DUTY_PENDING): only then is
 * the share they weigh worth looking up. */
bool entry_set__has_pending(const struct entry_set *s);
/* Give one process's entries of its first cycled period the key of the share of calls it saw
 * (overhead__pending_key), or leave them out while key is 0. */
void entry_set__resolve_pending(struct entry_set *s, __u16 key);

/*
 * Entries kept for a long time (the daemon's history) in a compact form: varints, the key and
 * the stack's address relative to the entry before, fields that are zero left out: about 12
 * bytes for a drain's entry against struct alloc_entry's 88. Holds a reference to each entry's
 * stack.
 */
struct packed_set {
	__u8 *buf;
	size_t len;
	size_t cap;
	size_t cnt;
	struct alloc_key last;	  /* the key the next entry is packed relative to */
	struct stack *last_stack; /* and the stack */
};

/* Pack one more entry (p zeroed to start); 0 or -ENOMEM (p unchanged). */
int packed_set__append(struct packed_set *p, const struct alloc_entry *e);
/* Give the buffer's unused end back to the allocator once nothing more is appended. */
void packed_set__shrink(struct packed_set *p);
/* Pack every entry of s into p (empty before); 0 or -ENOMEM (p left empty). */
int packed_set__pack(struct packed_set *p, const struct entry_set *s);
/* Append p's entries to out, in the order they were packed; 0 or -ENOMEM. */
int packed_set__unpack(const struct packed_set *p, struct entry_set *out);
void packed_set__clear(struct packed_set *p);

/* Reading a packed set entry by entry, in packing order, without unpacking it. */
struct packed_iter {
	const struct packed_set *p;
	__u64 pos;
	size_t i;
	struct alloc_entry cur; /* valid after packed_iter__next returned true; no reference */
};

void packed_iter__init(struct packed_iter *it, const struct packed_set *p);
/* The next entry into it->cur; false past the end. */
bool packed_iter__next(struct packed_iter *it);

#endif
