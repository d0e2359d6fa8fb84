// SPDX-License-Identifier: MIT
/* goruntime and gobin on the Go targets built by every installed toolchain
 * (build/tests/targets/go/1.XX/, tests/build.mk): runtime.MemProfileRate from the code agrees with
 * .symtab where both exist and is found in stripped builds; the Go version is read, also from
 * runtime.buildVersion when .go.buildinfo is gone. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/gobin.h"
#include "symbols/godwarf.h"
#include "symbols/goruntime.h"
#include "test.h"

static const char *targets_dir(void)
{
	static char dir[4096];

	/* build/tests/fixtures/.. is build/tests. */
	snprintf(dir, sizeof(dir), "%s/../targets/go", test__fixture(""));
	return dir;
}

TEST(goruntime_rate_per_go_version)
{
	static const char *const with_symtab[] = {"goalloc", "goalloc-pie", "gonoprofweb"};
	static const char *const stripped[] = {"goalloc-stripped", "gonoprofweb-stripped"};
	DIR *d = opendir(targets_dir());
	struct dirent *e;
	int versions = 0;

	if (!d) {
		test__skip("no Go targets built (make test-targets)");
		return;
	}
	while ((e = readdir(d))) {
		char path[4096 + 512], want[16];
		struct go_runtime gr;
		int minor;

		if (sscanf(e->d_name, "1.%d", &minor) != 1)
			continue;
		versions++;
		snprintf(want, sizeof(want), "go1.%d", minor);
		for (size_t i = 0; i < sizeof(with_symtab) / sizeof(*with_symtab); i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", targets_dir(), e->d_name,
				 with_symtab[i]);
			if (!ASSERT_OK(goruntime__inspect(path, &gr), path))
				continue;
			ASSERT_EQ(gr.minor, minor, path);
			ASSERT_TRUE(!strncmp(gr.version, want, strlen(want)), path);
			ASSERT_TRUE(gr.known, path);
			ASSERT_EQ(gr.memprofilerate_from_symbol, 1, path);
			ASSERT_TRUE(gr.memprofilerate_vaddr != 0, path);
			ASSERT_EQ(gr.memprofilerate_code_vaddr, gr.memprofilerate_vaddr, path);
			/* The table agrees with the runtime's own DWARF, for every version here. */
			ASSERT_EQ(gr.layout_from_dwarf, 1, path);
			ASSERT_EQ(gr.layout_differs, 0, path);
			ASSERT_EQ(gr.g_fixed_ok, 1, path);
		}
		for (size_t i = 0; i < sizeof(stripped) / sizeof(*stripped); i++) {
			snprintf(path, sizeof(path), "%s/%s/%s", targets_dir(), e->d_name,
				 stripped[i]);
			if (!ASSERT_OK(goruntime__inspect(path, &gr), path))
				continue;
			ASSERT_EQ(gr.memprofilerate_from_symbol, 0, path);
			ASSERT_EQ(gr.layout_from_dwarf, 0, path);
			ASSERT_TRUE(gr.memprofilerate_vaddr != 0, path);
			ASSERT_TRUE(gr.mprof_malloc.vaddr && gr.free_special.vaddr &&
					gr.mallocgc.vaddr && gr.gc_start.vaddr &&
					gr.gc_mark_term.vaddr,
				    path);
		}
	}
	closedir(d);
	if (!versions)
		test__skip("no Go targets built (make test-targets)");
}

/* The DWARF's offsets are read as the runtime declares them (Go 1.19-1.23 share these). */
TEST(godwarf_offsets_of_the_runtime)
{
	char path[4096 + 64];
	struct go_dwarf dw;
	Elf *elf;
	int fd;

	snprintf(path, sizeof(path), "%s/1.23/goalloc", targets_dir());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		test__skip("no Go 1.23 target built (golang-1.23-go, make test-targets)");
		return;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (ASSERT_OK_PTR(elf, "elf") && ASSERT_OK(godwarf__read(elf, &dw), "read")) {
		ASSERT_EQ(dw.m_curg, 192, "m.curg");
		ASSERT_EQ(dw.g_stack, 0, "g.stack");
		ASSERT_EQ(dw.g_m, 48, "g.m");
		ASSERT_EQ(dw.g_sched, 56, "g.sched");
		ASSERT_EQ(dw.gobuf_sp, 0, "gobuf.sp");
		ASSERT_EQ(dw.gobuf_bp, 48, "gobuf.bp");
		ASSERT_EQ(dw.special_kind, 10, "special.kind");
	}
	if (elf)
		elf_end(elf);
	close(fd);
}

/* A copy of a stripped build with its .go.buildinfo magic overwritten, as release builds that
 * drop the build information look: the version comes from runtime.buildVersion. */
TEST(gobin_version_without_buildinfo)
{
	char src[4096 + 64], tmp[] = "/tmp/allocscope-gobin-XXXXXX";
	struct gobin *g = NULL, *g2 = NULL;
	char *buf = NULL, *hit;
	size_t len = 0, cap = 0;
	FILE *f;
	int fd = -1;

	snprintf(src, sizeof(src), "%s/goalloc-stripped", targets_dir());
	f = fopen(src, "rb");
	if (!f) {
		test__skip("no goalloc-stripped built (make test-targets)");
		return;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			if (!ASSERT_OK_PTR(buf, "realloc"))
				goto cleanup;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	g = gobin__open(src);
	if (!ASSERT_OK_PTR(g, src) || !ASSERT_OK_PTR(gobin__version(g), "version"))
		goto cleanup;
	hit = memmem(buf, len, "\xff Go buildinf:", 14);
	if (!ASSERT_OK_PTR(hit, "build information in the file"))
		goto cleanup;
	memset(hit, 'x', 14);
	fd = mkstemp(tmp);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp") ||
	    !ASSERT_EQ(write(fd, buf, len), (long long)len, "write"))
		goto cleanup;
	g2 = gobin__open(tmp);
	if (ASSERT_OK_PTR(g2, tmp))
		ASSERT_STREQ(gobin__version(g2), gobin__version(g), "version from buildVersion");
	ASSERT_TRUE(g2 && !gobin__module_path(g2), "no module path without build information");
cleanup:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	gobin__close(g);
	gobin__close(g2);
	free(buf);
	fclose(f);
}
