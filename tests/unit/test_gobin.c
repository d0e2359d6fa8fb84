// SPDX-License-Identifier: MIT
/* gobin: the Go fixture (tests/fixtures/go) built plain, stripped (-s -w), PIE and stripped PIE.
 * Expected values come from the toolchain at build time (gofix.expect: version, module, LINE_*
 * markers, call PCs from objdump; gofix*.nm: `go tool nm` of the unstripped builds). Also non-Go
 * files, and corrupt and truncated copies that must fail cleanly, never crash. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "symbols/gobin.h"
#include "util/log.h"
#include "test.h"

#define MAX_FRAMES	8
#define CORRUPT_ROUNDS	300
#define FLIPS_PER_ROUND 4

struct variant {
	const char *bin;
	const char *nm;	 /* of the unstripped build with the same flags */
	const char *key; /* prefix of its keys in gofix.expect */
};

static const struct variant variants[] = {
    {"go/gofix", "go/gofix.nm", "GOFIX"},
    {"go/gofix.stripped", "go/gofix.nm", "GOFIX"},
    {"go/gofix.pie", "go/gofix.pie.nm", "GOFIX_PIE"},
    {"go/gofix.pie.stripped", "go/gofix.pie.nm", "GOFIX_PIE"},
};

struct nm_sym {
	__u64 addr;
	__u64 size;
	char type;
	char *name;
};

struct nm_table {
	struct nm_sym *syms;
	size_t cnt;
};

static bool expect_str(const char *key, char *val, size_t len)
{
	char line[512], k[128], v[256];
	bool found = false;
	FILE *f;

	f = fopen(test__fixture("go/gofix.expect"), "r");
	if (!ASSERT_OK_PTR(f, "gofix.expect"))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %255s", k, v) == 2 && strcmp(k, key) == 0) {
			snprintf(val, len, "%s", v);
			found = true;
		}
	fclose(f);
	return found ? true : test__fail(__FILE__, __LINE__, "gofix.expect has no %s", key);
}

static long long expect_num(const char *key)
{
	char v[64];

	return expect_str(key, v, sizeof(v)) ? strtoll(v, NULL, 0) : -1;
}

static long long expect_key_num(const char *prefix, const char *suffix)
{
	char key[128];

	snprintf(key, sizeof(key), "%s_%s", prefix, suffix);
	return expect_num(key);
}

static int cmp_nm_name(const void *a, const void *b)
{
	return strcmp(((const struct nm_sym *)a)->name, ((const struct nm_sym *)b)->name);
}

static void nm_free(struct nm_table *t)
{
	for (size_t i = 0; i < t->cnt; i++)
		free(t->syms[i].name);
	free(t->syms);
	memset(t, 0, sizeof(*t));
}

/* The name the runtime sees (cmd/link's pclntab name table): nm shows ABI0 assembly functions
 * with an ".abi0" suffix, and the pclntab abbreviates from the first '[' to the last ']' of a
 * name as "[...]". */
static void runtime_name(char *name, size_t len)
{
	char *open = strchr(name, '['), *close = strrchr(name, ']'), tail[1024];
	size_t n = strlen(name);

	if (n > 5 && strcmp(name + n - 5, ".abi0") == 0)
		name[n - 5] = '\0';
	if (open && close && close > open) {
		snprintf(tail, sizeof(tail), "%s", close + 1);
		snprintf(open, len - (open - name), "[...]%s", tail);
	}
}

/* Text symbols of a `go tool nm -size` listing under their runtime names, sorted by name. */
static bool nm_load(const char *fixture, struct nm_table *t)
{
	char line[1024], name[1000], type;
	unsigned long long addr, size;
	size_t cap = 0;
	bool ok = true;
	FILE *f;

	memset(t, 0, sizeof(*t));
	f = fopen(test__fixture(fixture), "r");
	if (!ASSERT_OK_PTR(f, fixture))
		return false;
	while (ok && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %llu %c %999[^\n]", &addr, &size, &type, name) != 4 ||
		    (type != 'T' && type != 't'))
			continue;
		if (t->cnt == cap) {
			struct nm_sym *n;

			cap = cap ? cap * 2 : 1024;
			n = realloc(t->syms, cap * sizeof(*n));
			ok = ASSERT_OK_PTR(n, "realloc");
			if (!ok)
				break;
			t->syms = n;
		}
		runtime_name(name, sizeof(name));
		t->syms[t->cnt] = (struct nm_sym){addr, size, type, strdup(name)};
		ok = ASSERT_OK_PTR(t->syms[t->cnt].name, "strdup");
		t->cnt++;
	}
	fclose(f);
	if (ok)
		qsort(t->syms, t->cnt, sizeof(*t->syms), cmp_nm_name);
	if (ok)
		ok = ASSERT_TRUE(t->cnt > 1000, "nm listing has the runtime's functions");
	if (!ok)
		nm_free(t);
	return ok;
}

