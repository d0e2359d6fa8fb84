/* SPDX-License-Identifier: MIT */
/* Where the malloc family's probes go in one file (symbols looked up, instructions decoded),
 * computed once per file identity (device, inode, size, mtime) and kept in a bounded cache, the
 * least recently used out first; a file rewritten on disk has another identity. Thread-safe. */
#ifndef ALLOCSCOPE_PLAN_CACHE_H
#define ALLOCSCOPE_PLAN_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>
#include <linux/types.h>

#include "probe/alloc_funcs.h"

/* The sites of one program in one object: one uprobe_multi link, or a perf event each. */
struct site_list {
	unsigned long offsets[ALLOC_FUNCS_CNT];
	__u64 cookies[ALLOC_FUNCS_CNT];
	const char *names[ALLOC_FUNCS_CNT]; /* static strings (alloc_funcs), for warnings */
	__u32 cnt;
};

/* One file's plan: its entry, return and free sites; probed 0 when it holds no allocator. */
struct file_plan {
	struct site_list enter;
	struct site_list ret;
	struct site_list frees;
	int probed;
};

struct plan_key {
	__u64 dev;
	__u64 ino;
	__u64 size;
	__s64 mtime_sec;
	__s64 mtime_nsec;
};

void site_list__add(struct site_list *l, __u64 offset, __u64 cookie, const char *name);

struct symbolizer;
/* The plan of the file open as fd (path names it, st is its fstat, pid the process it is for):
 * the symbolizer's lookups, with sym_lock held when given (NULL: the caller holds what guards
 * sym). 0 or -errno (-ESTALE: the symbolizer's object is another file; -ESRCH: pid exited). */
int file_plan__compute(struct symbolizer *sym, pthread_mutex_t *sym_lock, int pid, int fd,
		       const char *path, const struct stat *st, struct file_plan *plan);

void plan_key__from_stat(const struct stat *st, struct plan_key *k);

struct plan_cache;

/* NULL and errno set on failure. */
struct plan_cache *plan_cache__new(size_t max_entries);
void plan_cache__free(struct plan_cache *c); /* accepts NULL */
/* 1 and a copy of k's plan in out, or 0 when none is cached. */
int plan_cache__get(struct plan_cache *c, const struct plan_key *k, struct file_plan *out);
/* Remember k's plan, forgetting the least recently used one when full. */
void plan_cache__put(struct plan_cache *c, const struct plan_key *k, const struct file_plan *p);
size_t plan_cache__count(struct plan_cache *c);
void plan_cache__stats(struct plan_cache *c, __u64 *hits, __u64 *misses, __u64 *evictions);

#endif
