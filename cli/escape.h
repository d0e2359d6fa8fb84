/* SPDX-License-Identifier: MIT */
/* The Go compiler's escape analysis output (`go build -gcflags=-m` or `-m=2`, stderr) parsed into
 * positioned lines, and matched against the absolute file:line of a profile's allocation site by
 * path suffix, for `allocscope explain`. Pure logic: no I/O. */
#ifndef ALLOCSCOPE_ESCAPE_H
#define ALLOCSCOPE_ESCAPE_H

#include <stddef.h>
#include <linux/types.h>

enum escape_kind {
	ESCAPE_KIND_MOVED,   /* "moved to heap: x" */
	ESCAPE_KIND_ESCAPES, /* "&T{...} escapes to heap", "func literal escapes to heap" */
	ESCAPE_KIND_LEAK,    /* "leaking param: p", "leaking param content: p", "leaking closure" */
	ESCAPE_KIND_FLOW,    /* -m=2: the indented "flow: ..." and "from ..." lines */
	ESCAPE_KIND_CAPTURE, /* -m=2: "f capturing by ref: x (addr=... )" */
	ESCAPE_KIND_NOESCAPE, /* "x does not escape" */
	ESCAPE_KIND_INLINE,   /* "can inline f", "inlining call to f", "cannot inline f: ..." */
	ESCAPE_KIND_OTHER,    /* anything else with a position (a compile error, a new message) */
};

struct escape_line {
	const char *file; /* as the log writes it: "./main.go", "goalloc/main.go" */
	__u32 line;
	__u32 col;
	enum escape_kind kind;
	const char *pos; /* "goalloc/main.go:41:8", the position as written */
	/* The message after "FILE:LINE:COL: ". Flow lines keep their indentation relative to the
	 * flow block ("flow: ...", "  from ..."); a -m=2 heading "x escapes to heap:" loses its
	 * colon, so that it reads as the conclusion it repeats. */
	const char *text;
	int heading; /* a -m=2 heading ("...escapes to heap:"), followed by its flow lines */
};

struct escape_log;

/* Parses the text of a log (it need not be NUL-terminated; it is copied). NULL and errno:
 * EBADMSG when no line is escape analysis output (-m's positions with a known message),
 * ENOMEM. */
struct escape_log *escape_log__parse(const char *buf, size_t len);
void escape_log__free(struct escape_log *log);
size_t escape_log__cnt(const struct escape_log *log);
const struct escape_line *escape_log__line(const struct escape_log *log, size_t i);

/* Whether a log's path (relative to the build directory: "./main.go", "pkg/x.go",
 * "../lib/y.go") names the profile's path (absolute, or module-relative with -trimpath): equal
 * after dropping leading "./" and "../", or a suffix of it on a '/' boundary. */
int escape_path_matches(const char *profile_path, const char *log_path);

/* The log's spelling of the profile's file ("goalloc/main.go"), or NULL when no line of the
 * log is about that file. */
const char *escape_log__find_file(const struct escape_log *log, const char *profile_path);

/* The lines that explain an allocation at profile_path:line, in log order: conclusions (moved,
 * escapes, leaking param), -m=2 captures and flow lines; "does not escape", inlining notes and
 * repeated conclusions are left out. Up to max pointers into out; returns how many matched in
 * all (which may exceed max). */
size_t escape_log__match(const struct escape_log *log, const char *profile_path, __s64 line,
			 const struct escape_line **out, size_t max);

/* "moved", "escapes", "leak", "flow", "capture", "noescape", "inline", "other". */
const char *escape_kind__name(enum escape_kind kind);

#endif
