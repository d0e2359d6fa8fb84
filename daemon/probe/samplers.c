// SPDX-License-Identifier: MIT
/* Allocation sources: finding the OpenTelemetry memory USDTs in a process's objects (with
 * symbols/usdt.c) and attaching the BPF programs that read them. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "probe/samplers.h"
#include "symbols/rootfs.h"
#include "symbols/usdt.h"
#include "util/common.h"
#include "util/log.h"

const char *alloc_source__name(enum alloc_source s)
{
	switch (s) {
	case ALLOC_SOURCE_USDT:
		return "otel_memory USDT sampler";
	case ALLOC_SOURCE_GO:
		return "Go runtime sampler";
	case ALLOC_SOURCE_EVERY_CALL:
		return "every allocator call";
	default:
		return "none";
	}
}

/* The probes of one object open at fd: the alloc probes attached, or -errno. */
static int attach_object(struct alloc_probes *ap, int pid, const char *path, int fd)
{
	struct usdt_note *notes = NULL;
	char fd_path[64];
	int cnt, allocs = 0, err = 0;

	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	cnt = usdt__read_file(fd_path, USDT_OTEL_PROVIDER, &notes);
	if (cnt <= 0)
		return cnt == -ENOEXEC ? 0 : cnt;
	for (int i = 0; i < cnt; i++) {
		enum sampler_probe probe;

		if (!strcmp(notes[i].name, "alloc"))
			probe = SAMPLER_PROBE_USDT_ALLOC;
		else if (!strcmp(notes[i].name, "free"))
			probe = SAMPLER_PROBE_USDT_FREE;
		else
			continue;
		err = alloc_probes__attach_usdt(ap, pid, path, fd, &notes[i], probe);
		if (err)
			break;
		log_debug("pid %d: %s:%s at %s+0x%llx%s", pid, notes[i].provider, notes[i].name,
			  path, (unsigned long long)notes[i].file_offset,
			  notes[i].sema_offset ? " (with a semaphore)" : "");
		allocs += probe == SAMPLER_PROBE_USDT_ALLOC;
	}
	free(notes);
	return err ?: allocs;
}

static int attach_path(struct alloc_probes *ap, int pid, const char *path,
		       const struct proc_mapping *m)
{
	int fd, n;

	fd = rootfs__open(path, m);
	/* Gone, or refused (rootfs counted why): no probes from it, as for the malloc family. */
	if (fd < 0)
		return fd == -ENOENT || fd == -EINVAL || fd == -EISDIR || fd == -ESTALE ||
			       fd == -ELOOP || fd == -EFBIG
			   ? 0
			   : fd;
	n = attach_object(ap, pid, path, fd);
	close(fd);
	return n;
}

int samplers__attach_usdt(struct alloc_probes *ap, int pid, const char *exe,
			  const struct proc_maps *maps)
{
	struct stat exe_st;
	char path[PATH_MAX];
	int total = 0, n;
	__u64 seen[64];
	size_t seen_cnt = 0;

	/* The executable, also when it is not mapped yet (a command about to exec it). */
	if (stat(exe, &exe_st) == 0) {
		n = attach_path(ap, pid, exe, NULL);
		if (n < 0)
			return n;
		total += n;
		seen[seen_cnt++] = exe_st.st_ino;
	}
	for (size_t i = 0; maps && i < maps->cnt; i++) {
		const struct proc_mapping *m = &maps->maps[i];
		int dup = 0;

		if (!proc_mapping__is_file(m) || !(m->perms & PMAP_PERM_EXEC))
			continue;
		for (size_t j = 0; j < seen_cnt; j++)
			dup |= seen[j] == m->inode;
		if (dup)
			continue;
		if (seen_cnt < ARRAY_SIZE(seen))
			seen[seen_cnt++] = m->inode;
		/* The path as the process sees it: inside its own root (another mount namespace).
		 */
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
		n = attach_path(ap, pid, path, m);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

const char *samplers__preload_next(const char *list, char *path, size_t size)
{
	while (list && *list) {
		const char *at = list;
		size_t len = strcspn(list, ": ");

		list += len;
		list += strspn(list, ": ");
		/* ld.so looks a name without a slash up in the library path: only paths here. */
		if (len && len < size && memchr(at, '/', len)) {
			memcpy(path, at, len);
			path[len] = 0;
			return list;
		}
	}
	return NULL;
}

int samplers__attach_usdt_preload(struct alloc_probes *ap, int pid, const char *list)
{
	char path[PATH_MAX];
	int total = 0, n;

	while ((list = samplers__preload_next(list, path, sizeof(path)))) {
		n = attach_path(ap, pid, path, NULL);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

int samplers__exe_has_usdt(const char *exe)
{
	struct usdt_note *notes = NULL;
	int cnt = usdt__read_file(exe, USDT_OTEL_PROVIDER, &notes);

	free(notes);
	return cnt > 0;
}
