// SPDX-License-Identifier: MIT
/* Byte counts for people: one rounding for every view. */
#include <math.h>
#include <stdio.h>

#include "util/common.h"
#include "util/fmt.h"

const char *fmt_bytes(double v, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = fabs(v);
	/* No "-0 B" for a small negative rate. */
	const char *sign = v <= -0.5 ? "-" : "";
	size_t u = 0;

	/* 1023.5 and up would print as "1024": move to the next unit instead. */
	while (d >= 1023.5 && u + 1 < ARRAY_SIZE(units)) {
		d /= 1024;
		u++;
	}
	/* The precision is decided on the rounded value: 9.996 prints as "10.0", not "10.00". */
	if (u == 0 || d >= 99.95)
		snprintf(buf, len, "%s%.0f %s", sign, d, units[u]);
	else if (d >= 9.995)
		snprintf(buf, len, "%s%.1f %s", sign, d, units[u]);
	else
		snprintf(buf, len, "%s%.2f %s", sign, d, units[u]);
	return buf;
}
