// SPDX-License-Identifier: MIT
/* allocscope top's model: sites aggregated from cumulative heap profiles by (function, file,
 * line, allocator, cause), rates from the difference of two profiles, an in-use history, and
 * the fixed-width rows the terminal view and the piped snapshots print. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/common.h"
#include "util/fmt.h"
#include "profile.pb-c.h"
#include "topview.h"

#define HISTORY_DEFAULT 120
#define MAX_PIDS	4096

/* Column widths of a row: "%9s %8s %9s  %-*s  SITE". */
#define COL_BYTES 9
#define COL_OBJS  8
#define COL_INUSE 9
#define VIA_MIN	  3
#define VIA_MAX	  16
#define SITE_MIN  12

/* The leaf frames allocscope names after the allocator (heap_profile.c): no mapping, one line. */
static const char *const allocators[] = {
    "malloc",	"calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "mmap",	     "unknown",
};

struct site_set {
	struct topview_site *s;
	size_t cnt;
	size_t cap;
	size_t *table; /* open addressing: index + 1, 0 empty */
	size_t table_cap;
	__s64 alloc_bytes; /* sums, to tell an unchanged profile */
	__s64 alloc_objects;
	__s64 inuse_bytes;
	__s64 inuse_objects;
	size_t processes;
};

struct topview {
	struct topview_opts o;
	struct site_set cur;
	int have_cur;
	int have_rates;
	__u64 cur_ns;
	size_t *order; /* indexes into cur.s, in display order */
	enum topview_sort key;
	double rate_bytes;
	double rate_objects;
	__s64 *hist; /* ring of in-use bytes */
	size_t hist_cnt;
	size_t hist_next;
};

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static __u64 hash_str(__u64 h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* NULL and "" differ from what follows */
}

static __u64 site_hash(const struct topview_site *s)
{
	__u64 h = 0xcbf29ce484222325ULL;

	h = hash_str(h, s->function);
	h = hash_str(h, s->file);
	h = hash_str(h, s->allocator);
	h = hash_str(h, s->cause);
	return (h ^ (__u64)s->line) * 0x100000001b3ULL;
}

static int site_same(const struct topview_site *a, const struct topview_site *b)
{
	return a->line == b->line && str_eq(a->function, b->function) && str_eq(a->file, b->file) &&
	       str_eq(a->allocator, b->allocator) && str_eq(a->cause, b->cause);
}

static void site_set_free(struct site_set *ss)
{
	for (size_t i = 0; i < ss->cnt; i++) {
		free((char *)ss->s[i].function);
		free((char *)ss->s[i].file);
		free((char *)ss->s[i].allocator);
		free((char *)ss->s[i].cause);
	}
	free(ss->s);
	free(ss->table);
	memset(ss, 0, sizeof(*ss));
}

static int table_grow(struct site_set *ss)
{
	size_t cap = ss->table_cap ? ss->table_cap * 2 : 256;
	size_t *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < ss->cnt; i++) {
		size_t j = site_hash(&ss->s[i]) & (cap - 1);

		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = i + 1;
	}
	free(ss->table);
	ss->table = t;
	ss->table_cap = cap;
	return 0;
}

/* The site equal to key, or NULL. */
static struct topview_site *site_find(const struct site_set *ss, const struct topview_site *key)
{
	size_t j;

	if (!ss->table_cap)
		return NULL;
	for (j = site_hash(key) & (ss->table_cap - 1); ss->table[j];
	     j = (j + 1) & (ss->table_cap - 1))
		if (site_same(&ss->s[ss->table[j] - 1], key))
			return &ss->s[ss->table[j] - 1];
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The site equal to key, added (with copies of its strings) when new. */
static struct topview_site *site_get(struct site_set *ss, const struct topview_site *key)
{
	struct topview_site *s = site_find(ss, key), *n;
	size_t j;

