// SPDX-License-Identifier: MIT
/* The site model: allocator frames, the site frame of a sample, and a profile's samples summed
 * per site. Samples are keyed by their site frame, sorted and merged: no hash table, O(n log n)
 * in the samples, and the sites come out in key order so that another set can find them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.pb-c.h"

#include "util/common.h"
#include "profile/site.h"
#include "symbols/goruntime.h"
#include "profile/pprof_decode.h"

/* C entry points whose frame says nothing about who allocated. Also matched with a "__libc_" or
 * "__" prefix (glibc's internal aliases) and with a "@..." symbol version suffix. */
static const char *const c_allocators[] = {
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "mmap",
    "mmap64",
    "mremap",
    "strdup",
    "strndup",
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    /* Other allocators' entry points, also the synthetic leaves of their kinds (heap_profile.c
     * names them after alloc_kind__name). */
    "reallocf",
    "mallocx",
    "rallocx",
    "xallocx",
    "tc_malloc",
    "tc_calloc",
    "tc_realloc",
    "tc_new",
    "tc_newarray",
    "tc_memalign",
    "tc_posix_memalign",
    "tc_malloc_skip_new_handler",
    "mi_malloc",
    "mi_malloc_small",
    "mi_malloc_aligned",
    "mi_zalloc",
    "mi_zalloc_small",
    "mi_zalloc_aligned",
    "mi_calloc",
    "mi_calloc_aligned",
    "mi_mallocn",
    "mi_realloc",
    "mi_realloc_aligned",
    "mi_reallocn",
    "mi_reallocf",
    "mi_reallocarray",
    "mi_new",
    "mi_new_n",
    "mi_new_nothrow",
    "mi_new_aligned",
    "mi_new_aligned_nothrow",
    "mi_new_realloc",
    "mi_new_reallocn",
};

/* The Go runtime's allocator and its heap sampler, below the runtime functions that compiled
 * code calls (those are goruntime__cause's list). Prefixes: Go 1.24 split mallocgc into
 * mallocgcSmallNoscan and friends. */
static const char *const go_allocator_prefixes[] = {
    "runtime.mallocgc",
    "runtime.mProf_Malloc",
    "runtime.profilealloc",
};

/* The name heap_profile.c gives the synthetic leaf of an allocation of no known kind; an
 * allocator only there (a location without a mapping), never as a function of the program. */
#define SYNTHETIC_UNKNOWN "unknown"

static int is_c_allocator(const char *function)
{
	size_t len;

	/* Demangled C++: "operator new(unsigned long)", "operator new[](unsigned long, ...)". */
	if (!strncmp(function, "operator new", 12))
		return 1;
	if (!strncmp(function, "__libc_", 7))
		function += 7;
	else if (!strncmp(function, "__", 2))
		function += 2;
	len = strcspn(function, "@");
	for (size_t i = 0; i < ARRAY_SIZE(c_allocators); i++)
		if (c_allocators[i][0] == function[0] && !strncmp(function, c_allocators[i], len) &&
		    !c_allocators[i][len])
			return 1;
	return 0;
}

static int is_go_allocator(const char *function)
{
	/* Most frames are the program's own: a look at the first letter says so. */
	if ((function[0] != 'r' || strncmp(function, "runtime.", 8)) &&
	    (function[0] != 'i' || strncmp(function, "internal/runtime/", 17)))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(go_allocator_prefixes); i++)
		if (!strncmp(function, go_allocator_prefixes[i], strlen(go_allocator_prefixes[i])))
			return 1;
	return goruntime__cause(function) != NULL;
}

int site_is_allocator_frame(const char *function)
{
	return function && (is_c_allocator(function) || is_go_allocator(function));
}

static const char *str_or_null(const struct pprof_profile *p, __s64 idx)
{
	const char *s = pprof__profile_str(p, idx);

	return s && *s ? s : NULL;
}

/* The first "cause" label of s, or NULL. */
static const char *sample_cause(const struct pprof_profile *p, const Perftools__Profiles__Sample *s)
{
	for (size_t j = 0; j < s->n_label; j++) {
		const char *k = pprof__profile_str(p, s->label[j]->key);

		if (k && !strcmp(k, "cause") && s->label[j]->str)
			return str_or_null(p, s->label[j]->str);
	}
	return NULL;
}

/* Nothing names the frame: its address, and the object it is in when the profile says. */
static void name_address(const struct pprof_profile *p, const Perftools__Profiles__Location *loc,
			 struct site_frame *out)
{
	const Perftools__Profiles__Mapping *m =
	    loc->mapping_id ? pprof__profile_mapping(p, loc->mapping_id) : NULL;

	snprintf(out->addr, sizeof(out->addr), "0x%llx", (unsigned long long)loc->address);
	out->function = out->addr;
	out->file = m ? str_or_null(p, m->filename) : NULL;
	out->line = 0;
}

