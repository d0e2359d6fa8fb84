// SPDX-License-Identifier: MIT
/* Allocation sites of a pprof profile and the difference between two profiles' sites. Samples are
 * keyed by their site frame, sorted and merged: no hash table, O(n log n) in the samples. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.pb-c.h"

#include "util/common.h"
#include "profile/profdiff.h"

struct prof_sites {
	enum prof_site_by by;
	size_t value_cnt;
	struct prof_site *sites;
	size_t cnt;
};

struct prof_diff {
	struct prof_diff_row *rows;
	size_t cnt;
	size_t changed_cnt;
	enum prof_site_by by;
};

/* Entry points whose frame says nothing about who allocated. Also matched with a "__libc_" or
 * "__" prefix (glibc's internal aliases) and with a "@..." symbol version suffix. */
static const char *const allocator_names[] = {
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
    "strdup",
    "strndup",
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
};

int prof_is_allocator_frame(const char *function)
{
	size_t len;

	if (!function)
		return 0;
	/* Demangled C++: "operator new(unsigned long)", "operator new[](unsigned long, ...)". */
	if (!strncmp(function, "operator new", 12))
		return 1;
	if (!strncmp(function, "__libc_", 7))
		function += 7;
	else if (!strncmp(function, "__", 2))
		function += 2;
	len = strcspn(function, "@");
	for (size_t i = 0; i < ARRAY_SIZE(allocator_names); i++)
		if (strlen(allocator_names[i]) == len &&
		    !strncmp(function, allocator_names[i], len))
			return 1;
	return 0;
}

/* One sample, keyed by its site frame; strings point into the profile or into addr. */
struct site_entry {
	const char *function;
	const char *file;
	__s64 line;
	const char *cause;
	const int64_t *values;
	char addr[24];
};

struct frame_ref {
	const char *function;
	const char *file;
	__s64 line;
	__u64 address; /* when function is NULL */
};

static const char *str_or_null(const struct pprof_profile *p, __s64 idx)
{
	const char *s = pprof__profile_str(p, idx);

	return s && *s ? s : NULL;
}

/* The frame of a sample that names its site: the leaf, or with allocator frames skipped the
 * first frame that is not an allocator (the leaf when every frame is one). Lines of a location
 * are innermost first, so inlined callees come before their caller. */
static void site_frame(const struct pprof_profile *p, const Perftools__Profiles__Sample *s,
		       int keep_allocators, struct frame_ref *out)
{
	int have_leaf = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < s->n_location_id; i++) {
		const Perftools__Profiles__Location *loc =
		    pprof__profile_location(p, s->location_id[i]);
		struct frame_ref f = {};

		if (!loc)
			continue;
		if (!loc->n_line) {
			/* Unsymbolized: not an allocator as far as anyone can tell, so the site. */
			out->function = NULL;
			out->file = NULL;
			out->line = 0;
			out->address = loc->address;
			return;
		}
		for (size_t j = 0; j < loc->n_line; j++) {
			const Perftools__Profiles__Function *fn =
			    pprof__profile_function(p, loc->line[j]->function_id);

			f.function = fn ? str_or_null(p, fn->name) : NULL;
			if (fn && !f.function)
				f.function = str_or_null(p, fn->system_name);
			f.file = fn ? str_or_null(p, fn->filename) : NULL;
			f.line = loc->line[j]->line;
			f.address = loc->address;
			if (!have_leaf) {
				*out = f;
				have_leaf = 1;
			}
			if (keep_allocators || !prof_is_allocator_frame(f.function)) {
				*out = f;
				return;
			}
		}
	}
}

static int key_cmp(enum prof_site_by by, const char *fa, const char *la, __s64 na, const char *fb,
		   const char *lb, __s64 nb)
{
	int c = strcmp(fa, fb);

	if (c || by == PROF_SITE_BY_FUNCTION)
		return c;
	c = strcmp(la, lb);
	if (c)
		return c;
	return na < nb ? -1 : na > nb;
}