	if (s)
		return s;
	if ((ss->cnt + 1) * 2 > ss->table_cap && table_grow(ss))
		return NULL;
	if (ss->cnt == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;

		n = realloc(ss->s, cap * sizeof(*n));
		if (!n)
			return NULL;
		ss->s = n;
		ss->cap = cap;
	}
	s = &ss->s[ss->cnt];
	*s = (struct topview_site){.line = key->line};
	s->function = dup_or_null(key->function);
	s->file = dup_or_null(key->file);
	s->allocator = dup_or_null(key->allocator);
	s->cause = dup_or_null(key->cause);
	if ((key->function && !s->function) || (key->file && !s->file) ||
	    (key->allocator && !s->allocator) || (key->cause && !s->cause)) {
		free((char *)s->function);
		free((char *)s->file);
		free((char *)s->allocator);
		free((char *)s->cause);
		return NULL;
	}
	for (j = site_hash(s) & (ss->table_cap - 1); ss->table[j];
	     j = (j + 1) & (ss->table_cap - 1))
		;
	ss->table[j] = ++ss->cnt;
	return s;
}

static int is_allocator(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(allocators); i++)
		if (!strcmp(name, allocators[i]))
			return 1;
	return 0;
}

static const Perftools__Profiles__Function *loc_function(const struct pprof_profile *p,
							 const Perftools__Profiles__Location *l)
{
	return l && l->n_line ? pprof__profile_function(p, l->line[0]->function_id) : NULL;
}

/* Fill key with the site of sample s; addr_buf holds a made-up name for an unnamed frame. */
static void sample_site(const struct pprof_profile *p, const Perftools__Profiles__Sample *s,
			struct topview_site *key, char *addr_buf, size_t addr_len)
{
	const Perftools__Profiles__Location *l = NULL;
	const Perftools__Profiles__Function *f;
	size_t i = 0;

	*key = (struct topview_site){};
	if (s->n_location_id)
		l = pprof__profile_location(p, s->location_id[0]);
	f = loc_function(p, l);
	if (l && !l->mapping_id && f && is_allocator(pprof__profile_str(p, f->name))) {
		key->allocator = pprof__profile_str(p, f->name);
		l = ++i < s->n_location_id ? pprof__profile_location(p, s->location_id[i]) : NULL;
		f = loc_function(p, l);
	}
	for (size_t j = 0; j < s->n_label; j++) {
		const char *k = pprof__profile_str(p, s->label[j]->key);

		if (k && !strcmp(k, "cause") && s->label[j]->str)
			key->cause = pprof__profile_str(p, s->label[j]->str);
	}
	if (!l) {
		key->function = "[no caller]";
		return;
	}
	if (f) {
		const char *file = pprof__profile_str(p, f->filename);

		key->function = pprof__profile_str(p, f->name);
		key->file = file && *file ? file : NULL;
		key->line = l->line[0]->line;
		if (key->function && *key->function)
			return;
	}
	/* Nothing names the address: show it, and the object it is in. */
	snprintf(addr_buf, addr_len, "0x%llx", (unsigned long long)l->address);
	key->function = addr_buf;
	key->line = 0;
	key->file = NULL;
	if (l->mapping_id) {
		const Perftools__Profiles__Mapping *m = pprof__profile_mapping(p, l->mapping_id);
		const char *path = m ? pprof__profile_str(p, m->filename) : NULL;

		key->file = path && *path ? path : NULL;
	}
}

static int count_pid(__s64 *pids, size_t *cnt, __s64 pid)
{
	for (size_t i = 0; i < *cnt; i++)
		if (pids[i] == pid)
			return 0;
	if (*cnt < MAX_PIDS)
		pids[(*cnt)++] = pid;
	return 0;
}

static int aggregate(const struct pprof_profile *p, struct site_set *out)
{
	const Perftools__Profiles__Profile *m;
	int ab, ao, ib, io, err = 0;
	__s64 *pids = NULL;

	if (!p)
		return 0;
	m = pprof__profile_msg(p);
	ab = pprof__profile_sample_index(p, "alloc_space");
	ao = pprof__profile_sample_index(p, "alloc_objects");
	ib = pprof__profile_sample_index(p, "inuse_space");
	io = pprof__profile_sample_index(p, "inuse_objects");
	if (ab < 0 || ao < 0)
		return -EINVAL;
	pids = malloc(MAX_PIDS * sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_sample; i++) {
		const Perftools__Profiles__Sample *s = m->sample[i];
		struct topview_site key, *site;
		char addr[32];

		if (s->n_value <= (size_t)max_t(int, max_t(int, ab, ao), max_t(int, ib, io)))
			continue; /* the decoder checks types, not every sample's length */
		for (size_t j = 0; j < s->n_label; j++) {
			const char *k = pprof__profile_str(p, s->label[j]->key);

			if (k && !strcmp(k, "pid") && !s->label[j]->str)
				count_pid(pids, &out->processes, s->label[j]->num);
		}
		sample_site(p, s, &key, addr, sizeof(addr));
		site = site_get(out, &key);
		if (!site) {
			err = -ENOMEM;
			break;
		}
		site->alloc_bytes += s->value[ab];
		site->alloc_objects += s->value[ao];
		out->alloc_bytes += s->value[ab];
		out->alloc_objects += s->value[ao];
		if (ib >= 0) {
			site->inuse_bytes += s->value[ib];
			out->inuse_bytes += s->value[ib];
		}
		if (io >= 0) {
			site->inuse_objects += s->value[io];
			out->inuse_objects += s->value[io];
		}
	}
	free(pids);
	return err;
}

