// SPDX-License-Identifier: MIT
/* symbolizer: names, lines and inlined frames against fixtures built from tests/fixtures/, with
 * expected lines taken from the sources' LINE_* markers (expect.txt); stripped, separate-debug,
 * C++ and corrupt files; and this test binary itself through its real /proc/self/maps. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "util/log.h"
#include "symbols/procmaps.h"
#include "symbols/symbolize.h"
#include "test.h"

#define MAX_FRAMES 8

static void fixture_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s", test__fixture(name));
}

/* The value of KEY in expect.txt, written by tests/fixtures.mk; false when missing. */
static bool expect_str(const char *key, char *val, size_t len)
{
	char line[256], k[128], v[128];
	bool found = false;
	FILE *f;

	f = fopen(test__fixture("expect.txt"), "r");
	if (!ASSERT_OK_PTR(f, "expect.txt"))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %127s", k, v) == 2 && strcmp(k, key) == 0) {
			snprintf(val, len, "%s", v);
			found = true;
		}
	fclose(f);
	return found ? true : test__fail(__FILE__, __LINE__, "expect.txt has no %s", key);
}

static int expect_line(const char *key)
{
	char v[32];

	return expect_str(key, v, sizeof(v)) ? atoi(v) : -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct symbolizer *new_symbolizer(int demangle, const char *debug_root)
{
	struct symbolizer_opts opts = {.demangle = demangle, .debug_root = debug_root};

	return symbolizer__new(&opts);
}

TEST(symbolize_o0_functions_lines)
{
	int alpha_line = expect_line("LINE_O0_ALPHA_ENTRY");
	int gamma_line = expect_line("LINE_O0_GAMMA_ENTRY");
	int call_line = expect_line("LINE_O0_BETA_CALL");
	__u64 vaddr, off, size, beta, beta_size, a;
	struct sym_frame fr[MAX_FRAMES];
	char path[PATH_MAX], id[128], want_id[128];
	struct symbolizer *s;
	int n, err, call_hits = 0;

	fixture_path(path, sizeof(path), "prog_o0");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	err = symbolizer__func_offset(s, path, "alpha", &vaddr, &off, &size);
	if (!ASSERT_OK(err, "func_offset alpha"))
		goto cleanup;
	/* Non-PIE: the text segment maps file offset 0x1000 at 0x401000. */
	ASSERT_EQ(vaddr - off, 0x400000, "vaddr - file offset");
	ASSERT_TRUE(size > 0 && size < 64, "alpha size");

	n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
	if (ASSERT_EQ(n, 1, "alpha frames")) {
		ASSERT_STREQ(fr[0].function, "alpha", "alpha name");
		ASSERT_STREQ(fr[0].system_name, "alpha", "alpha system name");
		ASSERT_TRUE(ends_with(fr[0].file, "/prog_o0.c"), "alpha file");
		ASSERT_TRUE(fr[0].file && fr[0].file[0] == '/', "joined with the compile dir");
		ASSERT_EQ(fr[0].line, alpha_line, "alpha line");
	}

	/* A static function: only .symtab knows it. */
	err = symbolizer__func_offset(s, path, "gamma_local", &vaddr, NULL, NULL);
	if (ASSERT_OK(err, "func_offset gamma_local")) {
		n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
		ASSERT_EQ(n, 1, "gamma frames");
		ASSERT_STREQ(fr[0].function, "gamma_local", "gamma name");
		ASSERT_EQ(fr[0].line, gamma_line, "gamma line");
	}

	/* Every byte of beta is beta; some of it is the marked call line. */
	err = symbolizer__func_offset(s, path, "beta", &beta, NULL, &beta_size);
	if (!ASSERT_OK(err, "func_offset beta"))
		goto cleanup;
	for (a = beta; a < beta + beta_size; a++) {
		n = symbolizer__resolve(s, path, NULL, a, fr, MAX_FRAMES);
		if (!ASSERT_EQ(n, 1, "beta frames") ||
		    !ASSERT_STREQ(fr[0].function, "beta", "beta"))
			break;
		call_hits += fr[0].line == (__u32)call_line;
	}
	ASSERT_TRUE(call_hits > 0, "call line found in beta");

	ASSERT_EQ(symbolizer__has_lines(s, path), 1, "has lines");
	ASSERT_EQ(symbolizer__func_offset(s, path, "alph", NULL, NULL, NULL), -ENOENT, "prefix");
	ASSERT_EQ(symbolizer__func_offset(s, path, "g_missing", NULL, NULL, NULL), -ENOENT, "none");
	ASSERT_EQ(symbolizer__resolve(s, path, NULL, vaddr, fr, 0), -EINVAL, "max_frames 0");

	if (expect_str("BUILD_ID_PROG_O0", want_id, sizeof(want_id))) {
		err = symbolizer__build_id(s, path, id, sizeof(id));
		ASSERT_OK(err, "build_id");
		ASSERT_STREQ(id, want_id, "build id");
		ASSERT_EQ(symbolizer__build_id(s, path, id, 8), -ENOSPC, "short buffer");
	}
cleanup:
	symbolizer__free(s);
}

/* A clang binary has no .debug_aranges: lines come from the CUs' own ranges. */
TEST(symbolize_clang_without_aranges)
{
	int alpha_line = expect_line("LINE_O0_ALPHA_ENTRY");
	int gamma_line = expect_line("LINE_O0_GAMMA_ENTRY");
	struct sym_frame fr[MAX_FRAMES];
	char path[PATH_MAX], cmd[PATH_MAX + 64];
	struct symbolizer *s;
	__u64 vaddr;
	int n;

	fixture_path(path, sizeof(path), "prog_o0.clang");
	snprintf(cmd, sizeof(cmd), "readelf -S '%s' | grep -q debug_aranges", path);
	ASSERT_TRUE(system(cmd) != 0, "the fixture has no .debug_aranges");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	if (ASSERT_OK(symbolizer__func_offset(s, path, "alpha", &vaddr, NULL, NULL), "alpha")) {
		n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
		if (ASSERT_EQ(n, 1, "alpha frames")) {
			ASSERT_STREQ(fr[0].function, "alpha", "alpha name");
			ASSERT_TRUE(ends_with(fr[0].file, "/prog_o0.c"), "alpha file");
			ASSERT_EQ(fr[0].line, alpha_line, "alpha line");
		}
	}
	if (ASSERT_OK(symbolizer__func_offset(s, path, "gamma_local", &vaddr, NULL, NULL),
		      "gamma_local")) {
		n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
		if (ASSERT_EQ(n, 1, "gamma frames"))
			ASSERT_EQ(fr[0].line, gamma_line, "gamma line");
	}
	symbolizer__free(s);
}

/* Paths below /proc/PID/ go with symbolizer__forget_pid; other paths and answers stay. */
TEST(symbolize_forget_pid)
{
	char fixture[PATH_MAX], mine[PATH_MAX + 64], other[PATH_MAX + 64];
	struct sym_frame fr[MAX_FRAMES];
	struct symbolizer *s;
	__u64 vaddr;

	fixture_path(fixture, sizeof(fixture), "prog_o0");
	snprintf(mine, sizeof(mine), "/proc/%d/root%s", getpid(), fixture);
	snprintf(other, sizeof(other), "/proc/1/root%s", fixture);
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	if (!ASSERT_OK(symbolizer__func_offset(s, mine, "alpha", &vaddr, NULL, NULL), "alpha"))
		goto cleanup;
	ASSERT_OK(symbolizer__func_offset(s, fixture, "alpha", &vaddr, NULL, NULL), "plain path");
	symbolizer__func_offset(s, other, "alpha", NULL, NULL, NULL);
	ASSERT_EQ(symbolizer__file_count(s), 3, "three paths cached");
	symbolizer__forget_pid(s, getpid());
	ASSERT_EQ(symbolizer__file_count(s), 2, "the pid's path forgotten");
	/* The others are still found (their probe chains intact), and the forgotten one again. */
	ASSERT_EQ(symbolizer__resolve(s, fixture, NULL, vaddr, fr, MAX_FRAMES), 1, "plain path");
	ASSERT_EQ(symbolizer__resolve(s, mine, NULL, vaddr, fr, MAX_FRAMES), 1, "again");
	ASSERT_EQ(symbolizer__file_count(s), 3, "looked up anew");
	symbolizer__forget_pid(s, 999999999);
	ASSERT_EQ(symbolizer__file_count(s), 3, "another pid forgets nothing");
cleanup:
	symbolizer__free(s);
}

TEST(symbolize_mapping_translation)
{
	struct proc_mapping m = {.perms = PMAP_PERM_READ | PMAP_PERM_EXEC};
	struct sym_frame fr[MAX_FRAMES];
	__u64 vaddr, off, addr;
	char path[PATH_MAX];
	struct symbolizer *s;
	int n, err;

	fixture_path(path, sizeof(path), "prog_o0");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	err = symbolizer__func_offset(s, path, "alpha", &vaddr, &off, NULL);
	if (!ASSERT_OK(err, "func_offset"))
		goto cleanup;
	/* As the loader would map it: a page-aligned offset at an address unrelated to vaddr. */
	m.offset = off & ~0xfffULL;
	m.start = 0x7f3a12340000ULL;
	m.end = m.start + 0x10000;
	m.path = path;
	addr = m.start + (off - m.offset) + 2;

	n = symbolizer__resolve(s, path, &m, addr, fr, MAX_FRAMES);
	if (ASSERT_EQ(n, 1, "frames"))
		ASSERT_STREQ(fr[0].function, "alpha", "translated to alpha");
	ASSERT_EQ(symbolizer__resolve(s, path, &m, m.end, fr, MAX_FRAMES), -ERANGE, "outside m");
	/* A file offset that no PT_LOAD covers is unknown, not an error. */
	m.offset = 0x40000000;
	ASSERT_EQ(symbolizer__resolve(s, path, &m, m.start, fr, MAX_FRAMES), 0, "no PT_LOAD");
cleanup:
	symbolizer__free(s);
}

TEST(symbolize_inlined_frames)
{
	int leaf_line = expect_line("LINE_INL_LEAF");
	int mid_line = expect_line("LINE_INL_MID_CALL");
	int outer_line = expect_line("LINE_INL_OUTER_CALL");
	struct sym_frame fr[MAX_FRAMES];
	int n, err, leaf_hits = 0, mid_hits = 0;
	__u64 outer, size, a, leaf_addr = 0;
	char path[PATH_MAX];
	struct symbolizer *s;

	fixture_path(path, sizeof(path), "inline_o2");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	err = symbolizer__func_offset(s, path, "outer", &outer, NULL, &size);
	if (!ASSERT_OK(err, "func_offset outer"))
		goto cleanup;
	for (a = outer; a < outer + size; a++) {
		n = symbolizer__resolve(s, path, NULL, a, fr, MAX_FRAMES);
		if (!ASSERT_TRUE(n >= 1 && n <= 3, "1 to 3 frames"))
			break;
		/* Whatever the depth, the last frame is the real function. */
		if (!ASSERT_STREQ(fr[n - 1].function, "outer", "outermost"))
			break;
		if (strcmp(fr[0].function, "leaf") == 0) {
			leaf_hits++;
			leaf_addr = a;
			if (!ASSERT_EQ(n, 3, "leaf depth") ||
			    !ASSERT_EQ(fr[0].line, leaf_line, "leaf") ||
			    !ASSERT_STREQ(fr[1].function, "mid", "leaf's caller") ||
			    !ASSERT_EQ(fr[1].line, mid_line, "mid's call line") ||
			    !ASSERT_EQ(fr[2].line, outer_line, "outer's call line") ||
			    !ASSERT_TRUE(ends_with(fr[1].file, "/inline_o2.c"), "call file"))
				break;
		} else if (strcmp(fr[0].function, "mid") == 0) {
			mid_hits++;
			if (!ASSERT_EQ(n, 2, "mid depth") ||
			    !ASSERT_EQ(fr[0].line, mid_line, "mid") ||
			    !ASSERT_EQ(fr[1].line, outer_line, "outer's call line"))
				break;
		} else if (!ASSERT_EQ(n, 1, "outer alone")) {
			break;
		}
	}
	ASSERT_TRUE(leaf_hits > 0, "addresses inside the inlined leaf");

	/* max_frames keeps the innermost ones. */
	if (leaf_addr) {
		n = symbolizer__resolve(s, path, NULL, leaf_addr, fr, 1);
		ASSERT_EQ(n, 1, "truncated");
		ASSERT_STREQ(fr[0].function, "leaf", "innermost kept");
	}
cleanup:
	symbolizer__free(s);
}

TEST(symbolize_stripped)
{
	__u64 vaddr, vaddr2, a;
	struct sym_frame fr[MAX_FRAMES];
	char full[PATH_MAX], path[PATH_MAX], id[128], want_id[128];
	struct symbolizer *s;
	int n, err;

	fixture_path(full, sizeof(full), "prog_o0");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	err = symbolizer__func_offset(s, full, "alpha", &vaddr, NULL, NULL);
	if (!ASSERT_OK(err, "func_offset alpha"))
		goto cleanup;

	/* .symtab only: names, no lines. */
	fixture_path(path, sizeof(path), "prog_o0.stripdebug");
	err = symbolizer__func_offset(s, path, "alpha", &vaddr2, NULL, NULL);
	ASSERT_OK(err, "stripdebug func_offset");
	ASSERT_EQ(vaddr2, vaddr, "same vaddr");
	n = symbolizer__resolve(s, path, NULL, vaddr + 1, fr, MAX_FRAMES);
	if (ASSERT_EQ(n, 1, "stripdebug frames")) {
		ASSERT_STREQ(fr[0].function, "alpha", "stripdebug name");
		ASSERT_TRUE(fr[0].file == NULL && fr[0].line == 0, "no line");
	}
	ASSERT_EQ(symbolizer__has_lines(s, path), 0, "stripdebug has no lines");

	/* Nothing but imports: nothing known, and no crash. */
	fixture_path(path, sizeof(path), "prog_o0.stripall");
	ASSERT_EQ(symbolizer__func_offset(s, path, "alpha", NULL, NULL, NULL), -ENOENT,
		  "stripall func_offset");
	for (a = vaddr; a < vaddr + 8; a++) {
		n = symbolizer__resolve(s, path, NULL, a, fr, MAX_FRAMES);
		if (!ASSERT_EQ(n, 0, "stripall knows nothing"))
			break;
	}
	ASSERT_EQ(symbolizer__has_lines(s, path), 0, "stripall has no lines");
	if (expect_str("BUILD_ID_PROG_O0", want_id, sizeof(want_id))) {
		ASSERT_OK(symbolizer__build_id(s, path, id, sizeof(id)), "stripall build_id");
		ASSERT_STREQ(id, want_id, "the build ID note survives strip");
	}

	/* A shared object's .dynsym still names its exports. */
	fixture_path(path, sizeof(path), "libcxx.stripped.so");
	err = symbolizer__func_offset(s, path, "_ZN8alloc_ns6helperEi", &vaddr, NULL, NULL);
	if (ASSERT_OK(err, "dynsym func_offset")) {
		n = symbolizer__resolve(s, path, NULL, vaddr + 4, fr, MAX_FRAMES);
		if (ASSERT_EQ(n, 1, "dynsym frames")) {
			ASSERT_STREQ(fr[0].function, "alloc_ns::helper(int)", "dynsym demangled");
			ASSERT_TRUE(fr[0].file == NULL, "no file");
		}
	}
cleanup:
	symbolizer__free(s);
}

TEST(symbolize_cxx_demangle)
{
	static const struct {
		const char *mangled;
		const char *demangled;
		const char *line_key;
	} fns[] = {
	    {"_ZN8alloc_ns6helperEi", "alloc_ns::helper(int)", "LINE_CXX_HELPER"},
	    {"_ZN8alloc_nsplERKNS_3VecES2_",
	     "alloc_ns::operator+(alloc_ns::Vec const&, alloc_ns::Vec const&)", "LINE_CXX_OP"},
	    {"_ZNK8alloc_ns6Widget4areaEv", "alloc_ns::Widget::area() const", "LINE_CXX_AREA"},
	};
	struct symbolizer *s = NULL, *raw = NULL;
	struct sym_frame fr[MAX_FRAMES];
	char path[PATH_MAX];
	__u64 vaddr;
	size_t i;
	int n, err;

	fixture_path(path, sizeof(path), "libcxx.so");
	s = new_symbolizer(1, NULL);
	raw = new_symbolizer(0, NULL);
	if (!ASSERT_OK_PTR(s, "new") || !ASSERT_OK_PTR(raw, "new raw"))
		goto cleanup;
	for (i = 0; i < ARRAY_SIZE(fns); i++) {
		err = symbolizer__func_offset(s, path, fns[i].mangled, &vaddr, NULL, NULL);
		if (!ASSERT_OK(err, fns[i].mangled))
			continue;
		n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
		if (!ASSERT_EQ(n, 1, fns[i].mangled))
			continue;
		ASSERT_STREQ(fr[0].function, fns[i].demangled, "demangled");
		ASSERT_STREQ(fr[0].system_name, fns[i].mangled, "system name");
		ASSERT_TRUE(ends_with(fr[0].file, "/cxx_lib.cpp"), "file");
		ASSERT_EQ(fr[0].line, expect_line(fns[i].line_key), fns[i].line_key);

		n = symbolizer__resolve(raw, path, NULL, vaddr, fr, MAX_FRAMES);
		if (ASSERT_EQ(n, 1, "raw"))
			ASSERT_STREQ(fr[0].function, fns[i].mangled, "not demangled when off");
	}
cleanup:
	symbolizer__free(s);
	symbolizer__free(raw);
}

TEST(symbolize_versioned_names)
{
	__u64 v, v1, v2, off, off2;
	char path[PATH_MAX];
	struct symbolizer *s;

	fixture_path(path, sizeof(path), "libver.so");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	if (!ASSERT_OK(symbolizer__func_offset(s, path, "vfunc_v1", &v1, NULL, NULL), "v1") ||
	    !ASSERT_OK(symbolizer__func_offset(s, path, "vfunc_v2", &v2, &off2, NULL), "v2"))
		goto cleanup;
	ASSERT_TRUE(v1 != v2, "distinct");
	/* .symtab has vfunc@@VER_2 and vfunc@VER_1: the default version wins. */
	if (ASSERT_OK(symbolizer__func_offset(s, path, "vfunc", &v, &off, NULL), "vfunc")) {
		ASSERT_EQ(v, v2, "vfunc is the @@ version");
		ASSERT_EQ(off, off2, "file offset");
	}
	if (ASSERT_OK(symbolizer__func_offset(s, path, "vfunc@VER_1", &v, NULL, NULL), "exact"))
		ASSERT_EQ(v, v1, "an exact versioned name");
	ASSERT_EQ(symbolizer__func_offset(s, path, "vfun", NULL, NULL, NULL), -ENOENT, "prefix");
cleanup:
	symbolizer__free(s);
}

TEST(symbolize_separate_debug)
{
	int alpha_line = expect_line("LINE_O0_ALPHA_ENTRY");
	struct symbolizer *s = NULL, *dflt = NULL;
	char path[PATH_MAX], root[PATH_MAX];
	struct sym_frame fr[MAX_FRAMES];
	__u64 vaddr, gamma;
	int n, err;

	fixture_path(path, sizeof(path), "prog_o0");
	fixture_path(root, sizeof(root), "debugroot");
	s = new_symbolizer(1, root);
	dflt = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new") || !ASSERT_OK_PTR(dflt, "new default"))
		goto cleanup;
	err = symbolizer__func_offset(s, path, "alpha", &vaddr, NULL, NULL);
	if (!ASSERT_OK(err, "func_offset on the unstripped file"))
		goto cleanup;

	fixture_path(path, sizeof(path), "prog_o0.sepdebug");
	n = symbolizer__resolve(s, path, NULL, vaddr, fr, MAX_FRAMES);
	if (ASSERT_EQ(n, 1, "frames")) {
		ASSERT_STREQ(fr[0].function, "alpha", "name from the debug file's .symtab");
		ASSERT_TRUE(ends_with(fr[0].file, "/prog_o0.c"), "file from the debug file");
		ASSERT_EQ(fr[0].line, alpha_line, "line from the debug file");
	}
	ASSERT_EQ(symbolizer__has_lines(s, path), 1, "has lines through build ID");
	err = symbolizer__func_offset(s, path, "gamma_local", &gamma, NULL, NULL);
	ASSERT_OK(err, "a static function from the debug file's .symtab");

	/* Without the debug root the same file has neither. */
	ASSERT_EQ(symbolizer__has_lines(dflt, path), 0, "default path: no lines");
	ASSERT_EQ(symbolizer__func_offset(dflt, path, "gamma_local", NULL, NULL, NULL), -ENOENT,
		  "default path: no .symtab");
cleanup:
	symbolizer__free(s);
	symbolizer__free(dflt);
}

TEST(symbolize_bad_files)
{
	static const struct {
		const char *name;
		int err;
	} bad[] = {
	    {"corrupt_trunc40.elf", -ENOEXEC},
	    {"corrupt_trunc1k.elf", -ENOEXEC},
	    {"corrupt_shdr_garbage.elf", -ENOEXEC},
	    {"corrupt_shdr_lie.elf", -ENOEXEC},
	    {"expect.txt", -ENOEXEC},
	    {"maps", -EISDIR},
	    {"no-such-file", -ENOENT},
	};
	enum log_level saved = log_get_level();
	struct sym_frame fr[MAX_FRAMES];
	char path[PATH_MAX], id[128];
	struct symbolizer *s;
	size_t i;

	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new"))
		return;
	/* Each bad file is reported once as a warning; the test output need not show them. */
	log_set_level(LOG_LVL_ERROR);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		fixture_path(path, sizeof(path), bad[i].name);
		ASSERT_EQ(symbolizer__resolve(s, path, NULL, 0x401000, fr, MAX_FRAMES), bad[i].err,
			  bad[i].name);
		/* The error is remembered: the same answer from every entry point. */
		ASSERT_EQ(symbolizer__resolve(s, path, NULL, 0x401000, fr, MAX_FRAMES), bad[i].err,
			  "again");
		ASSERT_EQ(symbolizer__build_id(s, path, id, sizeof(id)), bad[i].err, "build_id");
		ASSERT_EQ(symbolizer__func_offset(s, path, "alpha", NULL, NULL, NULL), bad[i].err,
			  "func_offset");
		ASSERT_EQ(symbolizer__has_lines(s, path), bad[i].err, "has_lines");
	}
	log_set_level(saved);
	symbolizer__free(s);
}

