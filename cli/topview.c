// SPDX-License-Identifier: MIT
/* allocscope top's model: the sites of cumulative heap profiles (profile/site.c, keyed by
 * function, file, line, allocator and cause), rates from the difference of two profiles, an
 * in-use history, and the fixed-width rows the terminal view and the piped snapshots print. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/common.h"
#include "util/fmt.h"
#include "profile.pb-c.h"
#include "profile/site.h"
#include "topview.h"
#include "profile/pprof_decode.h"

#define HISTORY_DEFAULT 120
#define MAX_PIDS	4096

/* Column widths of a row: "%9s %8s %9s  %-*s  SITE". */
#define COL_BYTES 9
#define COL_OBJS  8
#define COL_INUSE 9
#define VIA_MIN	  3
#define VIA_MAX	  16
#define SITE_MIN  12

/* The sites of one profile (site.h, keyed by line, allocator and cause) and their values. */
struct site_view {
	struct site_set *set;	/* owns the sites' strings; NULL for an empty profile */
	struct topview_site *s; /* one per site of set, in its (key) order */
	size_t cnt;
	__s64 alloc_bytes; /* sums, to tell an unchanged profile */
	__s64 alloc_objects;
	__s64 inuse_bytes;
	__s64 inuse_objects;
	size_t processes;
};

struct topview {
	struct topview_opts o;
	struct site_view cur;
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

static void site_view_free(struct site_view *v)
{
	site_set__free(v->set);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

/* The site of v with the same key as site i of w, or NULL. */
static const struct topview_site *site_view_find(const struct site_view *v,
						 const struct site_view *w, size_t i)
{
	long j = v->set ? site_set__find(v->set, site_set__get(w->set, i)) : -ENOENT;

	return j >= 0 ? &v->s[j] : NULL;
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

static size_t count_processes(const struct pprof_profile *p)
{
	const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
	__s64 *pids = malloc(MAX_PIDS * sizeof(*pids));
	size_t cnt = 0;

	for (size_t i = 0; pids && i < m->n_sample; i++) {
		const Perftools__Profiles__Sample *s = m->sample[i];

		for (size_t j = 0; j < s->n_label; j++) {
			const char *k = pprof__profile_str(p, s->label[j]->key);

			if (k && !strcmp(k, "pid") && !s->label[j]->str)
				count_pid(pids, &cnt, s->label[j]->num);
		}
	}
	free(pids);
	return cnt;
}

static int aggregate(const struct topview *tv, const struct pprof_profile *p, struct site_view *out)
{
	const struct site_set_opts opts = {.by = SITE_BY_LINE_AND_VIA, .wrappers = tv->o.wrappers};
	int ab, ao, ib, io;

	if (!p)
		return 0;
	ab = pprof__profile_sample_index(p, "alloc_space");
	ao = pprof__profile_sample_index(p, "alloc_objects");
	ib = pprof__profile_sample_index(p, "inuse_space");
	io = pprof__profile_sample_index(p, "inuse_objects");
	if (ab < 0 || ao < 0)
		return -EINVAL;
	out->set = site_set__new(p, &opts);
	if (!out->set)
		return -errno;
	out->cnt = site_set__cnt(out->set);
	out->s = calloc(out->cnt + 1, sizeof(*out->s));
	if (!out->s)
		return -ENOMEM;
	for (size_t i = 0; i < out->cnt; i++) {
		const struct site *site = site_set__get(out->set, i);
		struct topview_site *s = &out->s[i];

		s->function = site->function;
		s->file = *site->file ? site->file : NULL;
		s->line = site->line;
		s->allocator = site->allocators;
		s->cause = site->causes;
		s->alloc_bytes = site->values[ab];
		s->alloc_objects = site->values[ao];
		s->inuse_bytes = ib >= 0 ? site->values[ib] : 0;
		s->inuse_objects = io >= 0 ? site->values[io] : 0;
		out->alloc_bytes += s->alloc_bytes;
		out->alloc_objects += s->alloc_objects;
		out->inuse_bytes += s->inuse_bytes;
		out->inuse_objects += s->inuse_objects;
	}
	out->processes = count_processes(p);
	return 0;
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
	site_view_free(&tv->cur);
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
	struct site_view next = {};
	size_t *order;
	double dt;
	int err;

	err = aggregate(tv, p, &next);
	if (err)
		goto fail;
	if (tv->have_cur && tv->o.hold_ns && now_ns - tv->cur_ns < tv->o.hold_ns &&
	    next.cnt == tv->cur.cnt && next.alloc_bytes == tv->cur.alloc_bytes &&
	    next.alloc_objects == tv->cur.alloc_objects &&
	    next.inuse_bytes == tv->cur.inuse_bytes) {
		site_view_free(&next);
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
		const struct topview_site *old = site_view_find(&tv->cur, &next, i);
		__s64 db = s->alloc_bytes - (old ? old->alloc_bytes : 0);
		__s64 dn = s->alloc_objects - (old ? old->alloc_objects : 0);

		/* Cumulative values only shrink when a merged process's history expired. */
		if (s->inuse_bytes > (old ? old->inuse_bytes : 0))
			s->inuse_rises = (old ? old->inuse_rises : 0) + 1;
		else if (old && s->inuse_bytes == old->inuse_bytes)
			s->inuse_rises = old->inuse_rises;
		s->growing = s->inuse_rises >= TOPVIEW_GROWING_UPDATES;
		s->alloc_bytes_per_s = db > 0 ? db / dt : 0;
		s->alloc_objects_per_s = dn > 0 ? dn / dt : 0;
		tv->rate_bytes += s->alloc_bytes_per_s;
		tv->rate_objects += s->alloc_objects_per_s;
	}
	tv->have_rates = dt > 0;
	site_view_free(&tv->cur);
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
	site_view_free(&next);
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
	/* A growing site's in-use gets an arrow in the space after it. */
	snprintf(line, sizeof(line), "%*s %*s %*s%s %s%*s  %s%s%s", COL_BYTES, b, COL_OBJS, o,
		 COL_INUSE, in, s->growing ? (utf8 ? "\xe2\x86\x91" : "^") : " ", via,
		 via_cols - cols_of(via), "", func, where[0] ? "  " : "", where[0] ? fwhere : "");
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
		json_object_object_add(js, "growing", json_object_new_boolean(s->growing));
		json_object_object_add(js, "alloc_bytes", json_object_new_int64(s->alloc_bytes));
		json_object_object_add(js, "alloc_objects",
				       json_object_new_int64(s->alloc_objects));
		json_object_array_add(sites, js);
	}
	json_object_object_add(o, "sites", sites);
	return o;
}
