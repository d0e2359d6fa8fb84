// SPDX-License-Identifier: MIT
/* Where to put a uprobe in a function's first bytes (capstone decoding of code read from the
 * target's file): probe_place__choose() and probe_place__is_emulated() on arbitrary bytes. The
 * first byte picks which registers must survive; the rest is code. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe/probe_place.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_site site;
	uint8_t *code;
	__u32 keep;
	size_t len;
	int err;

	if (size < 1)
		return 0;
	keep = data[0] & 0x7f;
	len = size - 1;
	/* Its own allocation, so that a read past the code is caught. */
	code = malloc(len ? len : 1);
	if (!code)
		return 0;
	memcpy(code, data + 1, len);
	err = probe_place__choose(code, len, 0x401000, keep, &site);
	FUZZ_CHECK(err <= 0);
	if (err == 0) {
		FUZZ_CHECK(site.offset < len || (site.offset == 0 && !site.emulated));
		FUZZ_CHECK(memchr(site.insn, '\0', sizeof(site.insn)));
	}
	probe_place__is_emulated(code, len);
	free(code);
	return 0;
}