/* Deterministic random byte flips of prog_o0, headers favoured: every call must return a value
 * the API allows, and nothing may crash. */
TEST(symbolize_fuzz_no_crash)
{
	char dir[] = "/tmp/allocscope-fuzz-XXXXXX", path[PATH_MAX + 32], src[PATH_MAX];
	enum log_level saved = log_get_level();
	int i, j, fd = -1, n, err, rejected = 0, accepted = 0;
	unsigned char *orig = NULL, *buf = NULL;
	struct sym_frame fr[MAX_FRAMES];
	struct symbolizer *s = NULL;
	__u32 state = 12345;
	__u64 alpha = 0;
	struct stat st;
	char id[128];
	size_t pos;

	fixture_path(src, sizeof(src), "prog_o0");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new") || !ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		goto cleanup;
	ASSERT_OK(symbolizer__func_offset(s, src, "alpha", &alpha, NULL, NULL), "alpha");
	fd = open(src, O_RDONLY);
	if (!ASSERT_TRUE(fd >= 0 && fstat(fd, &st) == 0, "open prog_o0"))
		goto cleanup;
	orig = malloc(st.st_size);
	buf = malloc(st.st_size);
	if (!ASSERT_OK_PTR(orig, "malloc") || !ASSERT_OK_PTR(buf, "malloc") ||
	    !ASSERT_EQ(pread(fd, orig, st.st_size, 0), st.st_size, "read prog_o0"))
		goto cleanup;
	close(fd);
	fd = -1;

	log_set_level(LOG_LVL_ERROR);
	for (i = 0; i < 300; i++) {
		memcpy(buf, orig, st.st_size);
		for (j = 0; j < 1 + i % 8; j++) {
			state = state * 1103515245 + 12345;
			pos = (state >> 8) % (j & 1 ? (size_t)st.st_size : 0x400);
			state = state * 1103515245 + 12345;
			buf[pos] = state >> 16;
		}
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (!ASSERT_TRUE(fd >= 0, "create") ||
		    !ASSERT_EQ(write(fd, buf, st.st_size), st.st_size, "write"))
			goto cleanup;
		close(fd);
		fd = -1;

		n = symbolizer__resolve(s, path, NULL, alpha, fr, MAX_FRAMES);
		if (!ASSERT_TRUE(n >= 0 || n == -ENOEXEC, "resolve"))
			break;
		if (n < 0)
			rejected++;
		else
			accepted++;
		err = symbolizer__resolve(s, path, NULL, alpha + 0x40, fr, MAX_FRAMES);
		ASSERT_TRUE(err >= 0 || err == -ENOEXEC, "resolve 2");
		err = symbolizer__build_id(s, path, id, sizeof(id));
		ASSERT_TRUE(err == 0 || err == -ENOEXEC, "build_id");
		err = symbolizer__func_offset(s, path, "beta", NULL, NULL, NULL);
		ASSERT_TRUE(err == 0 || err == -ENOENT || err == -ERANGE || err == -ENOEXEC,
			    "f_off");
		err = symbolizer__has_lines(s, path);
		ASSERT_TRUE(err == 0 || err == 1 || err == -ENOEXEC, "has_lines");
		unlink(path);
	}
	ASSERT_TRUE(rejected > 0 && accepted > 0, "both outcomes exercised");
cleanup:
	log_set_level(saved);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	free(orig);
	free(buf);
	symbolizer__free(s);
}

