// SPDX-License-Identifier: MIT
/* Selectors against /proc: the first selector that matches wins, and a process's exe, comm and
 * cgroup are read at most once per decision, only when a selector asks for them. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/cgroup.h"
#include "service/select.h"
#include "symbols/goruntime.h"
#include "util/htab.h"
#include "util/log.h"

/* Executables whose Go-ness is remembered; past that, the oldest remembered is forgotten. */
#define GO_CACHE_MAX 4096

/* An executable by identity: the same path rewritten in place keeps its inode, not its mtime. */
struct go_cache_entry {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	int is_go;
};

struct proc_select {
	char *proc_root;
	int self_pid;
	char cgroup_ns_root[CGROUP_PATH_MAX];
	struct go_cache_entry *go_cache; /* a ring of GO_CACHE_MAX, filled in order */
	size_t go_cache_cnt;
	size_t go_cache_next; /* the slot the next entry takes (the oldest once full) */
	struct htab go_index; /* by identity: indices into go_cache */
};

static const char *root_of(const char *proc_root)
{
	return proc_root ?: "/proc";
}

int proc__read_comm(const char *proc_root, int pid, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/comm", root_of(proc_root), pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return 0;
}

int proc__read_exe(const char *proc_root, int pid, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/exe", root_of(proc_root), pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

struct proc_select *proc_select__new(const struct proc_select_opts *opts)
{
	struct proc_select *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->self_pid = opts->self_pid;
	snprintf(ps->cgroup_ns_root, sizeof(ps->cgroup_ns_root), "%s", opts->cgroup_ns_root ?: "");
	if (opts->proc_root) {
		ps->proc_root = strdup(opts->proc_root);
		if (!ps->proc_root) {
			free(ps);
			errno = ENOMEM;
			return NULL;
		}
	}
	return ps;
}

void proc_select__free(struct proc_select *ps)
{
	if (!ps)
		return;
	free(ps->go_cache);
	htab__free(&ps->go_index);
	free(ps->proc_root);
	free(ps);
}

static __u64 go_cache_hash(const struct go_cache_entry *e)
{
	return htab__hash_u64(
	    e->dev ^ htab__hash_u64(e->ino ^ htab__hash_u64((__u64)e->mtime.tv_sec * 1000000000ULL +
							    (__u64)e->mtime.tv_nsec)));
}

static bool go_cache_eq(const void *ctx, uintptr_t idx, const void *key)
{
	const struct go_cache_entry *e = &((const struct proc_select *)ctx)->go_cache[idx],
				    *k = key;

	return e->dev == k->dev && e->ino == k->ino && e->mtime.tv_sec == k->mtime.tv_sec &&
	       e->mtime.tv_nsec == k->mtime.tv_nsec;
}

/* Remember key's Go-ness, forgetting the oldest entry when full; nothing on ENOMEM. */
static void go_cache_add(struct proc_select *ps, const struct go_cache_entry *key)
{
	size_t slot = ps->go_cache_next;

	if (!ps->go_cache) {
		ps->go_cache = calloc(GO_CACHE_MAX, sizeof(*ps->go_cache));
		if (!ps->go_cache)
			return;
	}
	if (htab__reserve(&ps->go_index, 1))
		return;
	if (ps->go_cache_cnt == GO_CACHE_MAX)
		htab__remove(&ps->go_index, go_cache_hash(&ps->go_cache[slot]), go_cache_eq, ps,
			     &ps->go_cache[slot], NULL);
	else
		ps->go_cache_cnt++;
	ps->go_cache[slot] = *key;
	htab__set(&ps->go_index, go_cache_hash(key), go_cache_eq, ps, key, slot);
	ps->go_cache_next = (slot + 1) % GO_CACHE_MAX;
}

/* Whether the process runs a Go executable; one parse per executable (device, inode, mtime). */
static int is_go_process(struct proc_select *ps, int pid)
{
	struct go_cache_entry key = {};
	struct go_runtime gr;
	char path[PATH_MAX];
	struct stat st;
	uintptr_t idx;

	snprintf(path, sizeof(path), "%s/%d/exe", root_of(ps->proc_root), pid);
	if (stat(path, &st))
		return 0;
	key.dev = st.st_dev;
	key.ino = st.st_ino;
	key.mtime = st.st_mtim;
	if (htab__find(&ps->go_index, go_cache_hash(&key), go_cache_eq, ps, &key, &idx))
		return ps->go_cache[idx].is_go;
	key.is_go = goruntime__inspect(path, &gr) == 0;
	go_cache_add(ps, &key);
	return key.is_go;
}

bool proc_select__is_go(struct proc_select *ps, int pid)
{
	return is_go_process(ps, pid);
}

size_t proc_select__go_cache_size(const struct proc_select *ps)
{
	return ps->go_cache_cnt;
}

bool proc_select__match(struct proc_select *ps, const struct selector *sels, size_t cnt, int pid)
{
	char exe[PATH_MAX] = "", comm[32] = "";
	struct cgroup_info cg;
	/* 0: not read yet; 1: read; -1: unreadable. */
	int have_exe = 0, have_comm = 0, have_cg = 0;

	if (pid == ps->self_pid)
		return false;
	for (size_t i = 0; i < cnt; i++) {
		const struct selector *s = &sels[i];

		switch (s->kind) {
		case SELECT_PID:
			if (s->pid == pid)
				return true;
			break;
		case SELECT_EXE:
			if (!have_exe)
				have_exe =
				    proc__read_exe(ps->proc_root, pid, exe, sizeof(exe)) ? -1 : 1;
			if (have_exe > 0 && !fnmatch(s->value, exe, 0))
				return true;
			break;
		case SELECT_COMM:
			if (!have_comm)
				have_comm = proc__read_comm(ps->proc_root, pid, comm, sizeof(comm))
						? -1
						: 1;
			if (have_comm > 0 && !strcmp(s->value, comm))
				return true;
			break;
		case SELECT_CGROUP:
			if (!have_cg)
				have_cg = cgroup__read(ps->proc_root, ps->cgroup_ns_root, pid, &cg)
					      ? -1
					      : 1;
			if (have_cg > 0 && cgroup__path_under(cg.path, s->value))
				return true;
			break;
		case SELECT_ALL_GO:
			if (is_go_process(ps, pid))
				return true;
			break;
		}
	}
	return false;
}

int proc_select__scan(struct proc_select *ps, const struct selector *sels, size_t cnt,
		      void (*fn)(void *ctx, int pid), void *ctx)
{
	const char *root = root_of(ps->proc_root);
	struct dirent *de;
	DIR *dir = opendir(root);
	int err;

	if (!dir) {
		err = -errno;
		log_error("cannot read %s: %s", root, strerror(-err));
		return err;
	}
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (proc_select__match(ps, sels, cnt, pid))
			fn(ctx, pid);
	}
	closedir(dir);
	return 0;
}
