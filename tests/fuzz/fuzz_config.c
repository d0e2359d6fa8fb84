// SPDX-License-Identifier: MIT
/* scoped_opts__load_config() on arbitrary files, first as at start, then as a SIGHUP reload:
 * it must accept or refuse with an error, and whatever it accepts must be usable (selectors
 * with a value or a pid, positive settings, a known mode). */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "service/scoped.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static void check_selectors(const struct scoped_opts *o)
{
	for (size_t i = 0; i < o->sel_cnt; i++) {
		const struct selector *s = &o->sels[i];

		if (s->kind == SELECT_PID)
			FUZZ_CHECK(s->pid > 0);
		else if (s->kind != SELECT_ALL_GO)
			FUZZ_CHECK(s->value[0] && memchr(s->value, 0, sizeof(s->value)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_tmp(data, size);
	struct scoped_opts o = {.interval_s = 10, .retention_min = 15, .rate = 512 * 1024};
	size_t cli_sels;
	int err;

	/* One selector from the command line: a reload must keep it. */
	FUZZ_CHECK(scoped_opts__add_selector(&o, SELECT_COMM, "cli", 0) == 0);
	cli_sels = o.sel_cnt;
	err = scoped_opts__load_config(&o, path, 0);
	FUZZ_CHECK(err <= 0);
	check_selectors(&o);
	if (!err) {
		FUZZ_CHECK(o.interval_s >= 0.1 && o.retention_min > 0 && o.rate != 0);
		FUZZ_CHECK(o.watch.mode <= WATCH_MODE_BOTH);
	}
	err = scoped_opts__load_config(&o, path, 1);
	FUZZ_CHECK(err <= 0);
	check_selectors(&o);
	FUZZ_CHECK(o.sel_cnt >= cli_sels && o.sels[0].kind == SELECT_COMM &&
		   !strcmp(o.sels[0].value, "cli"));
	scoped_opts__free_config(&o);
	return 0;
}
