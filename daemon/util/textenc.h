/* SPDX-License-Identifier: MIT */
/* UTF-8 validation and XML/HTML escaping for what allocscope writes into pages and pictures:
 * text from processes (executable names, comm) is never trusted. */
#ifndef ALLOCSCOPE_TEXTENC_H
#define ALLOCSCOPE_TEXTENC_H

#include <stdio.h>
#include <linux/types.h>

/* Length of the valid UTF-8 sequence at s (its code point in *cp), 0 if it is not one. */
int text__utf8_next(const unsigned char *s, __u32 *cp);

/* s escaped for XML and HTML text and attributes; invalid UTF-8 and control characters become
 * U+FFFD. */
void text__xml_escape(FILE *f, const char *s);

#endif
