// SPDX-License-Identifier: MIT
/* The Go binary reader on arbitrary bytes: gobin__open() (ELF, .go.buildinfo, pclntab, the
 * moduledata scan), then every function of the table through gobin__for_each_func(), a sample
 * of them through gobin__resolve() (inline tree, pc-value tables, file table) and
 * gobin__func_by_name(). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "symbols/gobin.h"

#define MAX_FUNCS  64
#define MAX_FRAMES 16

struct funcs {
	const char *name[MAX_FUNCS];
	__u64 entry[MAX_FUNCS];
	size_t cnt, seen;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* Keeps an even spread of the table: every 2^k-th function once the array is full. */
static int collect(const char *name, __u64 entry, void *ctx)
{
	struct funcs *f = ctx;
	size_t stride = f->seen / MAX_FUNCS + 1;

	FUZZ_CHECK(name);
	if (f->seen++ % stride == 0) {
		f->name[f->cnt % MAX_FUNCS] = name;
		f->entry[f->cnt % MAX_FUNCS] = entry;
		f->cnt++;
	}
	return 0;
}

static void resolve(struct gobin *g, __u64 pc)
{
	struct gobin_frame fr[MAX_FRAMES];
	int n = gobin__resolve(g, pc, fr, MAX_FRAMES);

	FUZZ_CHECK(n == -EINVAL || n == -EBADMSG || (n >= 0 && n <= MAX_FRAMES));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(fr[i].function);
		FUZZ_CHECK(strlen(fr[i].function) < SIZE_MAX);
		if (fr[i].file)
			FUZZ_CHECK(strlen(fr[i].file) < SIZE_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct funcs f = {};
	__u64 entry, fsize, pc = 0;
	const char *path, *v, *mod;
	int major, minor, err;
	struct gobin *g;

	path = fuzz_write_tmp(data, size);
	g = gobin__open(path);
	if (!g) {
		FUZZ_CHECK(errno != 0);
		return 0;
	}
	v = gobin__version(g);
	mod = gobin__module_path(g);
	if (v)
		FUZZ_CHECK(strlen(v) < SIZE_MAX);
	if (mod)
		FUZZ_CHECK(strlen(mod) < SIZE_MAX);
	err = gobin__version_num(g, &major, &minor);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -EINVAL);

	err = gobin__for_each_func(g, collect, &f);
	FUZZ_CHECK(err == 0 || err == -EBADMSG);
	for (size_t i = 0; i < f.cnt && i < MAX_FUNCS; i++) {
		resolve(g, f.entry[i]);
		resolve(g, f.entry[i] + 7);
	}
	/* Linear in the table: a few names only (the last one found, one never there). */
	if (f.cnt) {
		err = gobin__func_by_name(g, f.name[(f.cnt - 1) % MAX_FUNCS], &entry, &fsize);
		FUZZ_CHECK(err == 0 || err == -EBADMSG);
		if (err == 0 && fsize > 1)
			resolve(g, entry + fsize - 1);
	}
	err = gobin__func_by_name(g, "runtime.mallocgc", &entry, &fsize);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -EBADMSG);
	err = gobin__func_by_name(g, "no.such.function", &entry, &fsize);
	FUZZ_CHECK(err == -ENOENT || err == -EBADMSG);
	/* An arbitrary pc from the input (e_entry in a real ELF64 header). */
	if (size >= 32)
		memcpy(&pc, data + 24, sizeof(pc));
	resolve(g, pc);
	gobin__close(g);
	return 0;
}