/* The symbol called name, at addr when several share the name (abbreviated generic names). */
static const struct nm_sym *nm_find(const struct nm_table *t, const char *name, __u64 addr)
{
	struct nm_sym key = {.name = (char *)name};
	const struct nm_sym *s, *first, *end = t->syms + t->cnt;

	s = bsearch(&key, t->syms, t->cnt, sizeof(*t->syms), cmp_nm_name);
	if (!s)
		return NULL;
	for (first = s; first > t->syms && strcmp(first[-1].name, name) == 0; first--)
		;
	for (const struct nm_sym *p = first; p < end && strcmp(p->name, name) == 0; p++)
		if (p->addr == addr)
			return p;
	return s;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct gobin *open_fixture(const char *name)
{
	struct gobin *g = gobin__open(test__fixture(name));

	ASSERT_OK_PTR(g, name);
	return g;
}

TEST(gobin_not_go)
{
	enum log_level lvl;
	struct gobin *g;

	g = gobin__open("/bin/true");
	if (ASSERT_TRUE(g == NULL, "/bin/true is not Go"))
		ASSERT_EQ(errno, ENOEXEC, "/bin/true errno");
	gobin__close(g);

	g = gobin__open(test__fixture("go/gofix.expect"));
	if (ASSERT_TRUE(g == NULL, "text file is not Go"))
		ASSERT_EQ(errno, ENOEXEC, "text file errno");
	gobin__close(g);

	/* Quietly: the failure to open is logged as a warning. */
	lvl = log_get_level();
	log_set_level(LOG_LVL_ERROR);
	g = gobin__open(test__fixture("go/does-not-exist"));
	log_set_level(lvl);
	if (ASSERT_TRUE(g == NULL, "missing file"))
		ASSERT_EQ(errno, ENOENT, "missing file errno");
	gobin__close(g);
}

TEST(gobin_version_module)
{
	char want[64], module[256];
	int want_major, want_minor;

	if (!expect_str("GO_VERSION", want, sizeof(want)) ||
	    !expect_str("GO_MODULE", module, sizeof(module)) ||
	    !ASSERT_EQ(sscanf(want, "go%d.%d", &want_major, &want_minor), 2, "parse GO_VERSION"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct gobin *g = open_fixture(variants[i].bin);
		int major = -1, minor = -1;

		if (!g)
			continue;
		ASSERT_STREQ(gobin__version(g), want, variants[i].bin);
		if (ASSERT_OK(gobin__version_num(g, &major, &minor), "version_num")) {
			ASSERT_EQ(major, want_major, "major");
			ASSERT_EQ(minor, want_minor, "minor");
		}
		ASSERT_STREQ(gobin__module_path(g), module, "module path");
		gobin__close(g);
	}
}

struct nm_check {
	const struct nm_table *nm;
	int funcs;
	int mismatched;
};

static int check_against_nm(const char *name, __u64 entry, void *ctx)
{
	struct nm_check *c = ctx;
	const struct nm_sym *s = nm_find(c->nm, name, entry);

	c->funcs++;
	if (!s || s->addr != entry) {
		/* Report the first few; the count is asserted. */
		if (c->mismatched++ < 5)
			fprintf(stderr, "    %s at %#llx: nm has %#llx\n", name,
				(unsigned long long)entry, s ? (unsigned long long)s->addr : 0ULL);
	}
	return 0;
}

/* Every pclntab function is in nm at the same address, and the functions of the fixture and
 * the allocator are found by name, with the size up to the next function. */
TEST(gobin_funcs_match_nm)
{
	static const char *const names[] = {
	    "main.main",	 "main.allocNode",    "main.outer",	   "runtime.mallocgc",
	    "runtime.newobject", "runtime.makeslice", "runtime.growslice",
	};

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		const struct variant *v = &variants[i];
		struct nm_check c = {};
		struct nm_table nm;
		struct gobin *g;

		if (!nm_load(v->nm, &nm))
			continue;
		g = open_fixture(v->bin);
		if (!g) {
			nm_free(&nm);
			continue;
		}
		c.nm = &nm;
		ASSERT_OK(gobin__for_each_func(g, check_against_nm, &c), "for_each_func");
		ASSERT_EQ(c.mismatched, 0, v->bin);
		/* nm lists a few more text symbols (runtime.text, runtime.etext, go.buildid). */
		ASSERT_TRUE(c.funcs > 1000 && (size_t)c.funcs + 16 >= nm.cnt, "function count");

		for (size_t j = 0; j < ARRAY_SIZE(names); j++) {
			const struct nm_sym *s = nm_find(&nm, names[j], 0);
			__u64 entry = 0, size = 0;

			if (!ASSERT_OK_PTR(s, names[j]) ||
			    !ASSERT_OK(gobin__func_by_name(g, names[j], &entry, &size), names[j]))
				continue;
			ASSERT_EQ(entry, s->addr, names[j]);
			/* Functions are 32-byte aligned on amd64: size covers the padding. */
			ASSERT_TRUE(size >= s->size && size < s->size + 64, names[j]);
		}
		ASSERT_EQ(gobin__func_by_name(g, "main.noSuchFunction", &(__u64){0}, &(__u64){0}),
			  -ENOENT, "unknown name");
		gobin__close(g);
		nm_free(&nm);
	}
}

TEST(gobin_line_of_alloc)
{
	long long line = expect_num("LINE_ALLOC");

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		long long pc = expect_key_num(variants[i].key, "PC_ALLOC");
		struct gobin_frame fr[MAX_FRAMES];
		struct gobin *g;
		int n;

		g = open_fixture(variants[i].bin);
		if (!g || !ASSERT_TRUE(pc > 0 && line > 0, "expected values"))
			goto next;
		n = gobin__resolve(g, pc, fr, MAX_FRAMES);
		if (!ASSERT_EQ(n, 1, variants[i].bin))
			goto next;
		ASSERT_STREQ(fr[0].function, "main.allocNode", "function");
		ASSERT_TRUE(ends_with(fr[0].file, "/main.go"), "file");
		ASSERT_EQ(fr[0].line, line, "line");
	next:
		gobin__close(g);
	}
}

