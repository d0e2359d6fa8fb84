// SPDX-License-Identifier: MIT
/* The table of probed allocator entry points and the names of the allocation kinds: what an
 * object must define to be probed, and what each probe site keeps alive for the BPF side. */
#include "probe/alloc_funcs.h"
#include "probe/alloc_probes.h"
#include "probe/probe_place.h"
#include "util/common.h"

#define KEEP_SIZE   (PROBE_KEEP_ARG1 | PROBE_KEEP_SP)
#define KEEP_2	    (PROBE_KEEP_ARG1 | PROBE_KEEP_ARG2 | PROBE_KEEP_SP)
#define KEEP_3	    (PROBE_KEEP_ARG1 | PROBE_KEEP_ARG2 | PROBE_KEEP_ARG3 | PROBE_KEEP_SP)
#define MALLOC_LIKE ALLOC_KIND_MALLOC, KEEP_SIZE, 1
#define NEW_LIKE    ALLOC_KIND_NEW, KEEP_SIZE, 1, 1
#define DELETE_LIKE ALLOC_KIND_FREE, PROBE_KEEP_ARG1, 0, 1
#define MI_MALLOC   ALLOC_KIND_MI_MALLOC, KEEP_SIZE, 1
#define MI_CALLOC   ALLOC_KIND_MI_CALLOC, KEEP_2, 1
#define MI_REALLOC  ALLOC_KIND_MI_REALLOC, KEEP_2, 1
#define MI_REALLOCN ALLOC_KIND_MI_REALLOCN, KEEP_3, 1
#define FREE_LIKE   ALLOC_KIND_FREE, PROBE_KEEP_ARG1, 0

/*
 * Aliases (one function under several names: glibc's aligned_alloc and memalign, tcmalloc's
 * tc_* and operator new/delete, mimalloc's malloc and mi_malloc) are probed once, as the first
 * name at their address in this table: the standard C names come first.
 */
const struct alloc_func alloc_funcs[] = {
    {"malloc", MALLOC_LIKE},
    {"calloc", ALLOC_KIND_CALLOC, KEEP_2, 1},
    {"realloc", ALLOC_KIND_REALLOC, KEEP_2, 1},
    {"reallocarray", ALLOC_KIND_REALLOCARRAY, KEEP_3, 1},
    {"posix_memalign", ALLOC_KIND_POSIX_MEMALIGN, PROBE_KEEP_ARG1 | PROBE_KEEP_ARG3 | PROBE_KEEP_SP,
     1},
    {"aligned_alloc", ALLOC_KIND_ALIGNED_ALLOC, PROBE_KEEP_ARG2 | PROBE_KEEP_SP, 1},
    {"memalign", ALLOC_KIND_MEMALIGN, PROBE_KEEP_ARG2 | PROBE_KEEP_SP, 1},
    {"valloc", ALLOC_KIND_VALLOC, KEEP_SIZE, 1},
    {"pvalloc", ALLOC_KIND_PVALLOC, KEEP_SIZE, 1},
    {"free", FREE_LIKE},
    {"cfree", FREE_LIKE},
    {"reallocf", ALLOC_KIND_REALLOCF, KEEP_2, 1},
    /* jemalloc's non-standard API (redis-server calls it). */
    {"mallocx", ALLOC_KIND_MALLOCX, KEEP_SIZE, 1},
    {"rallocx", ALLOC_KIND_RALLOCX, KEEP_2, 1},
    {"xallocx", ALLOC_KIND_XALLOCX, KEEP_2, 1},
    {"dallocx", FREE_LIKE},
    {"sdallocx", FREE_LIKE},
    /* tcmalloc: the rest of its tc_* API are aliases of the names here. */
    {"tc_malloc_skip_new_handler", MALLOC_LIKE},
    /* operator new, new[] and delete, delete[]: plain, nothrow, aligned, sized. */
    {"_Znwm", NEW_LIKE},
    {"_Znam", NEW_LIKE},
    {"_ZnwmRKSt9nothrow_t", NEW_LIKE},
    {"_ZnamRKSt9nothrow_t", NEW_LIKE},
    {"_ZnwmSt11align_val_t", NEW_LIKE},
    {"_ZnamSt11align_val_t", NEW_LIKE},
    {"_ZnwmSt11align_val_tRKSt9nothrow_t", NEW_LIKE},
    {"_ZnamSt11align_val_tRKSt9nothrow_t", NEW_LIKE},
    {"_ZdlPv", DELETE_LIKE},
    {"_ZdaPv", DELETE_LIKE},
    {"_ZdlPvm", DELETE_LIKE},
    {"_ZdaPvm", DELETE_LIKE},
    {"_ZdlPvRKSt9nothrow_t", DELETE_LIKE},
    {"_ZdaPvRKSt9nothrow_t", DELETE_LIKE},
    {"_ZdlPvSt11align_val_t", DELETE_LIKE},
    {"_ZdaPvSt11align_val_t", DELETE_LIKE},
    {"_ZdlPvmSt11align_val_t", DELETE_LIKE},
    {"_ZdaPvmSt11align_val_t", DELETE_LIKE},
    {"_ZdlPvSt11align_val_tRKSt9nothrow_t", DELETE_LIKE},
    {"_ZdaPvSt11align_val_tRKSt9nothrow_t", DELETE_LIKE},
    /* mimalloc's own API (the C names are aliases of mi_malloc, mi_free...). */
    {"mi_malloc", MI_MALLOC},
    {"mi_malloc_small", MI_MALLOC},
    {"mi_zalloc", MI_MALLOC},
    {"mi_zalloc_small", MI_MALLOC},
    {"mi_malloc_aligned", MI_MALLOC},
    {"mi_zalloc_aligned", MI_MALLOC},
    {"mi_new", MI_MALLOC},
    {"mi_new_nothrow", MI_MALLOC},
    {"mi_new_aligned", MI_MALLOC},
    {"mi_new_aligned_nothrow", MI_MALLOC},
    {"mi_calloc", MI_CALLOC},
    {"mi_mallocn", MI_CALLOC},
    {"mi_calloc_aligned", MI_CALLOC},
    {"mi_new_n", MI_CALLOC},
    {"mi_realloc", MI_REALLOC},
    {"mi_realloc_aligned", MI_REALLOC},
    {"mi_new_realloc", MI_REALLOC},
    {"mi_reallocf", ALLOC_KIND_REALLOCF, KEEP_2, 1},
    {"mi_reallocn", MI_REALLOCN},
    {"mi_reallocarray", MI_REALLOCN},
    {"mi_new_reallocn", MI_REALLOCN},
    {"mi_free", FREE_LIKE},
    {"mi_free_size", FREE_LIKE},
    {"mi_free_aligned", FREE_LIKE},
    {"mi_free_size_aligned", FREE_LIKE},
};

