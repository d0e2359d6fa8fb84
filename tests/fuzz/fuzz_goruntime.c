// SPDX-License-Identifier: MIT
/* goruntime__inspect() on an arbitrary file: the Go reader, the runtime's functions by name, the
 * .symtab search and the capstone scan of runtime.mallocgc for runtime.MemProfileRate. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "symbols/goruntime.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_mapping m = {.start = 0x400000, .end = 0x800000, .path = "/fuzz/exe"};
	struct proc_maps maps = {.maps = &m, .cnt = 1};
	struct go_runtime gr;
	const char *path;
	int err;

	path = fuzz_write_tmp(data, size);
	err = goruntime__inspect(path, &gr);
	FUZZ_CHECK(err <= 0);
	if (err)
		return 0;
	FUZZ_CHECK(memchr(gr.version, '\0', sizeof(gr.version)));
	FUZZ_CHECK(gr.minor > 0);
	if (gr.memprofilerate_vaddr)
		goruntime__var_addr(&gr, &maps, "/fuzz/exe", gr.memprofilerate_vaddr);
	return 0;
}