/* makeBuf is inlined into fill, fill into outer: innermost first, each with its own line. */
TEST(gobin_inlined_frames)
{
	long long inner = expect_num("LINE_INL_INNER"), mid = expect_num("LINE_INL_MID");
	long long outer = expect_num("LINE_INL_OUTER");

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		long long pc = expect_key_num(variants[i].key, "PC_INL");
		struct gobin_frame fr[MAX_FRAMES];
		struct gobin *g;
		int n;

		g = open_fixture(variants[i].bin);
		if (!g || !ASSERT_TRUE(pc > 0, "PC_INL"))
			goto next;
		n = gobin__resolve(g, pc, fr, MAX_FRAMES);
		if (!ASSERT_EQ(n, 3, variants[i].bin))
			goto next;
		ASSERT_STREQ(fr[0].function, "main.makeBuf", "innermost");
		ASSERT_EQ(fr[0].line, inner, "innermost line");
		ASSERT_STREQ(fr[1].function, "main.fill", "middle");
		ASSERT_EQ(fr[1].line, mid, "middle line");
		ASSERT_STREQ(fr[2].function, "main.outer", "outermost");
		ASSERT_EQ(fr[2].line, outer, "outermost line");
		for (int j = 0; j < n; j++)
			ASSERT_TRUE(ends_with(fr[j].file, "/main.go"), "file");

		/* Room for one frame: the innermost. */
		n = gobin__resolve(g, pc, fr, 1);
		if (ASSERT_EQ(n, 1, "max 1"))
			ASSERT_STREQ(fr[0].function, "main.makeBuf", "max 1 innermost");
	next:
		gobin__close(g);
	}
}

struct entry_check {
	struct gobin *g;
	int checked;
	int wrong;
};

