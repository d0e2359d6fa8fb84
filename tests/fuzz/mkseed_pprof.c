// SPDX-License-Identifier: MIT
/* Writes a seed for the pprof fuzzer: a profile as allocscope's own encoder writes it (gzipped,
 * several sample types, mappings with build IDs, inlined lines, string and numeric labels,
 * comments). Usage: mkseed_pprof FILE */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "profile/pprof.h"

int main(int argc, char **argv)
{
	static const struct pprof_value_type types[] = {
	    {"alloc_objects", "count"},
	    {"alloc_space", "bytes"},
	    {"inuse_objects", "count"},
	    {"inuse_space", "bytes"},
	};
	const struct pprof_opts opts = {
	    .sample_types = types,
	    .sample_type_cnt = 4,
	    .period_type = {"space", "bytes"},
	    .period = 524288,
	    .default_sample_type = "inuse_space",
	    .time_nanos = 1700000000000000000LL,
	    .duration_nanos = 30000000000LL,
	};
	const struct pprof_mapping_desc maps[] = {
	    {0x400000, 0x500000, 0, "/usr/bin/app", "0123456789abcdef", 1, 1, 1, 1},
	    {0x7f0000000000, 0x7f0000200000, 0x1000, "/usr/lib/libc.so.6", NULL, 1, 0, 0, 0},
	};
	const struct pprof_line inl[] = {
	    {"makeBuf", NULL, "/src/main.go", 33},
	    {"fill", NULL, "/src/main.go", 38},
	    {"main.outer", "main.outer", "/src/main.go", 45},
	};
	const struct pprof_line lmalloc = {"malloc", "malloc@GLIBC_2.2.5", NULL, 0};
	const struct pprof_line lmain = {"main", NULL, "/src/main.c", 12};
	const struct pprof_label labels[] = {
	    {"cause", "make-slice", 0, NULL},
	    {"bytes", NULL, 4096, "bytes"},
	};
	struct pprof_builder *b = NULL;
	long m1, m2, l1, l2, l3;
	__u64 locs[3];
	__s64 v1[] = {1, 4096, 1, 4096}, v2[] = {10, 640, 0, 0};
	int err = -EINVAL;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	b = pprof__new(&opts);
	if (!b)
		goto cleanup;
	m1 = pprof__add_mapping(b, &maps[0]);
	m2 = pprof__add_mapping(b, &maps[1]);
	if (m1 < 0 || m2 < 0)
		goto cleanup;
	l1 = pprof__add_location(b, m2, 0x7f0000012345, &lmalloc, 1);
	l2 = pprof__add_location(b, m1, 0x401234, inl, 3);
	l3 = pprof__add_location(b, m1, 0x401000, &lmain, 1);
	if (l1 < 0 || l2 < 0 || l3 < 0)
		goto cleanup;
	locs[0] = l1;
	locs[1] = l2;
	locs[2] = l3;
	err = pprof__add_sample(b, locs, 3, v1, labels, 2);
	if (!err)
		err = pprof__add_sample(b, locs + 1, 2, v2, NULL, 0);
	if (!err)
		err = pprof__add_comment(b, "dropped events: 0");
	if (!err)
		err = pprof__write_file(b, argv[1]);
cleanup:
	pprof__free(b);
	if (err) {
		fprintf(stderr, "%s: cannot write a profile: %s\n", argv[1], strerror(-err));
		return 1;
	}
	return 0;
}
