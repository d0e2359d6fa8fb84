// SPDX-License-Identifier: MIT
/* The CLI's number parsers, parse_size() and parse_seconds(), on arbitrary strings. The CLI's
 * main() is renamed at compile time and dropped at link time with its subcommands
 * (tests/fuzz.mk), so that libFuzzer's is the program's. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long bytes = 0xdeadbeef;
	double secs = -1;
	char *s;
	int err;

	s = fuzz_strdup(data, size);
	if (!s)
		return 0;
	err = parse_size(s, &bytes);
	FUZZ_CHECK(err == 0 || err == -EINVAL);
	/* A failed parse leaves the output alone. */
	FUZZ_CHECK(err == 0 || bytes == 0xdeadbeef);
	/* Only digits and one of k/m/g[i][b] are accepted: the value is their product. */
	if (err == 0 && s[0] >= '0' && s[0] <= '9')
		FUZZ_CHECK(bytes == 0 || bytes >= strtoull(s, NULL, 10));
	err = parse_seconds(s, &secs);
	FUZZ_CHECK(err == 0 || err == -EINVAL);
	if (err == 0)
		FUZZ_CHECK(secs >= 0 && isfinite(secs));
	else
		FUZZ_CHECK(secs == -1);
	free(s);
	return 0;
}
