// SPDX-License-Identifier: MIT
/* Parsing the Go compiler's -m/-m=2 diagnostics. Every line the compiler writes is
 * "FILE:LINE:COL: MESSAGE"; -m=2 adds, under a heading ending in ':', indented "flow:" and
 * "from" lines that carry the heading's position. The log is copied once and cut into lines in
 * place (file names go to a second area of the same buffer), so every string of an escape_line
 * points into that copy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

struct escape_log {
	char *text; /* the copy, cut into NUL-terminated pieces */
	struct escape_line *lines;
	size_t cnt;
	size_t cap;
};

static int starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static enum escape_kind classify(const char *msg)
{
	if (starts_with(msg, "moved to heap: "))
		return ESCAPE_KIND_MOVED;
	if (starts_with(msg, "leaking param") || starts_with(msg, "leaking closure") ||
	    (strstr(msg, " leaks to ") && ends_with(msg, ":")))
		return ESCAPE_KIND_LEAK;
	if (ends_with(msg, "does not escape") || strstr(msg, "does not escape:"))
		return ESCAPE_KIND_NOESCAPE;
	if (ends_with(msg, "escapes to heap") || ends_with(msg, "escapes to heap:"))
		return ESCAPE_KIND_ESCAPES;
	if (starts_with(msg, "can inline ") || starts_with(msg, "inlining call to ") ||
	    starts_with(msg, "cannot inline "))
		return ESCAPE_KIND_INLINE;
	if (strstr(msg, " capturing by ref: ") || strstr(msg, " capturing by value: "))
		return ESCAPE_KIND_CAPTURE;
	return ESCAPE_KIND_OTHER;
}

