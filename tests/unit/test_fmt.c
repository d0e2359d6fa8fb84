// SPDX-License-Identifier: MIT
/* The one byte formatter (daemon/util/fmt.c): the values top, diff, explain and the timeline
 * asserted with their own formatters, and a width that fits their narrowest column. */
#include "util/common.h"
#include "util/fmt.h"
#include "test.h"

#define KIB 1024.0
#define MIB (1024.0 * 1024)

TEST(fmt_bytes_rounding)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
	    {0, "0 B"},
	    {512, "512 B"},
	    {1023, "1023 B"},
	    {1023.4, "1023 B"},
	    {1024, "1.00 KiB"},
	    {1536, "1.50 KiB"}, /* top printed "1.5 KiB" */
	    {10 * KIB - 1, "10.0 KiB"},
	    {99.97 * KIB, "100 KiB"}, /* never "100.0" */
	    {100000, "97.7 KiB"},
	    {200000, "195 KiB"}, /* diff printed "195.3 KiB" */
	    {1023 * KIB, "1023 KiB"},
	    {MIB - 100, "1.00 MiB"}, /* 1023.9 KiB would be 9 characters */
	    {99 * MIB + MIB / 2, "99.5 MiB"},
	    {100 * MIB, "100 MiB"},
	    {123.4 * MIB, "123 MiB"},
	    {256 * MIB, "256 MiB"},
	    {3.0 * (1 << 29), "1.50 GiB"},
	    {-1.1 * MIB, "-1.10 MiB"},
	    {-97.7 * KIB, "-97.7 KiB"},
	    {-0.2, "0 B"}, /* a rate that rounds to nothing has no sign */
	    {-512, "-512 B"},
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ASSERT_STREQ(fmt_bytes(cases[i].v, buf, sizeof(buf)), cases[i].s, "fmt_bytes");
}

TEST(fmt_bytes_width)
{
	char buf[32];

	/* The timeline chart's columns are 8 wide, top's 9 (room for a sign). */
	for (double v = 1; v < 1e18; v = v * 21 / 20 + 1) {
		if (!ASSERT_TRUE(strlen(fmt_bytes(v, buf, sizeof(buf))) <= 8, buf) ||
		    !ASSERT_TRUE(strlen(fmt_bytes(-v, buf, sizeof(buf))) <= 9, buf))
			break;
	}
	fmt_bytes(1e20, buf, 4);
	ASSERT_EQ(strlen(buf), 3, "truncated to len");
}
