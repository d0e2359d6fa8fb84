// SPDX-License-Identifier: MIT
/* Allocator wrappers: the built-in list of well-known ones and the user's regular expressions,
 * matched against function names. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/log.h"
#include "profile/wrappers.h"

/*
 * Functions whose frame says who asked for memory no better than malloc's own: they check the
 * result, count or zero the block, and return it. A sample's site is the code that called them.
 * Each name is matched whole, with or without a symbol version suffix.
 */
static const char *const builtin[] = {
    /* allocscope's own in-process sampler (deploy/sampler/allocscope_sampler.c) */
    "allocscope_sampler_alloc",
    "allocscope_sampler_aligned",
    /* redis (src/zmalloc.c), also as its *_usable and *_internal variants */
    "zmalloc",
    "zcalloc",
    "zrealloc",
    "zstrdup",
    "zmalloc_usable",
    "zcalloc_usable",
    "zrealloc_usable",
    "zmalloc_no_tcache",
    "zcalloc_num",
    "ztrymalloc",
    "ztrycalloc",
    "ztryrealloc",
    "ztrymalloc_usable",
    "ztrycalloc_usable",
    "ztryrealloc_usable",
    "ztrymalloc_usable_internal",
    "ztrycalloc_usable_internal",
    "ztryrealloc_usable_internal",
    /* gnulib, git, binutils, openssh... */
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xstrdup",
    "xstrndup",
    "xzalloc",
    "xmemdup",
    "xmemdup0",
    "xnmalloc",
    "xnrealloc",
    "x2realloc",
    "x2nrealloc",
    "xcharalloc",
    "xmallocz",
    "xreallocarray",
    "xrecallocarray",
    "ximalloc",
    "xicalloc",
    "xirealloc",
    /* glib */
    "g_malloc",
    "g_malloc0",
    "g_realloc",
    "g_malloc_n",
    "g_malloc0_n",
    "g_realloc_n",
    "g_try_malloc",
    "g_try_malloc0",
    "g_try_realloc",
    "g_try_malloc_n",
    "g_try_malloc0_n",
    "g_try_realloc_n",
    "g_memdup",
    "g_memdup2",
    "g_strdup",
    "g_strndup",
    "g_slice_alloc",
    "g_slice_alloc0",
    "g_aligned_alloc",
    "g_aligned_alloc0",
    /* CPython */
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyMem_RawMalloc",
    "_PyMem_RawCalloc",
    "_PyMem_RawRealloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
    "_PyObject_Realloc",
    "_PyObject_ArenaMmap",
    "_PyObject_ArenaMalloc",
    "_PyMem_DebugRawAlloc",
    "_PyMem_DebugRawMalloc",
    "_PyMem_DebugRawCalloc",
    "_PyMem_DebugRawRealloc",
    "_PyMem_DebugMalloc",
    "_PyMem_DebugCalloc",
    "_PyMem_DebugRealloc",
    "pymalloc_alloc",
    /* perl */
    "Perl_safesysmalloc",
    "Perl_safesyscalloc",
    "Perl_safesysrealloc",
    /* OpenSSL, nginx */
    "CRYPTO_malloc",
    "CRYPTO_zalloc",
    "CRYPTO_realloc",
    "CRYPTO_clear_realloc",
    "CRYPTO_strdup",
    "CRYPTO_strndup",
    "CRYPTO_memdup",
    "ngx_alloc",
    "ngx_calloc",
    "ngx_memalign",
    /* Rust's global allocator shims */
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rdl_alloc",
    "__rdl_alloc_zeroed",
    "__rdl_realloc",
};

struct wrappers {
	regex_t *res;
	size_t cnt;
};

/* "^(RE)$": an expression names whole functions, as the built-in list does. */
static int compile(const char *re, regex_t *out, char *why, size_t len)
{
	char *whole = NULL;
	int rc;

	if (asprintf(&whole, "^(%s)$", re) < 0)
		return REG_ESPACE;
	rc = regcomp(out, whole, REG_EXTENDED | REG_NOSUB);
	free(whole);
	if (rc)
		regerror(rc, out, why, len);
	return rc;
}

int wrappers__check(const char *opt, const char *regex)
{
	char why[128];
	regex_t re;

	if (!*regex || compile(regex, &re, why, sizeof(why))) {
		log_error("%s: '%s' is not a regular expression (%s)", opt, regex,
			  *regex ? why : "empty");
		return -EINVAL;
	}
	regfree(&re);
	return 0;
}

struct wrappers *wrappers__new(const char *const *regexes, size_t cnt)
{
	struct wrappers *w = calloc(1, sizeof(*w));
	char why[128];
	int err = 0;

	if (!w)
		return NULL;
	w->res = calloc(cnt + 1, sizeof(*w->res));
	if (!w->res) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (; w->cnt < cnt; w->cnt++) {
		if (compile(regexes[w->cnt], &w->res[w->cnt], why, sizeof(why))) {
			log_error("--wrapper: '%s' is not a regular expression (%s)",
				  regexes[w->cnt], why);
			err = -EINVAL;
			goto cleanup;
		}
	}
	return w;
cleanup:
	wrappers__free(w);
	errno = -err;
	return NULL;
}

void wrappers__free(struct wrappers *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->cnt; i++)
		regfree(&w->res[i]);
	free(w->res);
	free(w);
}

static int is_builtin(const char *function)
{
	size_t len = strcspn(function, "@");

	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (builtin[i][0] == function[0] && !strncmp(function, builtin[i], len) &&
		    !builtin[i][len])
			return 1;
	return 0;
}

int wrappers__match(const struct wrappers *w, const char *function)
{
	if (!function || !*function)
		return 0;
	if (is_builtin(function))
		return 1;
	for (size_t i = 0; w && i < w->cnt; i++)
		if (!regexec(&w->res[i], function, 0, NULL, 0))
			return 1;
	return 0;
}

const char *wrappers__short_name(const char *function, char *buf, size_t len)
{
	size_t n = strcspn(function, "@");
	const char *paren = memchr(function, '(', n);

	/* "operator new(unsigned long)" -> "operator new"; "(anonymous namespace)::f" stays. */
	if (paren && paren > function)
		n = paren - function;
	snprintf(buf, len, "%.*s", (int)n, function);
	return buf;
}