struct topview *topview__new(const struct topview_opts *opts)
{
	struct topview *tv = calloc(1, sizeof(*tv));

	if (!tv)
		return NULL;
	if (opts)
		tv->o = *opts;
	if (!tv->o.history_len)
		tv->o.history_len = HISTORY_DEFAULT;
	tv->hist = calloc(tv->o.history_len, sizeof(*tv->hist));
	if (!tv->hist) {
		free(tv);
		errno = ENOMEM;
		return NULL;
	}
	return tv;
}

void topview__free(struct topview *tv)
{
	if (!tv)
		return;
	site_set_free(&tv->cur);
	free(tv->order);
	free(tv->hist);
	free(tv);
}

static double sort_value(const struct topview_site *s, enum topview_sort key)
{
	switch (key) {
	case TOPVIEW_SORT_ALLOC_OBJECTS:
		return s->alloc_objects_per_s;
	case TOPVIEW_SORT_INUSE_BYTES:
		return (double)s->inuse_bytes;
	default:
		return s->alloc_bytes_per_s;
	}
}

static int order_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct topview *tv = ctx;
	const struct topview_site *a = &tv->cur.s[*(const size_t *)pa];
	const struct topview_site *b = &tv->cur.s[*(const size_t *)pb];
	double va = sort_value(a, tv->key), vb = sort_value(b, tv->key);
	int c;

	if (va != vb)
		return va < vb ? 1 : -1;
	if (a->alloc_bytes != b->alloc_bytes)
		return a->alloc_bytes < b->alloc_bytes ? 1 : -1;
	c = strcmp(a->function ?: "", b->function ?: "");
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return strcmp(a->allocator ?: a->cause ?: "", b->allocator ?: b->cause ?: "");
}

void topview__sort(struct topview *tv, enum topview_sort key)
{
	if (key >= 0 && key < TOPVIEW_SORT_MAX)
		tv->key = key;
	for (size_t i = 0; i < tv->cur.cnt; i++)
		tv->order[i] = i;
	if (tv->cur.cnt)
		qsort_r(tv->order, tv->cur.cnt, sizeof(*tv->order), order_cmp, tv);
}

int topview__update(struct topview *tv, const struct pprof_profile *p, __u64 now_ns)
{
	struct site_set next = {};
	size_t *order;
	double dt;
	int err;

	err = aggregate(p, &next);
	if (err)
		goto fail;
	if (tv->have_cur && tv->o.hold_ns && now_ns - tv->cur_ns < tv->o.hold_ns &&
	    next.cnt == tv->cur.cnt && next.alloc_bytes == tv->cur.alloc_bytes &&
	    next.alloc_objects == tv->cur.alloc_objects &&
	    next.inuse_bytes == tv->cur.inuse_bytes) {
		site_set_free(&next);
		return 0;
	}
	order = malloc((next.cnt ? next.cnt : 1) * sizeof(*order));
	if (!order) {
		err = -ENOMEM;
		goto fail;
	}
	dt = tv->have_cur && now_ns > tv->cur_ns ? (now_ns - tv->cur_ns) / 1e9 : 0;
	tv->rate_bytes = tv->rate_objects = 0;
	for (size_t i = 0; i < next.cnt && dt > 0; i++) {
		struct topview_site *s = &next.s[i];
		const struct topview_site *old = site_find(&tv->cur, s);
		__s64 db = s->alloc_bytes - (old ? old->alloc_bytes : 0);
		__s64 dn = s->alloc_objects - (old ? old->alloc_objects : 0);

		/* Cumulative values only shrink when a merged process's history expired. */
		s->alloc_bytes_per_s = db > 0 ? db / dt : 0;
		s->alloc_objects_per_s = dn > 0 ? dn / dt : 0;
		tv->rate_bytes += s->alloc_bytes_per_s;
		tv->rate_objects += s->alloc_objects_per_s;
	}
	tv->have_rates = dt > 0;
	site_set_free(&tv->cur);
	tv->cur = next;
	free(tv->order);
	tv->order = order;
	tv->have_cur = 1;
	tv->cur_ns = now_ns;
	if (p) {
		tv->hist[tv->hist_next] = next.inuse_bytes;
		tv->hist_next = (tv->hist_next + 1) % tv->o.history_len;
		if (tv->hist_cnt < tv->o.history_len)
			tv->hist_cnt++;
	}
	topview__sort(tv, tv->key);
	return 1;
fail:
	site_set_free(&next);
	return err;
}

