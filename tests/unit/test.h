/* SPDX-License-Identifier: MIT */
/* A small test harness in the spirit of the kernel's test_progs: assertions return a bool so
 * that they double as the error check, and each test registers itself at start-up. */
#ifndef ALLOCSCOPE_TEST_H
#define ALLOCSCOPE_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test__register(struct test_case *tc);
/* Records one failed assertion of the running test; always returns false. */
bool test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Path of a fixture built next to the test binary (build/tests/fixtures/NAME). */
const char *test__fixture(const char *name);
/* Skip the running test with a reason that is printed in the summary: for what no CI machine
 * has either (a kernel feature, root where the suite runs unprivileged). */
void test__skip(const char *reason);
/* Skip for want of something that .ci/run installs or the build makes (a tool, a fixture): a
 * skip outside CI, a failure when the environment has CI set, where its absence is a bug. */
void test__skip_dep(const char *reason);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	static struct test_case tc_##name = {#name, test_##name, NULL};                            \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		test__register(&tc_##name);                                                        \
	}                                                                                          \
	static void test_##name(void)

#define ASSERT_TRUE(cond, what)                                                                    \
	((cond) ? true : test__fail(__FILE__, __LINE__, "%s: expected true: %s", what, #cond))

#define ASSERT_OK(err, what)                                                                       \
	({                                                                                         \
		long __e = (long)(err);                                                            \
		__e == 0 ? true                                                                    \
			 : test__fail(__FILE__, __LINE__, "%s: error %ld (%s)", what, __e,         \
				      strerror(__e < 0 ? -__e : __e));                             \
	})

#define ASSERT_OK_PTR(ptr, what)                                                                   \
	((ptr) != NULL ? true                                                                      \
		       : test__fail(__FILE__, __LINE__, "%s: NULL (%s)", what, strerror(errno)))

#define ASSERT_EQ(a, b, what)                                                                      \
	({                                                                                         \
		long long __a = (long long)(a), __b = (long long)(b);                              \
		__a == __b ? true                                                                  \
			   : test__fail(__FILE__, __LINE__, "%s: %lld != %lld", what, __a, __b);   \
	})

#define ASSERT_STREQ(a, b, what)                                                                   \
	({                                                                                         \
		const char *__a = (a), *__b = (b);                                                 \
		(__a && __b && strcmp(__a, __b) == 0)                                              \
		    ? true                                                                         \
		    : test__fail(__FILE__, __LINE__, "%s: \"%s\" != \"%s\"", what,                 \
				 __a ? __a : "(null)", __b ? __b : "(null)");                      \
	})

#endif
