// SPDX-License-Identifier: MIT
/* Runs every registered unit test (or those named on the command line) and prints
 * "N passed, N failed[, N skipped]". */
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

/* The suite's name in the closing line; the BPF-layer suite builds this file with its own. */
#ifndef TEST_SUITE
#define TEST_SUITE "unit"
#endif

static struct test_case *tests;
static int cur_failed;
static const char *cur_skip;
static char fixture_dir[PATH_MAX];

void test__register(struct test_case *tc)
{
	struct test_case **p = &tests;

	/* Keep registration order stable: append. */
	while (*p)
		p = &(*p)->next;
	*p = tc;
}

bool test__fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed++;
	return false;
}

void test__skip(const char *reason)
{
	cur_skip = reason;
}

void test__skip_dep(const char *reason)
{
	const char *ci = getenv("CI");

	if (ci && *ci) {
		fprintf(stderr, "    missing in CI, where .ci/run provides it: %s\n", reason);
		cur_failed++;
		return;
	}
	cur_skip = reason;
}

const char *test__fixture(const char *name)
{
	static char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	int passed = 0, failed = 0, skipped = 0;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("readlink /proc/self/exe");
		return 2;
	}
	self[n] = '\0';
	snprintf(fixture_dir, sizeof(fixture_dir), "%s/fixtures", dirname(self));

	for (struct test_case *tc = tests; tc; tc = tc->next) {
		if (!selected(tc->name, argc, argv))
			continue;
		cur_failed = 0;
		cur_skip = NULL;
		tc->fn();
		/* A test that recorded a failure and then skipped has failed. */
		if (cur_failed) {
			printf("FAIL  %s\n", tc->name);
			failed++;
		} else if (cur_skip) {
			printf("SKIP  %s (%s)\n", tc->name, cur_skip);
			skipped++;
		} else {
			printf("ok    %s\n", tc->name);
			passed++;
		}
	}
	if (skipped)
		printf(TEST_SUITE ": %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf(TEST_SUITE ": %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