size_t topview__site_cnt(const struct topview *tv)
{
	return tv->cur.cnt;
}

const struct topview_site *topview__site(const struct topview *tv, size_t i)
{
	return i < tv->cur.cnt ? &tv->cur.s[tv->order[i]] : NULL;
}

void topview__totals(const struct topview *tv, struct topview_totals *out)
{
	*out = (struct topview_totals){
	    .alloc_bytes_per_s = tv->rate_bytes,
	    .alloc_objects_per_s = tv->rate_objects,
	    .inuse_bytes = tv->cur.inuse_bytes,
	    .inuse_objects = tv->cur.inuse_objects,
	    .processes = tv->cur.processes,
	    .have_rates = tv->have_rates,
	};
}

size_t topview__history(const struct topview *tv, __s64 *out, size_t max)
{
	size_t n = min_t(size_t, tv->hist_cnt, max);
	size_t start = (tv->hist_next + tv->o.history_len - n) % tv->o.history_len;

	for (size_t i = 0; i < n; i++)
		out[i] = tv->hist[(start + i) % tv->o.history_len];
	return n;
}

static const struct {
	const char *title;
	const char *name;
	const char *letter;
} sort_keys[TOPVIEW_SORT_MAX] = {
    [TOPVIEW_SORT_ALLOC_BYTES] = {"alloc bytes/s", "bytes", "b"},
    [TOPVIEW_SORT_ALLOC_OBJECTS] = {"objects/s", "objects", "o"},
    [TOPVIEW_SORT_INUSE_BYTES] = {"in-use bytes", "inuse", "i"},
};

const char *topview_sort__title(enum topview_sort key)
{
	return key >= 0 && key < TOPVIEW_SORT_MAX ? sort_keys[key].title : "?";
}

const char *topview_sort__name(enum topview_sort key)
{
	return key >= 0 && key < TOPVIEW_SORT_MAX ? sort_keys[key].name : "?";
}

