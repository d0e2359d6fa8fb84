/* SPDX-License-Identifier: MIT */
/* Byte counts for people: the one rounding every view prints (top's columns, diff and explain's
 * tables, the timeline's chart and labels), three significant digits in binary units. */
#ifndef ALLOCSCOPE_FMT_H
#define ALLOCSCOPE_FMT_H

#include <stddef.h>

/*
 * "0 B", "1023 B", "1.00 KiB", "1.50 KiB", "10.0 KiB", "99.5 MiB", "256 MiB", "-1.10 MiB": whole
 * bytes below 1 KiB, else three significant digits in the largest unit that keeps the value at
 * least 1 (a value that would round to 1024 of a unit is written as 1.00 of the next). At most
 * 8 characters, 9 with a minus sign, so it fits the narrowest column. Returns buf.
 */
const char *fmt_bytes(double v, char *buf, size_t len);

#endif