/* A function of this binary, symbolized through the process's own maps. */
static const int self_marker_line = __LINE__ + 1;
__attribute__((noinline)) int symbolize_self_marker(int x)
{
	return x * 31 + 7;
}

TEST(symbolize_self_through_proc_maps)
{
	int (*volatile fn)(int) = symbolize_self_marker;
	__u64 addr = (__u64)(uintptr_t)fn, vaddr, off, size;
	struct sym_frame fr[MAX_FRAMES], fr2[MAX_FRAMES];
	const struct proc_mapping *m;
	struct symbolizer *s = NULL;
	struct proc_maps pm = {};
	unsigned char code[16];
	int n, n2, fd = -1;

	ASSERT_EQ(fn(1), 38, "marker runs");
	s = new_symbolizer(1, NULL);
	if (!ASSERT_OK_PTR(s, "new") || !ASSERT_OK(proc_maps__read(NULL, getpid(), &pm), "maps"))
		goto cleanup;
	m = proc_maps__find(&pm, addr);
	if (!ASSERT_OK_PTR(m, "mapping of the marker") ||
	    !ASSERT_TRUE(proc_mapping__is_file(m), "f"))
		goto cleanup;

	n = symbolizer__resolve(s, m->path, m, addr, fr, MAX_FRAMES);
	if (!ASSERT_EQ(n, 1, "frames"))
		goto cleanup;
	ASSERT_STREQ(fr[0].function, "symbolize_self_marker", "name");
	if (symbolizer__has_lines(s, m->path) == 1) {
		ASSERT_TRUE(ends_with(fr[0].file, "/test_symbolize.c"), "file");
		ASSERT_TRUE(fr[0].line >= (__u32)self_marker_line &&
				fr[0].line <= (__u32)self_marker_line + 2,
			    "line");
	}

	/* The file offset the probe attacher would use is where the running code came from. */
	if (!ASSERT_OK(
		symbolizer__func_offset(s, m->path, "symbolize_self_marker", &vaddr, &off, &size),
		"func_offset"))
		goto cleanup;
	ASSERT_EQ(m->start + (off - m->offset), addr, "file offset -> process address");
	ASSERT_TRUE(size > 0, "size");
	fd = open(m->path, O_RDONLY);
	if (ASSERT_TRUE(fd >= 0, "open self") &&
	    ASSERT_EQ(pread(fd, code, sizeof(code), off), sizeof(code), "read code"))
		ASSERT_TRUE(memcmp(code, (const void *)(uintptr_t)addr, sizeof(code)) == 0,
			    "same bytes in the file and in memory");

	/* Process address and file vaddr give the same answer. */
	n2 = symbolizer__resolve(s, m->path, NULL, vaddr, fr2, MAX_FRAMES);
	ASSERT_EQ(n2, n, "same depth");
	ASSERT_TRUE(n2 == n && fr2[0].function == fr[0].function && fr2[0].line == fr[0].line,
		    "same interned answer");
cleanup:
	if (fd >= 0)
		close(fd);
	proc_maps__clear(&pm);
	symbolizer__free(s);
}
