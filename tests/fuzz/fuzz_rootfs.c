// SPDX-License-Identifier: MIT
/* The path resolution of rootfs on arbitrary input: the first line is a path, the following
 * lines the texts of the symlinks met on the way (one per component taken while any remain).
 * The walk always ends, never hands out an empty component, one with a '/', or a "." that is
 * not last, and never follows more than ROOTFS_MAX_LINKS links; /proc/PID/root splitting only
 * accepts what it promises. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/rootfs.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *save = NULL, *path, *link;
	struct rootfs_walk *w = malloc(sizeof(*w));
	char comp[NAME_MAX + 1];
	const char *rest;
	int last, abs, r, pid;
	size_t steps = 0;

	if (!text || !w)
		goto out;
	path = strtok_r(text, "\n", &save);
	if (!path)
		goto out;
	if (!rootfs__split_proc_root(path, &pid, &rest)) {
		FUZZ_CHECK(pid > 0);
		FUZZ_CHECK(!strncmp(path, "/proc/", 6) && (!*rest || *rest == '/'));
	}
	if (rootfs_walk__init(w, path))
		goto out;
	while ((r = rootfs_walk__next(w, comp, sizeof(comp), &last)) > 0) {
		FUZZ_CHECK(comp[0] && !strchr(comp, '/'));
		FUZZ_CHECK(strcmp(comp, ".") || last);
		FUZZ_CHECK(++steps < 1000000);
		link = strtok_r(NULL, "\n", &save);
		if (!link)
			continue;
		r = rootfs_walk__link(w, link, &abs);
		FUZZ_CHECK(r == 0 || r == -ELOOP || r == -ENAMETOOLONG || r == -ENOENT);
		FUZZ_CHECK(w->links <= ROOTFS_MAX_LINKS + 1);
		if (r)
			break;
		FUZZ_CHECK(abs == (link[0] == '/'));
	}
	FUZZ_CHECK(r <= 0);
	FUZZ_CHECK(memchr(w->rest, 0, sizeof(w->rest)));
out:
	free(w);
	free(text);
	return 0;
}