/* At its entry every function is itself, the outermost frame. */
static int check_entry(const char *name, __u64 entry, void *ctx)
{
	struct entry_check *c = ctx;
	struct gobin_frame fr[MAX_FRAMES];
	int n = gobin__resolve(c->g, entry, fr, MAX_FRAMES);

	c->checked++;
	if (n < 1 || n > MAX_FRAMES || strcmp(fr[n - 1].function, name) != 0) {
		if (c->wrong++ < 5)
			fprintf(stderr, "    %s at %#llx resolves to %d frames, outermost %s\n",
				name, (unsigned long long)entry, n,
				n > 0 ? fr[n - 1].function : "-");
	}
	return 0;
}

static int stop_at_first(const char *name, __u64 entry, void *ctx)
{
	(*(int *)ctx)++;
	return 42;
}

TEST(gobin_every_entry_resolves)
{
	struct gobin_frame fr[MAX_FRAMES];

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct entry_check c = {};
		int calls = 0;

		c.g = open_fixture(variants[i].bin);
		if (!c.g)
			continue;
		ASSERT_OK(gobin__for_each_func(c.g, check_entry, &c), "for_each_func");
		ASSERT_TRUE(c.checked > 1000, "functions checked");
		ASSERT_EQ(c.wrong, 0, variants[i].bin);
		ASSERT_EQ(gobin__for_each_func(c.g, stop_at_first, &calls), 42, "cb stops");
		ASSERT_EQ(calls, 1, "cb calls");
		ASSERT_EQ(gobin__resolve(c.g, 0, fr, MAX_FRAMES), 0, "pc 0");
		ASSERT_EQ(gobin__resolve(c.g, ~0ULL, fr, MAX_FRAMES), 0, "pc ~0");
		ASSERT_EQ(gobin__resolve(c.g, 0x401000, fr, 0), -EINVAL, "max 0");
		gobin__close(c.g);
	}
}

