// SPDX-License-Identifier: MIT
/* proc_maps__parse() on arbitrary text, then the invariants lookups rely on: sorted,
 * non-overlapping, non-empty ranges, every path set, and proc_maps__find() agreeing. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "symbols/procmaps.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_maps pm = {};
	size_t bad = 0, i;
	char *buf;
	FILE *f;
	int err;

	/* A copy: fmemopen() wants a writable buffer, and ASan then sees any read past it. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	f = fmemopen(buf, size, "r");
	if (!f) {
		free(buf);
		return 0;
	}
	err = proc_maps__parse(f, &pm, &bad);
	fclose(f);
	FUZZ_CHECK(err <= 0);
	if (err) {
		FUZZ_CHECK(!pm.maps && !pm.cnt);
		goto cleanup;
	}
	for (i = 0; i < pm.cnt; i++) {
		const struct proc_mapping *m = &pm.maps[i];

		FUZZ_CHECK(m->start < m->end);
		FUZZ_CHECK(m->path);
		FUZZ_CHECK(i == 0 || pm.maps[i - 1].end <= m->start);
		FUZZ_CHECK(proc_maps__find(&pm, m->start) == m);
		FUZZ_CHECK(proc_maps__find(&pm, m->end - 1) == m);
		FUZZ_CHECK(!proc_maps__find(&pm, m->end) || proc_maps__find(&pm, m->end) == m + 1);
		if (m->start)
			FUZZ_CHECK(!proc_maps__find(&pm, m->start - 1) ||
				   proc_maps__find(&pm, m->start - 1) == m - 1);
		if (proc_mapping__is_deleted(m))
			FUZZ_CHECK(proc_mapping__is_file(m));
	}
cleanup:
	proc_maps__clear(&pm);
	free(buf);
	return 0;
}