void site_frame__of_sample(const struct pprof_profile *p, size_t sample_idx, int keep_allocators,
			   struct site_frame *out)
{
	const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
	const Perftools__Profiles__Sample *s;

	memset(out, 0, sizeof(*out));
	out->function = SITE_NO_CALLER;
	if (sample_idx >= m->n_sample)
		return;
	s = m->sample[sample_idx];
	out->cause = sample_cause(p, s);
	for (size_t i = 0; i < s->n_location_id; i++) {
		const Perftools__Profiles__Location *loc =
		    pprof__profile_location(p, s->location_id[i]);

		if (!loc)
			continue;
		if (!loc->n_line) {
			/* Unsymbolized: not an allocator as far as anyone can tell, so the site. */
			name_address(p, loc, out);
			return;
		}
		/* Lines of a location are innermost first: inlined callees before their caller. */
		for (size_t j = 0; j < loc->n_line; j++) {
			const Perftools__Profiles__Function *fn =
			    pprof__profile_function(p, loc->line[j]->function_id);
			const char *name = fn ? str_or_null(p, fn->name) : NULL;

			if (fn && !name)
				name = str_or_null(p, fn->system_name);
			if (!name) {
				name_address(p, loc, out);
				return;
			}
			if (!keep_allocators &&
			    (site_is_allocator_frame(name) ||
			     (!loc->mapping_id && !strcmp(name, SYNTHETIC_UNKNOWN)))) {
				if (!out->allocator)
					out->allocator = name;
				continue;
			}
			out->function = name;
			out->file = fn ? str_or_null(p, fn->filename) : NULL;
			out->line = loc->line[j]->line;
			return;
		}
	}
}

struct site_set {
	enum site_by by;
	size_t value_cnt;
	struct site *sites;
	size_t cnt;
	int key_ordered; /* no site_set__sort since site_set__new */
};

/* What sites are keyed by; allocator and cause count only with SITE_BY_LINE_AND_VIA. */
struct key {
	const char *function;
	const char *file;
	__s64 line;
	const char *allocator;
	const char *cause;
};

static int strcmp_null(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (!a || !b)
		return a ? 1 : -1;
	return strcmp(a, b);
}

/* Strings of one profile are mostly the same pointer when equal (its string table). */
static int str_cmp(const char *a, const char *b)
{
	return a == b ? 0 : strcmp(a, b);
}

static int key_cmp(const struct key *a, const struct key *b, enum site_by by)
{
	int c = str_cmp(a->function, b->function);

	if (c || by == SITE_BY_FUNCTION)
		return c;
	c = str_cmp(a->file, b->file);
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (by != SITE_BY_LINE_AND_VIA)
		return 0;
	c = strcmp_null(a->allocator, b->allocator);
	return c ? c : strcmp_null(a->cause, b->cause);
}

static struct key site_key(const struct site *s)
{
	return (struct key){s->function, s->file, s->line, s->allocators, s->causes};
}

int site__key_cmp(const struct site *a, const struct site *b, enum site_by by)
{
	struct key ka = site_key(a), kb = site_key(b);

	return key_cmp(&ka, &kb, by);
}

/* One sample, keyed by its site frame (whose strings point into the profile or into addr:
 * entries stay where they are, an array of pointers to them is sorted). */
struct entry {
	struct key k;
	const int64_t *values;
	char addr[sizeof(((struct site_frame *)0)->addr)];
};

static int entry_cmp(const void *a, const void *b, void *by)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return key_cmp(&x->k, &y->k, *(enum site_by *)by);
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *field(const struct entry *e, int cause)
{
	return cause ? e->k.cause : e->k.allocator;
}

/* The distinct allocators (cause 0) or causes (cause 1) of entries g[0..n), sorted, joined with
 * ",". NULL (no error) when none. */
