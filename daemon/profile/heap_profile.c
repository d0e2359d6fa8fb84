// SPDX-License-Identifier: MIT
/* Reads the stats and stack maps of bpf/alloc.bpf.c for the given processes and builds a pprof
 * heap profile: one sample per (process, stack, allocator), its leaf the code that called the
 * allocator (or its wrappers) and the allocator in a label, values unsampled as runtime/pprof
 * does. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/htab.h"
#include "profile/heap_profile.h"
#include "profile/site.h"
#include "profile/wrappers.h"
#include "util/log.h"
#include "symbols/goruntime.h"
#include "probe/sampling.h"

#define MAX_INLINE_FRAMES 16

static const struct pprof_value_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

/* Cache from (pid, address) to a pprof location id: the table indexes locs. */
struct loc_cached {
	__u64 addr; /* address, pid in the top bits would collide: kept as a pair */
	__u32 pid;
	__u32 pad;
	__u64 id;
};

struct loc_cache {
	struct htab h;
	struct loc_cached *locs;
	size_t cnt;
	size_t cap;
};

struct builder_ctx {
	struct pprof_builder *pb;
	struct symbolizer *sym;
	struct loc_cache locs;
	/* pprof mapping ids by snapshot entry (its address: htab__hash_u64 of it is the key): a
	 * snapshot entry is one pprof mapping */
	struct htab mids;
	__u64 kind_locs[ALLOC_KIND_MAX];
	__u64 lost_loc;
	__u64 truncated_loc;
	struct heap_profile_summary *sum;
	/* Per location id: what Go's frame hiding, the cause label and the allocator's frames
	 * need. */
	struct loc_info *info;
	size_t info_cap;
	const struct wrappers *wrappers;
};

struct loc_info {
	const char *cause; /* the cause its functions name, or NULL */
	int is_runtime;	   /* its (outermost) function is the Go runtime's */
	int is_sampler;	   /* ... and the allocator's or the heap sampler's own */
	/* Every function of it (inlined ones too) is a C allocator entry point or a wrapper: its
	 * outermost one, as the allocator label names it (owned); NULL otherwise. */
	char *allocator;
};

static __u64 hash_pair(__u64 addr, __u32 pid)
{
	return htab__hash_u64(addr ^ ((__u64)pid << 47));
}

static bool loc_cached_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const struct loc_cached *c = &((const struct loc_cache *)ctx)->locs[idx], *k = key;

	return c->addr == k->addr && c->pid == k->pid;
}

/* The location id cached for (addr, pid), or 0. */
static __u64 loc_cache_find(const struct loc_cache *c, __u64 addr, __u32 pid)
{
	struct loc_cached key = {.addr = addr, .pid = pid};
	uintptr_t idx;

	if (!htab__find(&c->h, hash_pair(addr, pid), loc_cached_eq, c, &key, &idx))
		return 0;
	return c->locs[idx].id;
}

