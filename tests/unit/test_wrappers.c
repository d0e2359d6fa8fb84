// SPDX-License-Identifier: MIT
/* Allocator wrappers: the built-in list, --wrapper expressions matched against whole names, and
 * the short names the allocator label uses. */
#include <errno.h>

#include "test.h"
#include "util/common.h"
#include "profile/wrappers.h"

TEST(wrappers_builtin)
{
	static const char *const yes[] = {"zmalloc",
					  "ztrymalloc_usable",
					  "ztryrealloc_usable_internal",
					  "xmalloc",
					  "xstrdup",
					  "g_malloc0",
					  "g_try_realloc",
					  "PyMem_Malloc",
					  "PyObject_Malloc",
					  "PyMem_RawMalloc",
					  "Perl_safesysmalloc",
					  "zmalloc@plt"};
	static const char *const no[] = {"malloc",    "main",	    "zmalloc_size",
					 "xmalloc2",  "my_zmalloc", "g_free",
					 "sdsnewlen", "",	    "PyMem_Free"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		ASSERT_TRUE(wrappers__match(NULL, yes[i]), yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		ASSERT_TRUE(!wrappers__match(NULL, no[i]), no[i]);
	ASSERT_TRUE(!wrappers__match(NULL, NULL), "NULL");
}

TEST(wrappers_regex_whole_names)
{
	const char *const res[] = {"my_(alloc|zalloc)", "pool_.*_new"};
	struct wrappers *w = wrappers__new(res, ARRAY_SIZE(res));

	if (!ASSERT_OK_PTR(w, "compile"))
		return;
	ASSERT_TRUE(wrappers__match(w, "my_alloc"), "my_alloc");
	ASSERT_TRUE(wrappers__match(w, "my_zalloc"), "my_zalloc");
	ASSERT_TRUE(wrappers__match(w, "pool_block_new"), "pool_block_new");
	ASSERT_TRUE(!wrappers__match(w, "my_alloc_stats"), "a whole name, not a prefix");
	ASSERT_TRUE(!wrappers__match(w, "do_my_alloc"), "nor a suffix");
	ASSERT_TRUE(wrappers__match(w, "xmalloc"), "the built-in list still counts");
	wrappers__free(w);

	errno = 0;
	w = wrappers__new((const char *const[]){"bad("}, 1);
	ASSERT_TRUE(!w && errno == EINVAL, "a bad expression is refused");
	wrappers__free(w);
	ASSERT_EQ(wrappers__check("--wrapper", "ok_[a-z]+"), 0, "check: good");
	ASSERT_EQ(wrappers__check("--wrapper", "[z"), -EINVAL, "check: bad");
	ASSERT_EQ(wrappers__check("--wrapper", ""), -EINVAL, "check: empty");
}

TEST(wrappers_short_name)
{
	char buf[64];

	ASSERT_STREQ(wrappers__short_name("operator new(unsigned long)", buf, sizeof(buf)),
		     "operator new", "C++ parameters dropped");
	ASSERT_STREQ(wrappers__short_name("strdup@GLIBC_2.2.5", buf, sizeof(buf)), "strdup",
		     "version dropped");
	ASSERT_STREQ(wrappers__short_name("(anonymous namespace)::f", buf, sizeof(buf)),
		     "(anonymous namespace)::f", "a leading parenthesis stays");
	ASSERT_STREQ(wrappers__short_name("zmalloc", buf, sizeof(buf)), "zmalloc", "plain");
}