static int join_distinct(struct entry *const *g, size_t n, int cause, char **out)
{
	const char **v;
	size_t len = 0, cnt = 0;
	char *s = NULL;

	*out = NULL;
	/* The common case (and always with SITE_BY_LINE_AND_VIA): one value, or none. */
	for (cnt = 1; cnt < n && !strcmp_null(field(g[cnt], cause), field(g[0], cause)); cnt++)
		;
	if (cnt == n) {
		if (field(g[0], cause) && !(*out = strdup(field(g[0], cause))))
			return -ENOMEM;
		return 0;
	}
	cnt = 0;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *x = field(g[i], cause);

		if (x) {
			v[cnt++] = x;
			len += strlen(x) + 1;
		}
	}
	if (cnt) {
		qsort(v, cnt, sizeof(*v), str_ptr_cmp);
		s = calloc(1, len + 1);
	}
	for (size_t i = 0; s && i < cnt; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		if (*s)
			strcat(s, ",");
		strcat(s, v[i]);
	}
	free(v);
	if (cnt && !s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* The site of the entries g[0..n), which share a key. */
static int make_site(struct site *site, struct entry *const *g, size_t n, size_t value_cnt)
{
	int err;

	site->function = strdup(g[0]->k.function);
	site->file = strdup(g[0]->k.file);
	site->line = g[0]->k.line;
	site->values = calloc(value_cnt + 1, sizeof(__s64));
	if (!site->function || !site->file || !site->values)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		for (size_t v = 0; v < value_cnt; v++)
			site->values[v] += g[k]->values[v];
	err = join_distinct(g, n, 0, &site->allocators);
	return err ?: join_distinct(g, n, 1, &site->causes);
}

struct site_set *site_set__new(const struct pprof_profile *p, const struct site_set_opts *opts)
{
	const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
	struct site_set_opts def = {};
	struct entry *e = NULL, **order = NULL;
	struct site_set *s = NULL;
	size_t n = 0, i, j;
	int err = 0;

	if (!opts)
		opts = &def;
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->by = opts->by;
	s->value_cnt = m->n_sample_type;
	s->key_ordered = 1;
	/* +1: malloc(0) may return NULL. Entries are written whole before use. */
	e = malloc((m->n_sample + 1) * sizeof(*e));
	order = malloc((m->n_sample + 1) * sizeof(*order));
	s->sites = calloc(m->n_sample + 1, sizeof(*s->sites));
	if (!e || !order || !s->sites) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < m->n_sample; i++) {
		struct entry *x = &e[n];
		struct site_frame f;

		/* The decoder checks this; a profile built in memory need not have been decoded. */
		if (m->sample[i]->n_value < s->value_cnt)
			continue;
		site_frame__of_sample(p, i, opts->keep_allocator_frames, &f);
		x->k = (struct key){
		    .function = f.function,
		    .file = f.file ? f.file : "",
		    .line = s->by == SITE_BY_FUNCTION ? 0 : f.line,
		    .allocator = f.allocator,
		    .cause = f.cause,
		};
		if (f.function == f.addr) {
			memcpy(x->addr, f.addr, sizeof(x->addr));
			x->k.function = x->addr;
		}
		x->values = m->sample[i]->value;
		order[n++] = x;
	}
	qsort_r(order, n, sizeof(*order), entry_cmp, &s->by);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && !entry_cmp(&order[i], &order[j], &s->by); j++)
			;
		err = make_site(&s->sites[s->cnt++], order + i, j - i, s->value_cnt);
		if (err)
			goto cleanup;
	}
cleanup:
	free(order);
	free(e);
	if (err) {
		site_set__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

void site_set__free(struct site_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cnt; i++) {
		free(s->sites[i].function);
		free(s->sites[i].file);
		free(s->sites[i].allocators);
		free(s->sites[i].causes);
		free(s->sites[i].values);
	}
	free(s->sites);
	free(s);
}

size_t site_set__cnt(const struct site_set *s)
{
	return s->cnt;
}

enum site_by site_set__by(const struct site_set *s)
{
	return s->by;
}

size_t site_set__value_cnt(const struct site_set *s)
{
	return s->value_cnt;
}

const struct site *site_set__get(const struct site_set *s, size_t i)
{
	return i < s->cnt ? &s->sites[i] : NULL;
}

long site_set__find(const struct site_set *s, const struct site *key)
{
	size_t lo = 0, hi = s->cnt;

	if (!s->key_ordered) {
		for (size_t i = 0; i < s->cnt; i++)
			if (!site__key_cmp(&s->sites[i], key, s->by))
				return i;
		return -ENOENT;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = site__key_cmp(&s->sites[mid], key, s->by);

		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

struct value_order {
	size_t idx;
	enum site_by by;
};

static int site_value_cmp(const void *a, const void *b, void *ctx)
{
	const struct site *x = a, *y = b;
	const struct value_order *o = ctx;
	__s64 vx = x->values[o->idx], vy = y->values[o->idx];

	if (vx != vy)
		return vx > vy ? -1 : 1;
	return site__key_cmp(x, y, o->by);
}

void site_set__sort(struct site_set *s, size_t value_idx)
{
	struct value_order o = {value_idx, s->by};

	if (value_idx >= s->value_cnt)
		return;
	qsort_r(s->sites, s->cnt, sizeof(*s->sites), site_value_cmp, &o);
	s->key_ordered = 0;
}

__s64 site_set__total(const struct site_set *s, size_t value_idx)
{
	__s64 sum = 0;

	for (size_t i = 0; value_idx < s->value_cnt && i < s->cnt; i++)
		sum += s->sites[i].values[value_idx];
	return sum;
}
