// SPDX-License-Identifier: MIT
/* The per-file probe plans: computed from the symbolizer and probe_place.c, kept in a small
 * array searched linearly (a few hundred files at most, each lookup far cheaper than the ELF and
 * decoding work it saves), one mutex, least recently used out by a use stamp. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/alloc.h"

#include "probe/plan_cache.h"
#include "probe/probe_place.h"
#include "symbols/symbolize.h"
#include "symbols/target.h"
#include "util/log.h"

struct plan_entry {
	struct plan_key key;
	struct file_plan plan;
	__u64 used; /* the stamp of its last use; 0: a free slot */
};

struct plan_cache {
	pthread_mutex_t lock;
	struct plan_entry *v;
	size_t max;
	size_t cnt;
	__u64 clock;
	__u64 hits, misses, evictions;
};

void plan_key__from_stat(const struct stat *st, struct plan_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->mtime_sec = st->st_mtim.tv_sec;
	k->mtime_nsec = st->st_mtim.tv_nsec;
}

static int key_eq(const struct plan_key *a, const struct plan_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

struct plan_cache *plan_cache__new(size_t max_entries)
{
	struct plan_cache *c;

	if (!max_entries) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->v = calloc(max_entries, sizeof(*c->v));
	if (!c->v) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->max = max_entries;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void plan_cache__free(struct plan_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->v);
	free(c);
}

/* The entry of k, or NULL; with the lock held. */
static struct plan_entry *find(struct plan_cache *c, const struct plan_key *k)
{
	for (size_t i = 0; i < c->cnt; i++)
		if (key_eq(&c->v[i].key, k))
			return &c->v[i];
	return NULL;
}

int plan_cache__get(struct plan_cache *c, const struct plan_key *k, struct file_plan *out)
{
	struct plan_entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, k);
	if (e) {
		e->used = ++c->clock;
		*out = e->plan;
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return e != NULL;
}

void plan_cache__put(struct plan_cache *c, const struct plan_key *k, const struct file_plan *p)
{
	struct plan_entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, k);
	if (!e && c->cnt < c->max) {
		e = &c->v[c->cnt++];
	} else if (!e) {
		e = &c->v[0];
		for (size_t i = 1; i < c->cnt; i++)
			if (c->v[i].used < e->used)
				e = &c->v[i];
		c->evictions++;
	}
	e->key = *k;
	e->plan = *p;
	e->used = ++c->clock;
	pthread_mutex_unlock(&c->lock);
}

size_t plan_cache__count(struct plan_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->cnt;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void plan_cache__stats(struct plan_cache *c, __u64 *hits, __u64 *misses, __u64 *evictions)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	*evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
}

void site_list__add(struct site_list *l, __u64 offset, __u64 cookie, const char *name)
{
	l->offsets[l->cnt] = offset;
	l->cookies[l->cnt] = cookie;
	l->names[l->cnt++] = name;
}

/* The plan of the file open as fd (path names it; st is its fstat), computed here: the
 * symbolizer's lookups, with sym_lock held when given. */
int file_plan__compute(struct symbolizer *sym, pthread_mutex_t *sym_lock, int pid, int fd,
		       const char *path, const struct stat *st, struct file_plan *plan)
{
	struct site_list *enter = &plan->enter, *ret = &plan->ret, *frees = &plan->frees;
	__u64 seen[ALLOC_FUNCS_CNT];
	size_t seen_cnt = 0;
	dev_t sym_dev;
	ino_t sym_ino;
	int has_malloc = 0, err = 0;
	ssize_t n;

	memset(plan, 0, sizeof(*plan));
	if (sym_lock)
		pthread_mutex_lock(sym_lock);
	for (size_t i = 0; i < alloc_funcs_cnt; i++) {
		const struct alloc_func *f = &alloc_funcs[i];
		__u64 vaddr, file_off, size, cookie;
		struct probe_site site;
		__u8 code[64];
		size_t got = 0, j;

		if (f->allocator_only && !has_malloc)
			continue;
		err = symbolizer__func_offset(sym, path, f->name, &vaddr, &file_off, &size);
		if (err == -ENOENT)
			continue;
		if (err)
			goto cleanup;
		if (i == 0)
			has_malloc = 1;
		if (!plan->probed && (symbolizer__identity(sym, path, &sym_dev, &sym_ino) ||
				      sym_dev != st->st_dev || sym_ino != st->st_ino)) {
			log_warn("%s changed while being probed: not probed", path);
			err = -ESTALE;
			goto cleanup;
		}
		for (j = 0; j < seen_cnt && seen[j] != vaddr; j++)
			;
		if (j < seen_cnt)
			continue; /* an alias of a function probed already */
		seen[seen_cnt++] = vaddr;

		n = pread(fd, code, size && size < sizeof(code) ? size : sizeof(code), file_off);
		err = n > 0 ? 0 : n < 0 ? -errno : -EIO;
		got = n > 0 ? n : 0;
		if (!err)
			err = probe_place__choose(code, got, vaddr, f->keep, &site);
		if (err && !target__running(pid)) {
			err = -ESRCH;
			goto cleanup;
		} else if (err) {
			log_warn("cannot decode %s in %s: %s; probing its entry", f->name, path,
				 strerror(-err));
			site = (struct probe_site){};
		} else if (!site.emulated) {
			log_info("%s in %s: no emulated instruction before its arguments change; "
				 "probing the entry (%s), which the kernel single-steps",
				 f->name, path, site.insn);
		} else {
			log_debug("%s in %s: probe at +%llu (%s)", f->name, path,
				  (unsigned long long)site.offset, site.insn);
		}
		err = 0;
		cookie = COOKIE_PUT(ALLOC_COOKIE_KIND, f->kind);
		if (f->kind == ALLOC_KIND_FREE)
			site_list__add(frees, file_off + site.offset, cookie, f->name);
		else
			site_list__add(enter, file_off + site.offset, cookie, f->name);
		if (f->has_return)
			site_list__add(ret, file_off + site.offset, cookie, f->name);
		plan->probed++;
	}
	err = 0;
cleanup:
	if (sym_lock)
		pthread_mutex_unlock(sym_lock);
	return err;
}