int topview_sort__parse(const char *s, enum topview_sort *out)
{
	for (int i = 0; s && i < TOPVIEW_SORT_MAX; i++) {
		if (!strcmp(s, sort_keys[i].name) || !strcmp(s, sort_keys[i].letter)) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Formatting */

const char *topview__fmt_count(double v, char *buf, size_t len)
{
	static const char *const units[] = {"", "k", "M", "G", "T"};
	double a = v < 0 ? -v : v;
	size_t u = 0;

	while (a >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		a /= 1000;
		v /= 1000;
		u++;
	}
	/* 99.95 would print as "100.0": decide the precision on the rounded value. */
	if (u == 0 || a >= 99.95)
		snprintf(buf, len, "%.0f%s", v, units[u]);
	else
		snprintf(buf, len, "%.1f%s", v, units[u]);
	return buf;
}

/* Terminal columns of s: one per character (UTF-8 continuation bytes take none). */
static int cols_of(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Byte length of the first cols columns of s. */
static size_t bytes_of_cols(const char *s, int cols)
{
	size_t i = 0;

	while (s[i] && cols > 0) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		cols--;
	}
	return i;
}

static int is_control_free(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

const char *topview__fit(const char *s, int cols, int utf8, char *buf, size_t len)
{
	const char *ell = utf8 ? "\xe2\x80\xa6" : "~";
	size_t n;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (cols <= 0)
		return buf;
	/* A name is shown, never interpreted: escape sequences in it must not reach the
	 * terminal. */
	if (!is_control_free(s))
		s = "[unprintable]";
	if (cols_of(s) <= cols) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	n = bytes_of_cols(s, cols - 1);
	snprintf(buf, len, "%.*s%s", (int)n, s, ell);
	return buf;
}

/* s cut at its start: "…c/parse.c:42". */
static const char *fit_left(const char *s, int cols, int utf8, char *buf, size_t len)
{
	const char *ell = utf8 ? "\xe2\x80\xa6" : "~";
	int have = cols_of(s);

	if (!is_control_free(s))
		s = "[unprintable]";
	if (have <= cols || cols <= 0)
		return topview__fit(s, cols, utf8, buf, len);
	s += bytes_of_cols(s, have - (cols - 1));
	snprintf(buf, len, "%s%s", ell, s);
	return buf;
}

static const char *site_via(const struct topview_site *s)
{
	return s->allocator ?: s->cause ?: "";
}

int topview__via_cols(const struct topview *tv, size_t first, size_t cnt)
{
	int w = VIA_MIN;

	for (size_t i = first; i < first + cnt && i < tv->cur.cnt; i++)
		w = max_t(int, w, cols_of(site_via(topview__site(tv, i))));
	return min_t(int, w, VIA_MAX);
}

/* "file.c:42": the base name keeps the column narrow; the full path is in --json. */
static void site_where(const struct topview_site *s, char *buf, size_t len)
{
	const char *base;

	buf[0] = '\0';
	if (!s->file)
		return;
	base = strrchr(s->file, '/');
	base = base ? base + 1 : s->file;
	if (s->line > 0)
		snprintf(buf, len, "%s:%lld", base, (long long)s->line);
	else
		snprintf(buf, len, "%s", base);
}

/* Cut a line built for its columns to width. */
static const char *fit_line(char *line, int width, char *buf, size_t len)
{
	size_t n = bytes_of_cols(line, width);

	snprintf(buf, len, "%.*s", (int)n, line);
	return buf;
}

const char *topview__fmt_header(int width, int via_cols, int mark, char *buf, size_t len)
{
	const char *t[TOPVIEW_SORT_MAX] = {"ALLOC/s", "OBJS/s", "IN USE"};
	const char *m[TOPVIEW_SORT_MAX] = {"*ALLOC/s", "*OBJS/s", "*IN USE"};
	char line[512];

	if (mark >= 0 && mark < TOPVIEW_SORT_MAX)
		t[mark] = m[mark];
	snprintf(line, sizeof(line), "%*s %*s %*s  %-*s  %s", COL_BYTES, t[0], COL_OBJS, t[1],
		 COL_INUSE, t[2], via_cols, "VIA", "SITE");
	return fit_line(line, width, buf, len);
}

void topview__header_span(enum topview_sort key, int *off, int *cols)
{
	switch (key) {
	case TOPVIEW_SORT_ALLOC_OBJECTS:
		*cols = 6;
		*off = COL_BYTES + 1 + COL_OBJS - *cols;
		break;
	case TOPVIEW_SORT_INUSE_BYTES:
		*cols = 6;
		*off = COL_BYTES + 1 + COL_OBJS + 1 + COL_INUSE - *cols;
		break;
	default:
		*cols = 7;
		*off = COL_BYTES - *cols;
		break;
	}
}

const char *topview__fmt_row(const struct topview_site *s, int width, int via_cols, int show_rates,
			     int utf8, char *buf, size_t len)
{
	char b[32] = "-", o[32] = "-", in[32], via[64], where[512], fwhere[512], func[1024];
	char line[2048];
	int fixed = COL_BYTES + 1 + COL_OBJS + 1 + COL_INUSE + 2 + via_cols + 2;
	int site_cols = max_t(int, width - fixed, SITE_MIN), fn_cols, where_cols = 0, want;

	if (show_rates) {
		fmt_bytes(s->alloc_bytes_per_s, b, sizeof(b));
		topview__fmt_count(s->alloc_objects_per_s, o, sizeof(o));
	}
	fmt_bytes((double)s->inuse_bytes, in, sizeof(in));
	topview__fit(site_via(s), via_cols, utf8, via, sizeof(via));
	site_where(s, where, sizeof(where));
	want = cols_of(s->function ?: "?");
	/* The function comes first; where it is gets what is left, at least two fifths. */
	if (where[0]) {
		where_cols = cols_of(where);
		if (want + 2 + where_cols > site_cols)
			where_cols = min_t(int, where_cols,
					   max_t(int, site_cols - want - 2, site_cols * 2 / 5));
	}
	fn_cols = where[0] ? site_cols - where_cols - 2 : site_cols;
	topview__fit(s->function ?: "?", fn_cols, utf8, func, sizeof(func));
	if (where[0])
		fit_left(where, where_cols, utf8, fwhere, sizeof(fwhere));
	/* Pad the via column by columns, not bytes: an ellipsis is three bytes wide. */
	snprintf(line, sizeof(line), "%*s %*s %*s  %s%*s  %s%s%s", COL_BYTES, b, COL_OBJS, o,
		 COL_INUSE, in, via, via_cols - cols_of(via), "", func, where[0] ? "  " : "",
		 where[0] ? fwhere : "");
	return fit_line(line, width, buf, len);
}

const char *topview__sparkline(const __s64 *v, size_t n, int utf8, char *buf, size_t len)
{
	static const char *const blocks[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
					     "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
					     "\xe2\x96\x87", "\xe2\x96\x88"};
	static const char ascii[] = "_.:-=+*#";
	__s64 lo, hi;
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!n)
		return buf;
	lo = hi = v[0];
	for (size_t i = 1; i < n; i++) {
		lo = min_t(__s64, lo, v[i]);
		hi = max_t(__s64, hi, v[i]);
	}
	for (size_t i = 0; i < n; i++) {
		int level = hi > lo ? (int)((double)(v[i] - lo) * 7 / (double)(hi - lo) + 0.5)
				    : (v[i] > 0 ? 3 : 0);
		const char *c = utf8 ? blocks[level] : (const char[]){ascii[level], '\0'};
		size_t cl = strlen(c);

		if (off + cl + 1 > len)
			break;
		memcpy(buf + off, c, cl);
		off += cl;
		buf[off] = '\0';
	}
	return buf;
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, val ? json_object_new_string(val) : NULL);
}

struct json_object *topview__json(const struct topview *tv, size_t max_sites)
{
	struct json_object *o = json_object_new_object(), *sites = json_object_new_array(),
			   *hist = json_object_new_array();
	struct topview_totals t;
	__s64 h[1024];
	size_t n;

	if (!o || !sites || !hist) {
		json_object_put(o);
		json_object_put(sites);
		json_object_put(hist);
		errno = ENOMEM;
		return NULL;
	}
	topview__totals(tv, &t);
	json_object_object_add(o, "sort", json_object_new_string(topview_sort__name(tv->key)));
	json_object_object_add(o, "have_rates", json_object_new_boolean(t.have_rates));
	json_object_object_add(o, "alloc_bytes_per_s", json_object_new_double(t.alloc_bytes_per_s));
	json_object_object_add(o, "alloc_objects_per_s",
			       json_object_new_double(t.alloc_objects_per_s));
	json_object_object_add(o, "inuse_bytes", json_object_new_int64(t.inuse_bytes));
	json_object_object_add(o, "inuse_objects", json_object_new_int64(t.inuse_objects));
	json_object_object_add(o, "processes", json_object_new_int64(t.processes));
	n = topview__history(tv, h, ARRAY_SIZE(h));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(hist, json_object_new_int64(h[i]));
	json_object_object_add(o, "inuse_history", hist);
	json_object_object_add(o, "site_count", json_object_new_int64(tv->cur.cnt));
	for (size_t i = 0; i < tv->cur.cnt && i < max_sites; i++) {
		const struct topview_site *s = topview__site(tv, i);
		struct json_object *js = json_object_new_object();

		if (!js)
			break;
		add_str(js, "function", s->function);
		add_str(js, "file", s->file);
		json_object_object_add(js, "line", json_object_new_int64(s->line));
		add_str(js, "allocator", s->allocator);
		add_str(js, "cause", s->cause);
		json_object_object_add(js, "alloc_bytes_per_s",
				       json_object_new_double(s->alloc_bytes_per_s));
		json_object_object_add(js, "alloc_objects_per_s",
				       json_object_new_double(s->alloc_objects_per_s));
		json_object_object_add(js, "inuse_bytes", json_object_new_int64(s->inuse_bytes));
		json_object_object_add(js, "inuse_objects",
				       json_object_new_int64(s->inuse_objects));
		json_object_object_add(js, "alloc_bytes", json_object_new_int64(s->alloc_bytes));
		json_object_object_add(js, "alloc_objects",
				       json_object_new_int64(s->alloc_objects));
		json_object_array_add(sites, js);
	}
	json_object_object_add(o, "sites", sites);
	return o;
}
