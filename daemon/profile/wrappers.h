/* SPDX-License-Identifier: MIT */
/* Allocator wrappers: functions that only hand an allocation on to the allocator (redis's zmalloc,
 * xmalloc, glib's g_malloc, PyMem_Malloc, ...), a built-in list plus the user's --wrapper regular
 * expressions. Their frames count as the allocator's when a sample's site and leaf are chosen. */
#ifndef ALLOCSCOPE_WRAPPERS_H
#define ALLOCSCOPE_WRAPPERS_H

#include <stddef.h>

struct wrappers;

/* Compile regexes[0..cnt) (POSIX extended, each matched against a whole function name). NULL
 * and errno on failure, a bad expression logged with its reason. */
struct wrappers *wrappers__new(const char *const *regexes, size_t cnt);
void wrappers__free(struct wrappers *w);

/* Check one --wrapper expression: 0, or -EINVAL after logging why (naming opt). */
int wrappers__check(const char *opt, const char *regex);

/* Whether function (a demangled or a symbol name; NULL is none) is a wrapper: on the built-in
 * list, or matched by one of w's expressions (w may be NULL: the built-in list only). */
int wrappers__match(const struct wrappers *w, const char *function);

/* The name a wrapper or allocator frame goes by in an "allocator" label: without a symbol
 * version ("@GLIBC_2.2.5") and a C++ parameter list. At most len - 1 bytes. */
const char *wrappers__short_name(const char *function, char *buf, size_t len);

#endif