static int loc_cache_add(struct loc_cache *c, __u64 addr, __u32 pid, __u64 id)
{
	struct loc_cached key = {.addr = addr, .pid = pid, .id = id};
	int err;

	if (c->cnt == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct loc_cached *n = reallocarray(c->locs, cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->locs = n;
		c->cap = cap;
	}
	err = htab__set(&c->h, hash_pair(addr, pid), loc_cached_eq, c, &key, c->cnt);
	if (err)
		return err;
	c->locs[c->cnt++] = key;
	return 0;
}

static void loc_cache_free(struct loc_cache *c)
{
	htab__free(&c->h);
	free(c->locs);
}

static long mapping_id(struct builder_ctx *bc, const struct target *t, const struct proc_mapping *m)
{
	struct pprof_mapping_desc d = {};
	char path[4096], build_id[128] = "";
	long id;

	__u64 h = htab__hash_u64((uintptr_t)m);
	uintptr_t val;
	int err;

	if (htab__find(&bc->mids, h, NULL, NULL, NULL, &val))
		return (long)val;
	err = htab__reserve(&bc->mids, 1);
	if (err)
		return err;
	d.memory_start = m->start;
	d.memory_limit = m->end;
	d.file_offset = m->offset;
	d.filename = m->path;
	if (proc_mapping__is_file(m)) {
		target__file_path(t, m->path, path, sizeof(path));
		if (symbolizer__build_id(bc->sym, path, build_id, sizeof(build_id)) == 0) {
			d.build_id = build_id;
			d.has_functions = 1;
			d.has_filenames = d.has_line_numbers = d.has_inline_frames =
			    symbolizer__has_lines(bc->sym, path) > 0;
		}
	}
	id = pprof__add_mapping(bc->pb, &d);
	if (id < 0)
		return id;
	htab__set(&bc->mids, h, NULL, NULL, NULL, id); /* cannot fail: reserved */
	return id;
}

static int is_go_runtime(const char *func)
{
	return func && (!strncmp(func, "runtime.", 8) || !strncmp(func, "internal/runtime/", 17));
}

/* The allocator and sampler themselves, never shown: runtime/pprof starts its stacks above them. */
static int is_go_sampler(const char *func)
{
	return func &&
	       (!strcmp(func, "runtime.mProf_Malloc") || !strcmp(func, "runtime.profilealloc") ||
		!strncmp(func, "runtime.mallocgc", 16));
}

/* A frame of the allocator's own (strdup, libstdc++'s operator new, glibc's aliases) or of a
 * wrapper of it, by its name or its symbol's. */
static int is_allocator_frame(const struct builder_ctx *bc, const struct sym_frame *f)
{
	const char *names[2] = {f->function, f->system_name};

	for (int i = 0; i < 2; i++)
		if (names[i] && (site_is_c_allocator_frame(names[i]) ||
				 wrappers__match(bc->wrappers, names[i])))
			return 1;
	return 0;
}

static int set_loc_info(struct builder_ctx *bc, long id, const struct sym_frame *frames, int n)
{
	struct loc_info *li;

	if ((size_t)id >= bc->info_cap) {
		size_t cap = max_t(size_t, bc->info_cap * 2, (size_t)id + 1024);

		li = realloc(bc->info, cap * sizeof(*li));
		if (!li)
			return -ENOMEM;
		memset(li + bc->info_cap, 0, (cap - bc->info_cap) * sizeof(*li));
		bc->info = li;
		bc->info_cap = cap;
	}
	li = &bc->info[id];
	free(li->allocator);
	li->allocator = NULL;
	if (n > 0) {
		char name[128];
		int i;

		for (i = 0; i < n && is_allocator_frame(bc, &frames[i]); i++)
			;
		if (i == n) {
			wrappers__short_name(frames[n - 1].function ?: frames[n - 1].system_name,
					     name, sizeof(name));
			li->allocator = strdup(name);
			if (!li->allocator)
				return -ENOMEM;
		}
	}
	li->is_runtime = n > 0 && is_go_runtime(frames[n - 1].function);
	li->is_sampler = n > 0 && is_go_sampler(frames[n - 1].function);
	/* The outermost runtime function is the one user code called. */
	for (int i = n - 1; i >= 0 && !li->cause; i--)
		if (frames[i].function)
			li->cause = goruntime__cause(frames[i].function);
	return 0;
}

static const struct loc_info *loc_info(const struct builder_ctx *bc, __u64 id)
{
	static const struct loc_info none;

	return id < bc->info_cap ? &bc->info[id] : &none;
}

/* Whether an allocator frame is the entry point kind names under another name: glibc's
 * "__libc_malloc", "mmap64" for mmap. Then the label need not name it. */
static int same_allocator(const char *frame, const char *kind)
{
	size_t len = strlen(kind);

	if (!strncmp(frame, "__GI_", 5))
		frame += 5;
	if (!strncmp(frame, "__libc_", 7))
		frame += 7;
	else if (!strncmp(frame, "__", 2))
		frame += 2;
	return !strncmp(frame, kind, len) && (!frame[len] || !strcmp(frame + len, "64"));
}

/*
 * As runtime/pprof does for heap profiles: the Go runtime's frames above the first frame of
 * user code are hidden (unless the stack has no user code at all). The allocation's cause is
 * named by the runtime function that user code called. Returns the index of the first frame
 * kept.
 */
static size_t go_trim(const struct builder_ctx *bc, const __u64 *locs, size_t nloc,
		      const char **cause)
{
	size_t u;

	*cause = "other";
	for (u = 0; u < nloc && loc_info(bc, locs[u])->is_runtime; u++)
		;
	if (u == nloc) {
		/* The runtime allocating for itself: show all but the sampler's frames. */
		for (u = 0; u + 1 < nloc && loc_info(bc, locs[u])->is_sampler; u++)
			;
		return u;
	}
	for (size_t j = u; j > 0; j--) {
		if (loc_info(bc, locs[j - 1])->cause) {
			*cause = loc_info(bc, locs[j - 1])->cause;
			break;
		}
	}
	return u;
}

/*
 * As Go's, jemalloc's and tcmalloc's heap profiles do: the leaf of a C stack is the code that
 * called the allocator. locs[0] is the synthetic frame of the allocator's kind; the locations
 * after it that are the allocator's own or its wrappers' go too, and the label names the
 * allocator: "malloc", or "zmalloc->malloc" when the program called a wrapper (the outermost
 * one). A stack of nothing but allocator frames keeps them all, under the synthetic leaf.
 * Returns the index of the first location kept.
 */
static size_t c_trim(const struct builder_ctx *bc, const __u64 *locs, size_t nloc, __u32 kind,
		     char *label, size_t len)
{
	const char *name = alloc_kind__name(kind), *via = NULL;
	size_t u;

	for (u = 1; u < nloc && loc_info(bc, locs[u])->allocator; u++)
		via = loc_info(bc, locs[u])->allocator;
	snprintf(label, len, "%s", name);
	if (via && !same_allocator(via, name))
		snprintf(label, len, "%s->%s", via, name);
	return u < nloc ? u : 0;
}

/* A location for a frame address of process t (a return address: looked up at addr - 1). */
static long frame_location(struct builder_ctx *bc, const struct target *t, __u64 addr)
{
	struct sym_frame frames[MAX_INLINE_FRAMES];
	struct pprof_line lines[MAX_INLINE_FRAMES];
	const struct proc_mapping *m;
	long mid = 0, id;
	int n = 0, err;

	id = loc_cache_find(&bc->locs, addr, t->pid);
	if (id)
		return id;

	m = target__find_mapping(t, addr);
	if (!m) {
		bc->sum->unknown_frames++;
	} else {
		mid = mapping_id(bc, t, m);
		if (mid < 0)
			return mid;
		if (proc_mapping__is_file(m)) {
			char path[4096];

			target__file_path(t, m->path, path, sizeof(path));
			n = symbolizer__resolve(bc->sym, path, m, addr - 1, frames,
						MAX_INLINE_FRAMES);
			if (n < 0)
				n = 0;
		}
	}
	for (int i = 0; i < n; i++) {
		lines[i] = (struct pprof_line){
		    .function = frames[i].function,
		    .system_name = frames[i].system_name,
		    .filename = frames[i].file,
		    .line = frames[i].line,
		};
	}
	id = pprof__add_location(bc->pb, mid, addr, lines, n);
	if (id < 0)
		return id;
	err = set_loc_info(bc, id, frames, n);
	if (err)
		return err;
	err = loc_cache_add(&bc->locs, addr, t->pid, id);
	if (err)
		return err;
	return id;
}

/* The allocator as the leaf frame, so `pprof -top` tells malloc from calloc and mmap. */
static long named_location(struct builder_ctx *bc, __u64 *cache, const char *name)
{
	struct pprof_line line = {.function = name};
	long id;

	if (*cache)
		return *cache;
	id = pprof__add_location(bc->pb, 0, 0, &line, 1);
	if (id > 0)
		*cache = id;
	return id;
}

/*
 * A syscall's stack starts in libc's wrapper, which keeps no frame: the walk goes from it to the
 * caller's caller. The word at the stack pointer is the caller's return address when the wrapper
 * pushed nothing; keep it when it points into code and is not already the next frame.
 */
static int caller_hint_valid(const struct target *t, __u64 hint, const __u64 *ips)
{
	const struct proc_mapping *m;

	if (!hint || hint == ips[1])
		return 0;
	m = target__find_mapping(t, hint);
	return m && (m->perms & PMAP_PERM_EXEC);
}

static int is_go_kind(__u32 kind)
{
	return kind == ALLOC_KIND_GO || kind == ALLOC_KIND_GO_MALLOCGC;
}

static int add_entry(struct builder_ctx *bc, const struct profile_source *src,
		     const struct heap_profile_opts *opts, const struct alloc_entry *e)
{
	const struct alloc_key *key = &e->key;
	const struct alloc_stats *v = &e->stats;
	struct target *t = src->target;
	__u64 ips[ALLOC_MAX_STACK_DEPTH + 1] = {}, locs[ALLOC_MAX_STACK_DEPTH + 3];
	struct pprof_label labels[3 + HEAP_PROFILE_MAX_LABELS] = {{.key = "pid", .num = t->pid}};
	__u64 live_cnt, live_bytes, rate = opts->native_rate;
	const char *cause = NULL;
	char allocator[192];
	size_t nloc = 0, first = 0, nlabels = 1;
	__s64 values[4];
	long id;

	live_cnt = v->alloc_cnt - v->free_cnt - v->untracked_cnt;
	live_bytes = v->alloc_bytes - v->free_bytes - v->untracked_bytes;
	/* Clamp: the counters are read while the BPF side updates them. */
	if (!opts->delta && ((__s64)live_cnt < 0 || (__s64)live_bytes < 0))
		live_cnt = live_bytes = 0;
	if (!v->alloc_cnt && !(opts->delta && live_cnt))
		return 0;
	if (key->kind == ALLOC_KIND_GO)
		rate = opts->go_rate;
	if (key->kind == ALLOC_KIND_USDT) {
		/* Weighted samples: their bytes are estimates already, a shrinking delta's too. */
		sampling__weighted(v->alloc_cnt, v->alloc_bytes, key->size, &values[0], &values[1]);
		values[3] = (__s64)live_bytes;
		values[2] = key->size ? llround((double)values[3] / key->size) : (__s64)live_cnt;
	} else if ((__s64)live_cnt < 0 || (__s64)live_bytes < 0) {
		sampling__scale(v->alloc_cnt, v->alloc_bytes, rate, &values[0], &values[1]);
		/* A delta profile's in-use may shrink: scale the magnitude, keep the sign. */
		sampling__scale(-(__s64)live_cnt, -(__s64)live_bytes, rate, &values[2], &values[3]);
		values[2] = -values[2];
		values[3] = -values[3];
	} else {
		sampling__scale(v->alloc_cnt, v->alloc_bytes, rate, &values[0], &values[1]);
		sampling__scale(live_cnt, live_bytes, rate, &values[2], &values[3]);
	}
	sampling__scale_duty(key->duty, &values[0], &values[1]);
	sampling__scale_duty(key->duty, &values[2], &values[3]);

	/* A C stack's leaf is the code that called the allocator (below); it keeps a synthetic leaf
	 * naming the allocator only when it has nothing else. Go's look like runtime/pprof's. */
	if (!is_go_kind(key->kind)) {
		id = named_location(bc, &bc->kind_locs[key->kind < ALLOC_KIND_MAX ? key->kind : 0],
				    alloc_kind__name(key->kind));
		if (id < 0)
			return id;
		locs[nloc++] = id;
	}

	bc->sum->raw_allocs += v->alloc_cnt;
	if (e->stack)
		stack__ips(e->stack, ips);
	if (!e->stack) {
		bc->sum->lost_stacks += v->alloc_cnt;
		id = named_location(bc, &bc->lost_loc, "[stack lost]");
		if (id < 0)
			return id;
		locs[nloc++] = id;
	} else {
		for (int i = 0; i < ALLOC_MAX_STACK_DEPTH && ips[i]; i++) {
			if (ips[i] == STACK_IP_TRUNCATED) {
				bc->sum->truncated_stacks += v->alloc_cnt;
				id = named_location(bc, &bc->truncated_loc, "[truncated]");
				if (id < 0)
					return id;
				locs[nloc++] = id;
				break;
			}
			/* An address in no mapping is no code: the frame-pointer walk went astray
			 * in code without frame pointers, and what follows is garbage too. */
			if (!target__find_mapping(t, ips[i])) {
				bc->sum->unknown_frames++;
				break;
			}
			id = frame_location(bc, t, ips[i]);
			if (id < 0)
				return id;
			locs[nloc++] = id;
			if (i == 0 && caller_hint_valid(t, key->caller_hint, ips)) {
				id = frame_location(bc, t, key->caller_hint);
				if (id < 0)
					return id;
				locs[nloc++] = id;
			}
		}
	}
	if (is_go_kind(key->kind)) {
		first = go_trim(bc, locs, nloc, &cause);
		labels[nlabels++] = (struct pprof_label){.key = "cause", .str = cause};
	} else if (!opts->keep_allocator_frames) {
		first = c_trim(bc, locs, nloc, key->kind, allocator, sizeof(allocator));
		labels[nlabels++] = (struct pprof_label){.key = "allocator", .str = allocator};
	}
	/* As runtime/pprof labels each sample with its object size. */
	for (size_t i = 0; i < src->label_cnt && i < HEAP_PROFILE_MAX_LABELS; i++)
		labels[nlabels++] = src->labels[i];
	if (key->size)
		labels[nlabels++] =
		    (struct pprof_label){.key = "bytes", .num = key->size, .num_unit = "bytes"};
	bc->sum->samples++;
	return pprof__add_sample(bc->pb, locs + first, nloc - first, values, labels, nlabels);
}

void heap_profile__estimate(const struct alloc_entry *entries, size_t cnt, __u64 native_rate,
			    __u64 go_rate, struct heap_estimate *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < cnt; i++) {
		const struct alloc_stats *v = &entries[i].stats;
		__u64 rate =
		    entries[i].key.kind == ALLOC_KIND_GO && go_rate ? go_rate : native_rate;
		__u64 live_cnt = v->alloc_cnt - v->free_cnt - v->untracked_cnt;
		__u64 live_bytes = v->alloc_bytes - v->free_bytes - v->untracked_bytes;
		__s64 c, b;

		void (*scale)(__u64, __u64, __u64, __s64 *, __s64 *) = sampling__scale;

		if (entries[i].key.kind == ALLOC_KIND_USDT) {
			/* Weighted samples: the key's object size in place of a rate. */
			scale = sampling__weighted;
			rate = entries[i].key.size;
		}
		scale(v->alloc_cnt, v->alloc_bytes, rate, &c, &b);
		sampling__scale_duty(entries[i].key.duty, &c, &b);
		out->alloc_cnt += c;
		out->alloc_bytes += b;
		scale(v->free_cnt, v->free_bytes, rate, &c, &b);
		sampling__scale_duty(entries[i].key.duty, &c, &b);
		out->free_cnt += c;
		out->free_bytes += b;
		/* Read while the BPF side updates them: a negative in-use is none. */
		if ((__s64)live_cnt <= 0 || (__s64)live_bytes <= 0)
			continue;
		scale(live_cnt, live_bytes, rate, &c, &b);
		sampling__scale_duty(entries[i].key.duty, &c, &b);
		out->inuse_cnt += c;
		out->inuse_bytes += b;
	}
}

