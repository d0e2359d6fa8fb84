// SPDX-License-Identifier: MIT
/* The symbolizer on an arbitrary file: our ELF checks, then libelf/libdw (and the Go reader for
 * Go executables) behind symbolizer__resolve(), __build_id(), __func_offset() and __has_lines().
 * Addresses are taken from the input itself (e_entry, the functions found by name) so that
 * mutated but still plausible files get past the header checks into DWARF and symbol tables. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "symbols/symbolize.h"

#define MAX_FRAMES 16

/* Functions the seed files have: prog_o0, inline_o2, the Go fixtures, libc-like names. */
static const char *const names[] = {"main", "alpha", "main.main", "runtime.mallocgc", "malloc"};

static const char *debug_root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	/* Separate debug files are looked up by build ID below this root only. A root with the
	 * fixtures' debug files lets a mutated prog_o0.sepdebug reach their DWARF. */
	debug_root = getenv("ALLOCSCOPE_FUZZ_DEBUG_ROOT");
	if (!debug_root || !*debug_root)
		debug_root = "/nonexistent/allocscope-fuzz";
	return 0;
}

static void check_frames(const struct sym_frame *fr, int n)
{
	FUZZ_CHECK(n <= MAX_FRAMES);
	for (int i = 0; i < n; i++) {
		/* Strings are owned by the symbolizer: touch them so ASan checks they are live. */
		if (fr[i].function)
			FUZZ_CHECK(strlen(fr[i].function) < SIZE_MAX);
		if (fr[i].system_name)
			FUZZ_CHECK(strlen(fr[i].system_name) < SIZE_MAX);
		if (fr[i].file)
			FUZZ_CHECK(strlen(fr[i].file) < SIZE_MAX);
	}
}

static void resolve(struct symbolizer *s, const char *path, const struct proc_mapping *m,
		    __u64 addr)
{
	struct sym_frame fr[MAX_FRAMES];
	int n;

	n = symbolizer__resolve(s, path, m, addr, fr, MAX_FRAMES);
	if (n > 0)
		check_frames(fr, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct symbolizer_opts opts = {.demangle = 1, .debug_root = debug_root};
	struct proc_mapping m = {.start = 0x7f0000000000ULL,
				 .end = 0x7f0000000000ULL + (1ULL << 32)};
	__u64 entry = 0, vaddr, off, sz;
	struct symbolizer *s;
	const char *path;
	char id[256];
	int err;

	path = fuzz_write_tmp(data, size);
	s = symbolizer__new(&opts);
	if (!s)
		return 0;
	/* e_entry of an ELF64 file; garbage otherwise, which is as good an address as any. */
	if (size >= 32)
		memcpy(&entry, data + 24, sizeof(entry));
	resolve(s, path, NULL, entry);
	err = symbolizer__build_id(s, path, id, sizeof(id));
	FUZZ_CHECK(err <= 0);
	if (err)
		goto cleanup; /* not a usable ELF file: the error is cached, nothing more to reach
			       */
	FUZZ_CHECK(strlen(id) < sizeof(id));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		err = symbolizer__func_offset(s, path, names[i], &vaddr, &off, &sz);
		FUZZ_CHECK(err <= 0);
		if (err)
			continue;
		resolve(s, path, NULL, vaddr);
		resolve(s, path, NULL, vaddr + sz / 2);
		/* The same code through a mapping: file offset -> vaddr via PT_LOAD. */
		m.offset = off & ~0xfffULL;
		resolve(s, path, &m, m.start + (off & 0xfff));
	}
	m.offset = 0;
	resolve(s, path, &m, m.start + entry % (1ULL << 24));
	err = symbolizer__has_lines(s, path);
	FUZZ_CHECK(err == 0 || err == 1);
cleanup:
	symbolizer__free(s);
	return 0;
}