static const char *const kind_names[ALLOC_KIND_MAX] = {
    [ALLOC_KIND_MALLOC] = "malloc",
    [ALLOC_KIND_CALLOC] = "calloc",
    [ALLOC_KIND_REALLOC] = "realloc",
    [ALLOC_KIND_REALLOCARRAY] = "reallocarray",
    [ALLOC_KIND_POSIX_MEMALIGN] = "posix_memalign",
    [ALLOC_KIND_ALIGNED_ALLOC] = "aligned_alloc",
    [ALLOC_KIND_MEMALIGN] = "memalign",
    [ALLOC_KIND_VALLOC] = "valloc",
    [ALLOC_KIND_PVALLOC] = "pvalloc",
    [ALLOC_KIND_FREE] = "free",
    [ALLOC_KIND_MMAP] = "mmap",
    [ALLOC_KIND_MALLOCX] = "mallocx",
    [ALLOC_KIND_RALLOCX] = "rallocx",
    [ALLOC_KIND_XALLOCX] = "xallocx",
    [ALLOC_KIND_NEW] = "operator new",
    [ALLOC_KIND_REALLOCF] = "reallocf",
    [ALLOC_KIND_MI_MALLOC] = "mi_malloc",
    [ALLOC_KIND_MI_CALLOC] = "mi_calloc",
    [ALLOC_KIND_MI_REALLOC] = "mi_realloc",
    [ALLOC_KIND_MI_REALLOCN] = "mi_reallocn",
    [ALLOC_KIND_MREMAP] = "mremap",
};

const size_t alloc_funcs_cnt = ARRAY_SIZE(alloc_funcs);
_Static_assert(ARRAY_SIZE(alloc_funcs) <= ALLOC_FUNCS_CNT, "ALLOC_FUNCS_CNT is too small");

const char *alloc_kind__name(__u32 kind)
{
	return kind < ALLOC_KIND_MAX && kind_names[kind] ? kind_names[kind] : "unknown";
}