static void add_comments(struct builder_ctx *bc, const struct heap_profile_opts *o)
{
	static const char *const what[ALLOC_CNT_MAX] = {
	    [ALLOC_CNT_STACK_LOST] = "sampled allocations without a stack (stack map full)",
	    [ALLOC_CNT_STACK_UNREADABLE] = "sampled allocations without a stack (the kernel could "
					   "not take it)",
	    [ALLOC_CNT_STATS_FULL] = "sampled allocations dropped (stats map full)",
	    [ALLOC_CNT_LIVE_FULL] = "allocations not tracked to their free (live map full)",
	    [ALLOC_CNT_TASK_FULL] = "allocator calls not seen (no per-thread state)",
	    [ALLOC_CNT_NEST_RESET] = "allocator calls that never returned",
	    [ALLOC_CNT_MUNMAP_PARTIAL] = "partial munmaps of a tracked mapping (left in use)",
	    [ALLOC_CNT_GC_EVENTS_LOST] = "GC events lost (ring buffer full)",
	    [ALLOC_CNT_UNWIND_LOST] = "CFI samples kept with the frame-pointer stack (unwind ring "
				      "buffer full)",
	    [ALLOC_CNT_UNWIND_FREE_LOST] = "frees of CFI samples lost (unwind ring buffer and its "
					   "backlog map full)",
	    [ALLOC_CNT_LIVE_OVERWRITE] = "sampled blocks whose free was not seen, retired when a "
					 "new block took their address",
	    [ALLOC_CNT_STACK_REPAIRED] = "stacks stored again after a garbage collection raced a "
					 "sample",
	    [ALLOC_CNT_FREE_UNSEEN] = "frees of an address never seen allocated (allocated before "
				      "the probes were attached, or by an entry point not probed)",
	    [ALLOC_CNT_MMAP_PROT_NONE] = "PROT_NONE mappings (address space only) not counted",
	    [ALLOC_CNT_MMAP_INDEX_FULL] = "tracked mappings only a munmap at their start ends "
					  "(range index full)",
	    [ALLOC_CNT_MUNMAP_SCAN_CUT] = "munmaps of over 32 GiB: tracked mappings past that left "
					  "in use",
	    [ALLOC_CNT_UNWIND_NO_VMA] = "CFI samples whose stack mapping was not found (its lock "
					"taken): copied up to the stack's start",
	    [ALLOC_CNT_UNWIND_SHORT_COPY] = "CFI samples whose stack copy stops at a page that "
					    "could not be read",
	};
	char buf[256];

	if (o->has_native) {
		snprintf(buf, sizeof(buf),
			 "allocscope: malloc family sampled every %llu bytes%s%s%s",
			 (unsigned long long)o->native_rate,
			 o->native_rate <= 1 ? " (every allocation)" : " on average",
			 o->native_scheme ? ", on " : "", o->native_scheme ?: "");
		pprof__add_comment(bc->pb, buf);
	}
	if (o->has_usdt)
		pprof__add_comment(
		    bc->pb, "allocscope: allocations are the process's own samples, from its "
			    "otel_memory USDT probes (only sampled allocations trap): bytes are "
			    "the weights the probes carry, objects weight / size");
	if (o->has_go) {
		snprintf(
		    buf, sizeof(buf),
		    "allocscope: Go allocations are the runtime's own samples at MemProfileRate "
		    "%llu",
		    (unsigned long long)o->go_rate);
		pprof__add_comment(bc->pb, buf);
	}
	if (o->go_rate_written) {
		snprintf(buf, sizeof(buf),
			 "allocscope: runtime.MemProfileRate was 0 (the program does not link "
			 "runtime.MemProfile); --go-set-rate wrote %llu into it",
			 (unsigned long long)o->go_rate_written);
		pprof__add_comment(bc->pb, buf);
	}
	if (o->has_go_every_call) {
		snprintf(buf, sizeof(buf),
			 "allocscope: Go allocations sampled on every runtime.mallocgc call, every "
			 "%llu bytes on average; no in-use figures",
			 (unsigned long long)o->native_rate);
		pprof__add_comment(bc->pb, buf);
	}
	for (size_t i = 0; i < o->comment_cnt; i++)
		if (o->comments[i][0])
			pprof__add_comment(bc->pb, o->comments[i]);
	if (bc->sum->truncated_stacks) {
		snprintf(
		    buf, sizeof(buf),
		    "allocscope: %llu sampled allocations with a stack cut short ([truncated])",
		    (unsigned long long)bc->sum->truncated_stacks);
		pprof__add_comment(bc->pb, buf);
	}
	for (int i = 0; i < ALLOC_CNT_MAX; i++) {
		if (!what[i] || !bc->sum->counters[i])
			continue;
		snprintf(buf, sizeof(buf), "allocscope: %llu %s",
			 (unsigned long long)bc->sum->counters[i], what[i]);
		pprof__add_comment(bc->pb, buf);
	}
}

