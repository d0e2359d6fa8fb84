// SPDX-License-Identifier: MIT
/* Separate debug files for libdwfl (see debugfile.h): the standard search restricted to our debug
 * root, then the .gnu_debuglink name next to the file, resolved by rootfs and checked. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/libdwelf.h>
#include <zlib.h>

#include "util/log.h"
#include "symbols/debugfile.h"
#include "symbols/rootfs.h"

/* Whether the file at fd is the debug file of mod: the same build ID, else the CRC the
 * .gnu_debuglink section asks for. */
static int debug_file_matches(Dwfl_Module *mod, int fd, GElf_Word crc)
{
	const unsigned char *want;
	const void *have = NULL;
	unsigned char buf[65536];
	GElf_Addr vaddr;
	uLong sum = crc32(0, NULL, 0);
	ssize_t n, have_len;
	off_t off = 0;
	int want_len, ok = 0;
	Elf *elf;

	want_len = dwfl_module_build_id(mod, &want, &vaddr);
	if (want_len > 0) {
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		have_len = elf ? dwelf_elf_gnu_build_id(elf, &have) : -1;
		ok = have_len == want_len && !memcmp(have, want, want_len);
		if (elf)
			elf_end(elf);
		return ok;
	}
	/* rootfs__open() bounded the size; a regular file does not block. */
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		sum = crc32(sum, buf, n);
		off += n;
	}
	return n == 0 && (GElf_Word)sum == crc;
}

int debugfile__find(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
		    const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		    char **debuginfo_file_name)
{
	static const char *const subdirs[] = {"", "/.debug"};
	char dir[PATH_MAX], path[PATH_MAX], *slash;
	int fd;

	/* A debuglink is a file name: with a '/' it could name anything. */
	if (debuglink_file && strchr(debuglink_file, '/'))
		debuglink_file = NULL;
	fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					  debuglink_crc, debuginfo_file_name);
	if (fd >= 0 || !file_name || !debuglink_file || !*debuglink_file ||
	    strlen(file_name) >= sizeof(dir))
		return fd;
	strcpy(dir, file_name);
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if (snprintf(path, sizeof(path), "%s%s/%s", dir, subdirs[i], debuglink_file) >=
		    (int)sizeof(path))
			continue;
		/* Below /proc/PID/root: resolved inside it, never blocking, regular only. */
		fd = rootfs__open(path, NULL);
		if (fd < 0)
			continue;
		if (!debug_file_matches(mod, fd, debuglink_crc)) {
			log_debug("%s: not the debug file of %s", path, file_name);
			close(fd);
			continue;
		}
		*debuginfo_file_name = strdup(path);
		return fd;
	}
	return -1;
}