/* Reads "DIGITS" at *p; 0 when there are none. */
static int read_u32(char **p, __u32 *out)
{
	unsigned long v = 0;
	char *s = *p;

	if (*s < '0' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9' && v < 0xffffffffUL)
		v = v * 10 + (*s++ - '0');
	if (*s >= '0' && *s <= '9')
		return 0;
	*out = v;
	*p = s;
	return 1;
}

/* Splits "FILE.go:LINE:COL: MSG" (or "...:COL:" at the end of the line): a NUL after COL ends
 * pos, which starts at s; the file name is copied to *files. 1 when s has that shape. */
static int split_position(char *s, char **files, struct escape_line *out)
{
	char *colon;

	for (colon = strchr(s, ':'); colon; colon = strchr(colon + 1, ':')) {
		char *p = colon + 1;
		__u32 line, col;

		if (colon - s < 4 || strncmp(colon - 3, ".go", 3))
			continue;
		if (!read_u32(&p, &line) || *p != ':')
			continue;
		p++;
		if (!read_u32(&p, &col) || *p != ':' || (p[1] && p[1] != ' '))
			continue;
		memcpy(*files, s, colon - s);
		(*files)[colon - s] = '\0';
		out->file = *files;
		*files += colon - s + 1;
		out->line = line;
		out->col = col;
		out->pos = s;
		out->text = p[1] ? p + 2 : p + 1;
		*p = '\0';
		return 1;
	}
	return 0;
}

static int add_line(struct escape_log *log, const struct escape_line *l)
{
	if (log->cnt == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 256;
		struct escape_line *n = realloc(log->lines, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		log->lines = n;
		log->cap = cap;
	}
	log->lines[log->cnt++] = *l;
	return 0;
}

struct escape_log *escape_log__parse(const char *buf, size_t len)
{
	struct escape_log *log = NULL;
	const struct escape_line *prev = NULL;
	size_t recognised = 0;
	char *s, *next, *files;
	int err = 0;

	if (!buf && len) {
		errno = EINVAL;
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (!log)
		return NULL;
	/* The log, NUL-terminated, then the file names: each is shorter than its line, so they
	 * fit in another len + 1 bytes. */
	log->text = malloc(2 * len + 2);
	if (!log->text) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (len)
		memcpy(log->text, buf, len);
	log->text[len] = '\0';
	files = log->text + len + 1;
	for (s = log->text; s < log->text + len; s = next) {
		struct escape_line l = {};
		char *nl = memchr(s, '\n', log->text + len - s);

		next = nl ? nl + 1 : log->text + len;
		if (nl)
			*nl = '\0';
		if (nl && nl > s && nl[-1] == '\r')
			nl[-1] = '\0';
		if (split_position(s, &files, &l)) {
			char *msg = (char *)l.text;

			if (*msg == ' ' || *msg == '\t') {
				/* -m=2 indents flow lines by two under their heading. */
				l.kind = ESCAPE_KIND_FLOW;
				for (int i = 0; i < 2 && *msg == ' '; i++)
					msg++;
			} else {
				l.kind = classify(msg);
				if ((l.kind == ESCAPE_KIND_ESCAPES || l.kind == ESCAPE_KIND_LEAK) &&
				    ends_with(msg, ":")) {
					l.heading = 1;
					msg[strlen(msg) - 1] = '\0';
				}
			}
			l.text = msg;
		} else if ((*s == ' ' || *s == '\t') && prev &&
			   (prev->kind == ESCAPE_KIND_FLOW || prev->heading)) {
			/* Older compilers wrote the "from" lines without a position: they belong
			 * to the heading above. */
			l = *prev;
			l.heading = 0;
			l.kind = ESCAPE_KIND_FLOW;
			while (*s == ' ' || *s == '\t')
				s++;
			l.text = s;
		} else {
			/* "# package", a blank line, go's own messages: a flow block ends here. */
			prev = NULL;
			continue;
		}
		if (l.kind != ESCAPE_KIND_OTHER)
			recognised++;
		err = add_line(log, &l);
		if (err)
			goto cleanup;
		prev = &log->lines[log->cnt - 1];
	}
	if (!recognised)
		err = -EBADMSG;
cleanup:
	if (err) {
		escape_log__free(log);
		errno = -err;
		return NULL;
	}
	return log;
}

void escape_log__free(struct escape_log *log)
{
	if (!log)
		return;
	free(log->text);
	free(log->lines);
	free(log);
}

size_t escape_log__cnt(const struct escape_log *log)
{
	return log->cnt;
}

const struct escape_line *escape_log__line(const struct escape_log *log, size_t i)
{
	return i < log->cnt ? &log->lines[i] : NULL;
}

int escape_path_matches(const char *profile_path, const char *log_path)
{
	size_t pl, ll;

	if (!profile_path || !log_path)
		return 0;
	for (;;) {
		if (starts_with(log_path, "./"))
			log_path += 2;
		else if (starts_with(log_path, "../"))
			log_path += 3;
		else
			break;
	}
	while (starts_with(profile_path, "./"))
		profile_path += 2;
	pl = strlen(profile_path);
	ll = strlen(log_path);
	if (!ll || ll > pl)
		return 0;
	if (strcmp(profile_path + pl - ll, log_path))
		return 0;
	return ll == pl || profile_path[pl - ll - 1] == '/' || log_path[0] == '/';
}

const char *escape_log__find_file(const struct escape_log *log, const char *profile_path)
{
	const char *last = NULL;

	for (size_t i = 0; i < log->cnt; i++) {
		/* Lines of one file come in runs: test each spelling once per run. */
		if (last && !strcmp(last, log->lines[i].file))
			continue;
		last = log->lines[i].file;
		if (escape_path_matches(profile_path, last))
			return last;
	}
	return NULL;
}

static int explains(enum escape_kind kind)
{
	return kind == ESCAPE_KIND_MOVED || kind == ESCAPE_KIND_ESCAPES ||
	       kind == ESCAPE_KIND_LEAK || kind == ESCAPE_KIND_FLOW || kind == ESCAPE_KIND_CAPTURE;
}

size_t escape_log__match(const struct escape_log *log, const char *profile_path, __s64 line,
			 const struct escape_line **out, size_t max)
{
	const struct escape_line *last_file_ok = NULL;
	size_t n = 0, first = 0;
	int in_dropped_block = 0;

	if (line <= 0)
		return 0;
	for (size_t i = 0; i < log->cnt; i++) {
		const struct escape_line *l = &log->lines[i];
		int dup = 0;

		if (l->line != line || !explains(l->kind))
			continue;
		if (!last_file_ok || strcmp(last_file_ok->file, l->file)) {
			if (!escape_path_matches(profile_path, l->file))
				continue;
			last_file_ok = l;
		}
		if (l->kind == ESCAPE_KIND_FLOW) {
			/* The flow of a conclusion already shown is not repeated. */
			if (in_dropped_block)
				continue;
		} else {
			/* -m=2 writes each conclusion twice, as the heading of its flow and at the
			 * end; inlined code repeats lines too. The first one stays. */
			for (size_t j = first; j < i && !dup; j++) {
				const struct escape_line *o = &log->lines[j];

				dup = o->line == l->line && o->col == l->col &&
				      o->kind == l->kind && !strcmp(o->text, l->text) &&
				      !strcmp(o->file, l->file);
			}
			in_dropped_block = dup;
			if (dup)
				continue;
		}
		if (!n)
			first = i;
		if (n < max)
			out[n] = l;
		n++;
	}
	return n;
}

const char *escape_kind__name(enum escape_kind kind)
{
	static const char *const names[] = {
	    [ESCAPE_KIND_MOVED] = "moved",     [ESCAPE_KIND_ESCAPES] = "escapes",
	    [ESCAPE_KIND_LEAK] = "leak",       [ESCAPE_KIND_FLOW] = "flow",
	    [ESCAPE_KIND_CAPTURE] = "capture", [ESCAPE_KIND_NOESCAPE] = "noescape",
	    [ESCAPE_KIND_INLINE] = "inline",   [ESCAPE_KIND_OTHER] = "other",
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "other";
}