int heap_profile__build(const struct profile_source *srcs, size_t src_cnt, struct symbolizer *sym,
			const struct heap_profile_opts *opts, struct pprof_builder **out,
			struct heap_profile_summary *sum)
{
	struct pprof_opts po = {
	    .sample_types = heap_types,
	    .sample_type_cnt = ARRAY_SIZE(heap_types),
	    .period_type = {"space", "bytes"},
	    .default_sample_type = opts->default_sample_type ?: "inuse_space",
	    .time_nanos = opts->time_ns,
	    .duration_nanos = opts->duration_ns,
	};
	struct builder_ctx bc = {.sym = sym, .sum = sum, .wrappers = opts->wrappers};
	struct heap_profile_opts o = *opts;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	if (opts->counters)
		memcpy(sum->counters, opts->counters, sizeof(sum->counters));
	if (!o.go_rate)
		o.go_rate = o.native_rate;
	if (!o.period)
		o.period = o.native_rate;
	po.period = o.period <= 1 ? 1 : o.period;
	bc.pb = pprof__new(&po);
	if (!bc.pb)
		return -errno;
	/* pprof names a profile after its first mapping: make it the main executable's. The
	 * lowest file mapping is the executable, PIE or not. */
	for (size_t i = 0; i < src_cnt; i++) {
		struct target *t = srcs[i].target;
		const struct proc_maps *pm;

		if (!t->maps_gen)
			continue;
		pm = &t->maps;
		for (size_t j = 0; j < pm->cnt; j++) {
			if (!proc_mapping__is_file(&pm->maps[j]))
				continue;
			err = mapping_id(&bc, t, &pm->maps[j]);
			if (err < 0)
				goto cleanup;
			err = 0;
			break;
		}
	}

	for (size_t i = 0; i < src_cnt; i++) {
		for (size_t j = 0; j < srcs[i].cnt; j++) {
			err = add_entry(&bc, &srcs[i], &o, &srcs[i].entries[j]);
			if (err)
				goto cleanup;
		}
	}
	add_comments(&bc, &o);
	*out = bc.pb;
	bc.pb = NULL;
cleanup:
	pprof__free(bc.pb);
	loc_cache_free(&bc.locs);
	htab__free(&bc.mids);
	for (size_t i = 0; i < bc.info_cap; i++)
		free(bc.info[i].allocator);
	free(bc.info);
	return err;
}
