/* SPDX-License-Identifier: MIT */
/* The allocator entry points allocscope probes (the C library's malloc family, jemalloc's *allocx,
 * tcmalloc, every operator new and delete, mimalloc's mi_*), with what the BPF program reads at
 * each, and the names of the allocation kinds. */
#ifndef ALLOCSCOPE_ALLOC_FUNCS_H
#define ALLOCSCOPE_ALLOC_FUNCS_H

#include <stddef.h>

#include "bpf/alloc.h"

struct alloc_func {
	const char *name;
	enum alloc_kind kind;
	__u32 keep; /* registers the BPF program reads at the probe */
	int has_return;
	/* Probed only in an object that defines malloc too (an allocator that replaces operator
	 * new and delete): libstdc++'s own call malloc and free, which are probed already. */
	int allocator_only;
};

/* In probing order: a function known by several names is probed as the first of them. */
extern const struct alloc_func alloc_funcs[];
extern const size_t alloc_funcs_cnt;
/* An upper bound on alloc_funcs_cnt, for arrays sized by it (checked in alloc_funcs.c). */
#define ALLOC_FUNCS_CNT 80

#endif