static int entry_cmp(const void *a, const void *b, void *by)
{
	const struct site_entry *x = a, *y = b;

	return key_cmp(*(enum prof_site_by *)by, x->function, x->file, x->line, y->function,
		       y->file, y->line);
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Joins the distinct causes of entries [from, to) with ",", sorted (qsort left the entries of
 * a site in no particular order). NULL (no error) when none. */
static int join_causes(const struct site_entry *e, size_t from, size_t to, char **out)
{
	const char **v;
	size_t len = 0, n = 0;
	char *s = NULL;

	*out = NULL;
	v = calloc(to - from + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = from; i < to; i++)
		if (e[i].cause) {
			v[n++] = e[i].cause;
			len += strlen(e[i].cause) + 1;
		}
	if (n) {
		qsort(v, n, sizeof(*v), str_ptr_cmp);
		s = calloc(1, len + 1);
	}
	for (size_t i = 0; s && i < n; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		if (*s)
			strcat(s, ",");
		strcat(s, v[i]);
	}
	free(v);
	if (n && !s)
		return -ENOMEM;
	*out = s;
	return 0;
}

struct prof_sites *prof_sites__new(const struct pprof_profile *p,
				   const struct prof_sites_opts *opts)
{
	const Perftools__Profiles__Profile *m = pprof__profile_msg(p);
	struct prof_sites_opts def = {};
	struct site_entry *e = NULL;
	struct prof_sites *s = NULL;
	__s64 cause_key = -1;
	size_t i, j;
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
	for (i = 0; i < m->n_string_table; i++)
		if (!strcmp(m->string_table[i], "cause")) {
			cause_key = i;
			break;
		}
	/* +1: calloc(0) may return NULL. */
	e = calloc(m->n_sample + 1, sizeof(*e));
	s->sites = calloc(m->n_sample + 1, sizeof(*s->sites));
	if (!e || !s->sites) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < m->n_sample; i++) {
		const Perftools__Profiles__Sample *smp = m->sample[i];
		struct frame_ref f;

		site_frame(p, smp, opts->keep_allocator_frames, &f);
		if (!f.function) {
			snprintf(e[i].addr, sizeof(e[i].addr), "0x%" PRIx64, (uint64_t)f.address);
			f.function = e[i].addr;
		}
		e[i].function = f.function;
		e[i].file = f.file ? f.file : "";
		e[i].line = opts->by == PROF_SITE_BY_FUNCTION ? 0 : f.line;
		e[i].values = smp->value;
		for (j = 0; j < smp->n_label; j++)
			if (smp->label[j]->key == cause_key && smp->label[j]->str) {
				e[i].cause = pprof__profile_str(p, smp->label[j]->str);
				break;
			}
	}
	qsort_r(e, m->n_sample, sizeof(*e), entry_cmp, &s->by);
	for (i = 0; i < m->n_sample; i = j) {
		struct prof_site *site = &s->sites[s->cnt];

		for (j = i + 1; j < m->n_sample && !entry_cmp(&e[i], &e[j], &s->by); j++)
			;
		site->function = strdup(e[i].function);
		site->file = strdup(e[i].file);
		site->line = e[i].line;
		site->values = calloc(s->value_cnt + 1, sizeof(__s64));
		s->cnt++;
		if (!site->function || !site->file || !site->values) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (size_t k = i; k < j; k++)
			for (size_t v = 0; v < s->value_cnt; v++)
				site->values[v] += e[k].values[v];
		err = join_causes(e, i, j, &site->causes);
		if (err)
			goto cleanup;
	}
cleanup:
	free(e);
	if (err) {
		prof_sites__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

void prof_sites__free(struct prof_sites *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cnt; i++) {
		free(s->sites[i].function);
		free(s->sites[i].file);
		free(s->sites[i].values);
		free(s->sites[i].causes);
	}
	free(s->sites);
	free(s);
}

size_t prof_sites__cnt(const struct prof_sites *s)
{
	return s->cnt;
}

size_t prof_sites__value_cnt(const struct prof_sites *s)
{
	return s->value_cnt;
}

const struct prof_site *prof_sites__get(const struct prof_sites *s, size_t i)
{
	return i < s->cnt ? &s->sites[i] : NULL;
}

static int site_value_cmp(const void *a, const void *b, void *value_idx)
{
	const struct prof_site *x = a, *y = b;
	size_t idx = *(size_t *)value_idx;
	__s64 vx = x->values[idx], vy = y->values[idx];

	if (vx != vy)
		return vx > vy ? -1 : 1;
	return key_cmp(PROF_SITE_BY_SITE, x->function, x->file, x->line, y->function, y->file,
		       y->line);
}

void prof_sites__sort(struct prof_sites *s, size_t value_idx)
{
	if (value_idx >= s->value_cnt)
		return;
	qsort_r(s->sites, s->cnt, sizeof(*s->sites), site_value_cmp, &value_idx);
}

__s64 prof_sites__total(const struct prof_sites *s, size_t value_idx)
{
	__s64 sum = 0;

	for (size_t i = 0; value_idx < s->value_cnt && i < s->cnt; i++)
		sum += s->sites[i].values[value_idx];
	return sum;
}

static int site_ptr_key_cmp(const void *a, const void *b, void *by)
{
	const struct prof_site *x = *(const struct prof_site *const *)a;
	const struct prof_site *y = *(const struct prof_site *const *)b;

	return key_cmp(*(enum prof_site_by *)by, x->function, x->file, x->line, y->function,
		       y->file, y->line);
}

static __u64 abs_s64(__s64 v)
{
	return v < 0 ? -(__u64)v : (__u64)v;
}

static int row_cmp(const void *a, const void *b)
{
	const struct prof_diff_row *x = a, *y = b;
	__u64 cx = abs_s64(x->change), cy = abs_s64(y->change);

	if (cx != cy)
		return cx > cy ? -1 : 1;
	/* Among equal changes, the larger site first, then a stable order by key. */
	if (x->new_val != y->new_val)
		return x->new_val > y->new_val ? -1 : 1;
	return key_cmp(PROF_SITE_BY_SITE, x->site->function, x->site->file, x->site->line,
		       y->site->function, y->site->file, y->site->line);
}

static const struct prof_site **sorted_by_key(const struct prof_sites *s)
{
	const struct prof_site **v = calloc(s->cnt + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < s->cnt; i++)
		v[i] = &s->sites[i];
	qsort_r(v, s->cnt, sizeof(*v), site_ptr_key_cmp, (void *)&s->by);
	return v;
}

void prof_diff_row__set(struct prof_diff_row *r, __s64 base_val, __s64 new_val)
{
	r->base_val = base_val;
	r->new_val = new_val;
	r->change = r->new_val - r->base_val;
	r->relative_pct = 0;
	if (!r->change)
		r->kind = PROF_CHANGE_SAME;
	else if (!r->base_val)
		r->kind = PROF_CHANGE_NEW;
	else if (!r->new_val)
		r->kind = PROF_CHANGE_GONE;
	else
		r->kind = r->change > 0 ? PROF_CHANGE_GREW : PROF_CHANGE_SHRANK;
	if (r->kind == PROF_CHANGE_GREW || r->kind == PROF_CHANGE_SHRANK)
		r->relative_pct = (double)r->change / (double)r->base_val * 100.0;
}

struct prof_diff *prof_diff__new(const struct prof_sites *base, size_t base_idx,
				 const struct prof_sites *new, size_t new_idx)
{
	const struct prof_site **a = NULL, **b = NULL;
	struct prof_diff *d = NULL;
	size_t i = 0, j = 0;
	int err = 0;

	if (!base || !new || base->by != new->by || base_idx >= base->value_cnt ||
	    new_idx >= new->value_cnt) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	a = sorted_by_key(base);
	b = sorted_by_key(new);
	if (!d || !a || !b) {
		err = -ENOMEM;
		goto cleanup;
	}
	d->by = base->by;
	d->rows = calloc(base->cnt + new->cnt + 1, sizeof(*d->rows));
	if (!d->rows) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (i < base->cnt || j < new->cnt) {
		struct prof_diff_row *r = &d->rows[d->cnt++];
		int c;

		if (i == base->cnt)
			c = 1;
		else if (j == new->cnt)
			c = -1;
		else
			c = key_cmp(d->by, a[i]->function, a[i]->file, a[i]->line, b[j]->function,
				    b[j]->file, b[j]->line);
		if (c < 0) {
			r->site = a[i];
			r->base_val = a[i++]->values[base_idx];
		} else if (c > 0) {
			r->site = b[j];
			r->new_val = b[j++]->values[new_idx];
		} else {
			r->site = b[j];
			r->base_val = a[i++]->values[base_idx];
			r->new_val = b[j++]->values[new_idx];
		}
		prof_diff_row__set(r, r->base_val, r->new_val);
		if (r->kind != PROF_CHANGE_SAME)
			d->changed_cnt++;
	}
	qsort(d->rows, d->cnt, sizeof(*d->rows), row_cmp);
cleanup:
	free(a);
	free(b);
	if (err) {
		prof_diff__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void prof_diff__free(struct prof_diff *d)
{
	if (!d)
		return;
	free(d->rows);
	free(d);
}

size_t prof_diff__cnt(const struct prof_diff *d)
{
	return d->cnt;
}

const struct prof_diff_row *prof_diff__row(const struct prof_diff *d, size_t i)
{
	return i < d->cnt ? &d->rows[i] : NULL;
}

size_t prof_diff__changed_cnt(const struct prof_diff *d)
{
	return d->changed_cnt;
}

const char *prof_change__relative_str(const struct prof_diff_row *r, char *buf, size_t len)
{
	double pct = r->relative_pct;

	switch (r->kind) {
	case PROF_CHANGE_NEW:
		snprintf(buf, len, "new");
		break;
	case PROF_CHANGE_GONE:
		snprintf(buf, len, "gone");
		break;
	case PROF_CHANGE_SAME:
		snprintf(buf, len, "0%%");
		break;
	default:
		/* Whole percents, one decimal below 10% unless whole, and never a real change
		 * rounded to nothing. */
		if (fabs(pct) < 0.1)
			snprintf(buf, len, "%s<0.1%%", pct < 0 ? "-" : "+");
		else if (fabs(pct) >= 10 || fabs(pct - round(pct)) < 0.05)
			snprintf(buf, len, "%+.0f%%", pct);
		else
			snprintf(buf, len, "%+.1f%%", pct);
		break;
	}
	return buf;
}

const char *prof_change__name(enum prof_change kind)
{
	switch (kind) {
	case PROF_CHANGE_GREW:
		return "grew";
	case PROF_CHANGE_SHRANK:
		return "shrank";
	case PROF_CHANGE_NEW:
		return "new";
	case PROF_CHANGE_GONE:
		return "gone";
	default:
		return "same";
	}
}
