// SPDX-License-Identifier: MIT
/* escape_log__parse() on arbitrary `go build -gcflags=-m` output, then what explain does with a
 * parsed log: every line has a file, a position and a text, and its file is found again by
 * name; lookups of a path the log does not hold find nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/escape.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct escape_line *out[8];
	struct escape_log *log;
	char *buf;

	/* A copy of exactly size bytes, no terminator: the parser takes a length. */
	buf = malloc(size ?: 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	log = escape_log__parse(buf, size);
	free(buf); /* the log must own every string it hands out */
	if (!log)
		return 0;
	for (size_t i = 0; i < escape_log__cnt(log) && i < 64; i++) {
		const struct escape_line *l = escape_log__line(log, i);

		FUZZ_CHECK(l && l->file && l->pos && l->text);
		FUZZ_CHECK(escape_kind__name(l->kind) != NULL);
		/* Any spelling but a degenerate one ("", "./") names its own file. */
		if (escape_path_matches(l->file, l->file))
			FUZZ_CHECK(escape_log__find_file(log, l->file) != NULL);
		escape_log__match(log, l->file, l->line, out, 8);
	}
	/* No file of the log holds a newline: lines are split on them. */
	FUZZ_CHECK(escape_log__find_file(log, "/no/\n.go") == NULL);
	FUZZ_CHECK(escape_log__match(log, "/no/\n.go", 1, out, 8) == 0);
	escape_log__line(log, escape_log__cnt(log)); /* past the end: NULL, never a read past */
	escape_log__free(log);
	return 0;
}
