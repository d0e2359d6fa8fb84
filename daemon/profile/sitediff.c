// SPDX-License-Identifier: MIT
/* The difference between two profiles' sites: both sets walked in key order and merged. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "profile/sitediff.h"

struct site_diff {
	struct site_diff_row *rows;
	size_t cnt;
	size_t changed_cnt;
};

static int site_ptr_key_cmp(const void *a, const void *b, void *by)
{
	const struct site *x = *(const struct site *const *)a;
	const struct site *y = *(const struct site *const *)b;

	return site__key_cmp(x, y, *(enum site_by *)by);
}

static __u64 abs_s64(__s64 v)
{
	return v < 0 ? -(__u64)v : (__u64)v;
}

static int row_cmp(const void *a, const void *b, void *by)
{
	const struct site_diff_row *x = a, *y = b;
	__u64 cx = abs_s64(x->change), cy = abs_s64(y->change);

	if (cx != cy)
		return cx > cy ? -1 : 1;
	/* Among equal changes, the larger site first, then a stable order by key. */
	if (x->new_val != y->new_val)
		return x->new_val > y->new_val ? -1 : 1;
	return site__key_cmp(x->site, y->site, *(enum site_by *)by);
}

static const struct site **sorted_by_key(const struct site_set *s)
{
	size_t n = site_set__cnt(s);
	const struct site **v = calloc(n + 1, sizeof(*v));
	enum site_by by = site_set__by(s);

	if (!v)
		return NULL;
	/* Sorted again: the set may be in value order (site_set__sort). */
	for (size_t i = 0; i < n; i++)
		v[i] = site_set__get(s, i);
	qsort_r(v, n, sizeof(*v), site_ptr_key_cmp, &by);
	return v;
}

void site_diff_row__set(struct site_diff_row *r, __s64 base_val, __s64 new_val)
{
	r->base_val = base_val;
	r->new_val = new_val;
	r->change = r->new_val - r->base_val;
	r->relative_pct = 0;
	if (!r->change)
		r->kind = SITE_CHANGE_SAME;
	else if (!r->base_val)
		r->kind = SITE_CHANGE_NEW;
	else if (!r->new_val)
		r->kind = SITE_CHANGE_GONE;
	else
		r->kind = r->change > 0 ? SITE_CHANGE_GREW : SITE_CHANGE_SHRANK;
	if (r->kind == SITE_CHANGE_GREW || r->kind == SITE_CHANGE_SHRANK)
		r->relative_pct = (double)r->change / (double)r->base_val * 100.0;
}

struct site_diff *site_diff__new(const struct site_set *base, size_t base_idx,
				 const struct site_set *new, size_t new_idx)
{
	const struct site **a = NULL, **b = NULL;
	struct site_diff *d = NULL;
	size_t i = 0, j = 0, na, nb;
	enum site_by by;
	int err = 0;

	if (!base || !new || site_set__by(base) != site_set__by(new) ||
	    base_idx >= site_set__value_cnt(base) || new_idx >= site_set__value_cnt(new)) {
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
	by = site_set__by(base);
	na = site_set__cnt(base);
	nb = site_set__cnt(new);
	d->rows = calloc(na + nb + 1, sizeof(*d->rows));
	if (!d->rows) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (i < na || j < nb) {
		struct site_diff_row *r = &d->rows[d->cnt++];
		int c;

		if (i == na)
			c = 1;
		else if (j == nb)
			c = -1;
		else
			c = site__key_cmp(a[i], b[j], by);
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
		site_diff_row__set(r, r->base_val, r->new_val);
		if (r->kind != SITE_CHANGE_SAME)
			d->changed_cnt++;
	}
	qsort_r(d->rows, d->cnt, sizeof(*d->rows), row_cmp, &by);
cleanup:
	free(a);
	free(b);
	if (err) {
		site_diff__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void site_diff__free(struct site_diff *d)
{
	if (!d)
		return;
	free(d->rows);
	free(d);
}

size_t site_diff__cnt(const struct site_diff *d)
{
	return d->cnt;
}

const struct site_diff_row *site_diff__row(const struct site_diff *d, size_t i)
{
	return i < d->cnt ? &d->rows[i] : NULL;
}

size_t site_diff__changed_cnt(const struct site_diff *d)
{
	return d->changed_cnt;
}

const char *site_change__relative_str(const struct site_diff_row *r, char *buf, size_t len)
{
	double pct = r->relative_pct;

	switch (r->kind) {
	case SITE_CHANGE_NEW:
		snprintf(buf, len, "new");
		break;
	case SITE_CHANGE_GONE:
		snprintf(buf, len, "gone");
		break;
	case SITE_CHANGE_SAME:
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

const char *site_change__name(enum site_change kind)
{
	switch (kind) {
	case SITE_CHANGE_GREW:
		return "grew";
	case SITE_CHANGE_SHRANK:
		return "shrank";
	case SITE_CHANGE_NEW:
		return "new";
	case SITE_CHANGE_GONE:
		return "gone";
	default:
		return "same";
	}
}