/* File range of a section, found with libelf in the intact file. */
static bool section_range(const char *path, const char *name, size_t *off, size_t *size)
{
	bool found = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && !elf_getshdrstrndx(elf, &shstrndx)) {
		while (!found && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *n;

			if (!gelf_getshdr(scn, &sh))
				continue;
			n = elf_strptr(elf, shstrndx, sh.sh_name);
			if (n && strcmp(n, name) == 0) {
				*off = sh.sh_offset;
				*size = sh.sh_size;
				found = true;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

static bool read_file(const char *path, unsigned char **buf, size_t *len)
{
	struct stat st;
	bool ok = false;
	int fd;

	*buf = NULL;
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || !(*buf = malloc(st.st_size)))
		goto cleanup;
	*len = st.st_size;
	ok = read(fd, *buf, *len) == (ssize_t)*len;
cleanup:
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool write_file(const char *path, const unsigned char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Without section headers (as after sstrip) the pclntab is found by its header's signature,
 * the build information at the start of a data segment and moduledata by its contents. */
TEST(gobin_no_section_headers)
{
	char tmp[] = "/tmp/allocscope-gobin-XXXXXX", want[64];
	long long inner = expect_num("LINE_INL_INNER");
	unsigned char *buf = NULL;
	size_t len = 0;
	int fd;

	fd = mkstemp(tmp);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		return;
	close(fd);
	if (!expect_str("GO_VERSION", want, sizeof(want)))
		goto cleanup;
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		long long pc = expect_key_num(variants[i].key, "PC_INL");
		struct gobin_frame fr[MAX_FRAMES];
		Elf64_Ehdr *eh;
		struct gobin *g;
		__u64 entry, size;

		free(buf);
		if (!ASSERT_TRUE(read_file(test__fixture(variants[i].bin), &buf, &len), "read") ||
		    !ASSERT_TRUE(len > sizeof(*eh), "size"))
			break;
		eh = (Elf64_Ehdr *)buf;
		eh->e_shoff = 0;
		eh->e_shnum = 0;
		eh->e_shstrndx = 0;
		if (!ASSERT_TRUE(write_file(tmp, buf, len), "write copy"))
			break;
		g = gobin__open(tmp);
		if (!ASSERT_OK_PTR(g, variants[i].bin))
			continue;
		ASSERT_STREQ(gobin__version(g), want, "version");
		ASSERT_OK(gobin__func_by_name(g, "runtime.mallocgc", &entry, &size), "mallocgc");
		if (ASSERT_EQ(gobin__resolve(g, pc, fr, MAX_FRAMES), 3, "inlined frames")) {
			ASSERT_STREQ(fr[0].function, "main.makeBuf", "innermost");
			ASSERT_EQ(fr[0].line, inner, "innermost line");
		}
		gobin__close(g);
	}
cleanup:
	free(buf);
	unlink(tmp);
}

static int count_func(const char *name, __u64 entry, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* Exercise everything on a (maybe) damaged file: it may fail, it may not crash. */
static void poke(const char *path, __u64 text_lo, __u64 text_hi, long long pc_inl)
{
	struct gobin_frame fr[MAX_FRAMES];
	struct gobin *g = gobin__open(path);
	__u64 entry, size;
	int major, minor, cnt = 0;

	if (!g) {
		ASSERT_TRUE(errno == ENOEXEC || errno == EBADMSG, "corrupt file errno");
		return;
	}
	gobin__version(g);
	gobin__version_num(g, &major, &minor);
	gobin__module_path(g);
	gobin__for_each_func(g, count_func, &cnt);
	gobin__func_by_name(g, "runtime.mallocgc", &entry, &size);
	gobin__resolve(g, pc_inl, fr, MAX_FRAMES);
	for (__u64 pc = text_lo; pc < text_hi; pc += (text_hi - text_lo) / 97 + 1)
		gobin__resolve(g, pc, fr, MAX_FRAMES);
	gobin__close(g);
}

TEST(gobin_corrupt_copies)
{
	static const char *const bins[] = {"go/gofix.stripped", "go/gofix.pie.stripped"};
	char tmp[] = "/tmp/allocscope-gobin-XXXXXX";
	unsigned char *orig = NULL, *buf = NULL;
	size_t len = 0, pcln_off = 0, pcln_size = 0, bi_off = 0, bi_size = 0;
	long long pc_inl = expect_key_num("GOFIX", "PC_INL");
	enum log_level lvl = log_get_level();
	int fd;

	fd = mkstemp(tmp);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		return;
	close(fd);
	/* Every damaged copy would warn once. */
	log_set_level(LOG_LVL_ERROR);
	srandom(12345);
	for (size_t b = 0; b < ARRAY_SIZE(bins); b++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s", test__fixture(bins[b]));
		if (!ASSERT_TRUE(read_file(path, &orig, &len), path) ||
		    !ASSERT_TRUE(section_range(path, ".go.buildinfo", &bi_off, &bi_size),
				 ".go.buildinfo") ||
		    (!section_range(path, ".gopclntab", &pcln_off, &pcln_size) &&
		     !ASSERT_TRUE(
			 section_range(path, ".data.rel.ro.gopclntab", &pcln_off, &pcln_size),
			 "pclntab section")))
			goto next;
		buf = malloc(len);
		if (!ASSERT_OK_PTR(buf, "malloc"))
			goto next;

		/* Random flips, mostly where the parser looks: the pclntab's header and tables,
		 * the build information, and anywhere (ELF headers, moduledata, inline trees). */
		for (int round = 0; round < CORRUPT_ROUNDS; round++) {
			memcpy(buf, orig, len);
			for (int k = 0; k < FLIPS_PER_ROUND; k++) {
				size_t at;

				switch (random() % 4) {
				case 0:
					at = pcln_off + random() % min_t(size_t, pcln_size, 96);
					break;
				case 1:
					at = pcln_off + random() % pcln_size;
					break;
				case 2:
					at = bi_off + random() % bi_size;
					break;
				default:
					at = random() % len;
					break;
				}
				buf[at] ^= 1 << (random() % 8);
			}
			if (!ASSERT_TRUE(write_file(tmp, buf, len), "write corrupt copy"))
				break;
			poke(tmp, 0x401000, 0x401000 + 0x80000, pc_inl);
		}

		/* Truncated copies: in the headers, inside the pclntab, one byte short. */
		{
			size_t cuts[] = {0,
					 16,
					 64,
					 1000,
					 4096,
					 pcln_off + 40,
					 pcln_off + pcln_size / 2,
					 pcln_off + pcln_size - 1,
					 len / 2,
					 len - 1};

			for (size_t c = 0; c < ARRAY_SIZE(cuts); c++) {
				if (!ASSERT_TRUE(write_file(tmp, orig, min_t(size_t, cuts[c], len)),
						 "write truncated copy"))
					break;
				poke(tmp, 0x401000, 0x401000 + 0x80000, pc_inl);
			}
		}
	next:
		free(orig);
		free(buf);
		orig = buf = NULL;
	}
	log_set_level(lvl);
	unlink(tmp);
}
