// SPDX-License-Identifier: MIT
/* The HTTP API: a real server on 127.0.0.1:0 driven over plain sockets (openssl s_client for
 * TLS), with a test double of the daemon's ops returning fixed bodies; and the query parser. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/common.h"
#include "service/httpd.h"
#include "util/log.h"
#include "test.h"

/* A gzip header with a NUL in it: the body must come through byte for byte. */
static const char fake_pprof[] = "\x1f\x8b\x08\x00pprof-bytes";
#define FAKE_PPROF_LEN (sizeof(fake_pprof) - 1)
#define HOSTILE_EXE    "/tmp/<script>alert(1)</script>\"&'"

struct fake_daemon {
	struct httpd_query last;
	enum httpd_profile last_kind;
	int profile_calls;
	int timeline_calls;
};

static int fake_profile(void *ctx, enum httpd_profile kind, const struct httpd_query *q, void **buf,
			size_t *len)
{
	struct fake_daemon *d = ctx;

	d->last = *q;
	d->last_kind = kind;
	d->profile_calls++;
	if (q->sel == HTTPD_SEL_PID && q->pid == 404)
		return -ENOENT;
	if (q->sel == HTTPD_SEL_EXE && strcmp(q->value, "nothing") == 0)
		return -ENOENT;
	if (q->sel == HTTPD_SEL_PID && q->pid == 500)
		return -EIO;
	if (q->seconds == 3600)
		return -ERANGE;
	*buf = malloc(FAKE_PPROF_LEN);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, fake_pprof, FAKE_PPROF_LEN);
	*len = FAKE_PPROF_LEN;
	return 0;
}

static int fake_timeline(void *ctx, const struct httpd_query *q, char **json)
{
	struct fake_daemon *d = ctx;

	d->last = *q;
	d->timeline_calls++;
	if (q->sel == HTTPD_SEL_PID && q->pid == 404)
		return -ENOENT;
	*json = strdup("{\"pid\":42,\"points\":[]}");
	return *json ? 0 : -ENOMEM;
}

static int fake_metrics(void *ctx, uid_t viewer, char **text)
{
	/* No trailing newline: the module must add one before its own lines. */
	*text = strdup("# TYPE allocscope_targets gauge\nallocscope_targets 2");
	return *text ? 0 : -ENOMEM;
}

static int fake_targets(void *ctx, uid_t viewer, struct httpd_target **out, size_t *cnt)
{
	struct httpd_target *t = calloc(2, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t[0].pid = 42;
	t[0].alive = 1;
	strcpy(t[0].exe, "/usr/bin/server");
	strcpy(t[0].comm, "server");
	strcpy(t[0].cgroup, "/system.slice/server.service");
	strcpy(t[0].kind, "go");
	t[1].pid = 43;
	strcpy(t[1].exe, HOSTILE_EXE);
	/* A comm that fills its array without a NUL: the page must stop at the array's end. */
	memset(t[1].comm, 'A', sizeof(t[1].comm));
	strcpy(t[1].cgroup, "/a&b<c>");
	strcpy(t[1].kind, "native");
	*out = t;
	*cnt = 2;
	return 0;
}

static const struct httpd_ops fake_ops = {
    .profile = fake_profile,
    .timeline = fake_timeline,
    .metrics = fake_metrics,
    .targets = fake_targets,
};

/* HTTP client over plain sockets */

struct http_resp {
	int status; /* 0: the server closed without an answer */
	char raw[64 * 1024];
	size_t raw_len;
	const char *body;
	size_t body_len;
};

static int connect_local(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 5};
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Read until EOF (every request says Connection: close) and split status, head and body. */
static int read_resp(int fd, struct http_resp *r)
{
	const char *end;
	ssize_t n;

	memset(r, 0, offsetof(struct http_resp, raw));
	r->raw_len = 0;
	while (r->raw_len < sizeof(r->raw) - 1) {
		n = recv(fd, r->raw + r->raw_len, sizeof(r->raw) - 1 - r->raw_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && r->raw_len)
			break; /* a reset after the answer */
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r->raw_len += n;
	}
	r->raw[r->raw_len] = '\0';
	r->body = "";
	if (!r->raw_len)
		return 0;
	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		return -EPROTO;
	end = strstr(r->raw, "\r\n\r\n");
	if (!end)
		return -EPROTO;
	r->body = end + 4;
	r->body_len = r->raw_len - (r->body - r->raw);
	return 0;
}

static int http_raw(int port, const char *req, size_t req_len, struct http_resp *r)
{
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	fd = connect_local(port);
	if (fd < 0)
		return fd;
	while (off < req_len) {
		/* The server may answer and close before reading a long request: no SIGPIPE. */
		n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		if (n < 0)
			break;
		off += n;
	}
	err = read_resp(fd, r);
	close(fd);
	return err;
}

/* A request with the given method and target; extra holds whole header lines. */
static int http_req(int port, const char *method, const char *target, const char *extra,
		    struct http_resp *r)
{
	char *req = NULL;
	int len, err;

	len = asprintf(&req, "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", method,
		       target, extra ? extra : "");
	if (len < 0)
		return -ENOMEM;
	err = http_raw(port, req, len, r);
	free(req);
	return err;
}

static int http_get(int port, const char *target, struct http_resp *r)
{
	return http_req(port, "GET", target, NULL, r);
}

/* The value of a response header (case-insensitive name), or NULL. */
static const char *header(const struct http_resp *r, const char *name, char *buf, size_t len)
{
	const char *line = strstr(r->raw, "\r\n"), *end;
	size_t name_len = strlen(name);

	while (line && line < r->body - 2) {
		line += 2;
		if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
			line += name_len + 1;
			while (*line == ' ')
				line++;
			end = strstr(line, "\r\n");
			snprintf(buf, len, "%.*s", (int)(end - line), line);
			return buf;
		}
		line = strstr(line, "\r\n");
	}
	return NULL;
}

static bool assert_header(const struct http_resp *r, const char *name, const char *want,
			  const char *what)
{
	char buf[512];

	return ASSERT_STREQ(header(r, name, buf, sizeof(buf)), want, what);
}

static bool body_has(const struct http_resp *r, const char *needle)
{
	return memmem(r->body, r->body_len, needle, strlen(needle)) != NULL;
}

static struct httpd *start_server(struct httpd_opts *opts, struct fake_daemon *d, int *port)
{
	struct httpd_opts loopback = {.listen = "127.0.0.1:0"};
	struct httpd *h;

	h = httpd__start(opts ? opts : &loopback, &fake_ops, d);
	if (!ASSERT_OK_PTR(h, "httpd__start"))
		return NULL;
	*port = httpd__port(h);
	if (!ASSERT_TRUE(*port > 0, "a bound port is reported")) {
		httpd__stop(h);
		return NULL;
	}
	return h;
}

/* Files in a private temporary directory */

struct tmp_dir {
	char path[64];
	char files[6][128];
	int cnt;
};

static bool tmp_dir_make(struct tmp_dir *t)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->path, "/tmp/allocscope-httpd-XXXXXX");
	return ASSERT_OK_PTR(mkdtemp(t->path), "mkdtemp");
}

static const char *tmp_file(struct tmp_dir *t, const char *name, const char *content)
{
	char *path;
	FILE *f;

	if (t->cnt >= (int)ARRAY_SIZE(t->files))
		abort();
	path = t->files[t->cnt++];
	memcpy(path, t->path, sizeof(t->path));
	strncat(path, "/", sizeof(t->files[0]) - strlen(path) - 1);
	strncat(path, name, sizeof(t->files[0]) - strlen(path) - 1);
	if (!content)
		return path;
	f = fopen(path, "w");
	if (!ASSERT_OK_PTR(f, path))
		return path;
	fputs(content, f);
	fclose(f);
	return path;
}

static void tmp_dir_remove(struct tmp_dir *t)
{
	for (int i = 0; i < t->cnt; i++)
		unlink(t->files[i]);
	if (t->path[0])
		rmdir(t->path);
}

/* Capture what the module logs to stderr during a call. */
static int stderr_begin(FILE **f)
{
	int saved;

	fflush(stderr);
	*f = tmpfile();
	if (!*f)
		return -1;
	saved = dup(STDERR_FILENO);
	dup2(fileno(*f), STDERR_FILENO);
	return saved;
}

static void stderr_end(FILE *f, int saved, char *buf, size_t len)
{
	size_t n;

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* httpd__parse_query */

TEST(httpd_parse_query_good)
{
	char err[256], long_exe[HTTPD_MAX_SELECTOR];
	struct httpd_query q;
	char *query = NULL;

	if (!ASSERT_OK(httpd__parse_query("pid=12&seconds=30", &q, err, sizeof(err)), "pid"))
		return;
	ASSERT_EQ(q.sel, HTTPD_SEL_PID, "pid selector");
	ASSERT_EQ(q.pid, 12, "pid");
	ASSERT_EQ(q.seconds, 30, "seconds");
	ASSERT_EQ(q.gc, 0, "gc defaults to 0");

	if (!ASSERT_OK(httpd__parse_query("exe=%2Fusr%2Fbin%2Fpython3*&gc=1&debug=0", &q, err,
					  sizeof(err)),
		       "exe glob"))
		return;
	ASSERT_EQ(q.sel, HTTPD_SEL_EXE, "exe selector");
	ASSERT_STREQ(q.value, "/usr/bin/python3*", "exe is URL-decoded");
	ASSERT_EQ(q.gc, 1, "gc=1");

	ASSERT_OK(httpd__parse_query("comm=web+worker", &q, err, sizeof(err)), "comm");
	ASSERT_EQ(q.sel, HTTPD_SEL_COMM, "comm selector");
	ASSERT_STREQ(q.value, "web worker", "'+' is a space");

	ASSERT_OK(
	    httpd__parse_query("&cgroup=/kubepods/burstable/pod1%3Aa&&", &q, err, sizeof(err)),
	    "empty pairs are skipped");
	ASSERT_EQ(q.sel, HTTPD_SEL_CGROUP, "cgroup selector");
	ASSERT_STREQ(q.value, "/kubepods/burstable/pod1:a", "cgroup");

	ASSERT_OK(httpd__parse_query("container=5d7B982d8242", &q, err, sizeof(err)), "container");
	ASSERT_EQ(q.sel, HTTPD_SEL_CONTAINER, "container selector");
	ASSERT_STREQ(q.value, "5d7B982d8242", "a container ID's prefix");

	ASSERT_OK(httpd__parse_query("pid=4194304&seconds=86400", &q, err, sizeof(err)), "maxima");
	ASSERT_EQ(q.pid, HTTPD_MAX_PID, "largest pid");
	ASSERT_EQ(q.seconds, HTTPD_MAX_SECONDS, "largest seconds");

	ASSERT_OK(httpd__parse_query("", &q, err, sizeof(err)), "empty query");
	ASSERT_EQ(q.sel, HTTPD_SEL_ALL, "no selector");
	ASSERT_OK(httpd__parse_query(NULL, &q, err, sizeof(err)), "NULL query");
	ASSERT_EQ(q.sel, HTTPD_SEL_ALL, "no selector");

	/* The longest value that fits. */
	memset(long_exe, 'x', sizeof(long_exe) - 1);
	long_exe[sizeof(long_exe) - 1] = '\0';
	if (asprintf(&query, "exe=%s", long_exe) < 0)
		return;
	ASSERT_OK(httpd__parse_query(query, &q, err, sizeof(err)), "255-byte exe");
	ASSERT_EQ(strlen(q.value), HTTPD_MAX_SELECTOR - 1, "whole value kept");
	free(query);
}

TEST(httpd_parse_query_snapshot)
{
	struct httpd_query q;
	char err[256];

	if (!ASSERT_OK(httpd__parse_query("snapshot=1800000000123-42-oom", &q, err, sizeof(err)),
		       "snapshot"))
		return;
	ASSERT_STREQ(q.snapshot, "1800000000123-42-oom", "snapshot ID");
	ASSERT_EQ(q.sel, HTTPD_SEL_ALL, "no selector");
}

TEST(httpd_parse_query_bad)
{
	static const struct {
		const char *query;
		const char *reason; /* a substring of the error line */
	} cases[] = {
	    {"pid=0", "pid must be an integer in 1..4194304"},
	    {"snapshot=..%2Fx", "snapshot is not a snapshot ID"},
	    {"snapshot=-1", "snapshot is not a snapshot ID"},
	    {"snapshot=1-2-oom&snapshot=1-2-oom", "more than once"},
	    {"pid=4194305", "pid must be"},
	    {"pid=-1", "pid must be"},
	    {"pid=+5", "pid must be"},
	    {"pid=%205", "pid must be"},
	    {"pid=12x", "pid must be"},
	    {"pid=99999999999999999999", "pid must be"},
	    {"pid=1;exe=a", "pid must be"},
	    {"seconds=0", "seconds must be an integer in 1..86400"},
	    {"seconds=86401", "seconds must be"},
	    {"gc=2", "gc must be 0 or 1"},
	    {"debug=1", "only debug=0 (protobuf) is served"},
	    {"debug=2", "only debug=0 (protobuf) is served"},
	    {"pid=1&pid=1", "parameter pid given more than once"},
	    {"seconds=5&seconds=6", "seconds given more than once"},
	    {"pid=1&exe=/bin/x", "only one of pid, exe, comm, cgroup"},
	    {"comm=a&cgroup=/b", "only one of"},
	    {"container=abc&pid=1", "only one of"},
	    {"container=xyz", "container must be a container ID or its prefix"},
	    {"container=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
	     "container must be"},
	    {"exe=", "parameter exe has an empty value"},
	    {"pid", "parameter pid has an empty value"},
	    {"foo=bar", "unknown parameter \"foo\""},
	    {"=5", "unknown parameter \"\""},
	    {"%41=1", "unknown parameter \"A\""},
	    {"PID=1", "unknown parameter \"PID\""},
	    {"x%0a%1b=1", "unknown parameter \"x??\""},
	    {"exe=a%00b", "parameter exe contains a NUL byte"},
	    {"exe=%zz", "malformed %-escape in parameter exe"},
	    {"exe=abc%4", "malformed %-escape in parameter exe"},
	    {"p%g=1", "malformed %-escape in parameter name"},
	};
	char err[256], long_query[HTTPD_MAX_SELECTOR + 16];
	struct httpd_query q;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(err, 0, sizeof(err));
		if (!ASSERT_EQ(httpd__parse_query(cases[i].query, &q, err, sizeof(err)), -EINVAL,
			       cases[i].query))
			continue;
		if (!ASSERT_TRUE(strstr(err, cases[i].reason) != NULL, cases[i].query))
			fprintf(stderr, "    got \"%s\"\n", err);
		ASSERT_TRUE(!strchr(err, '\n'), "one line");
		ASSERT_EQ(q.sel, HTTPD_SEL_ALL, "a failed parse leaves no selector behind");
	}

	/* One byte over HTTPD_MAX_SELECTOR - 1. */
	strcpy(long_query, "exe=");
	memset(long_query + 4, 'x', HTTPD_MAX_SELECTOR);
	long_query[4 + HTTPD_MAX_SELECTOR] = '\0';
	ASSERT_EQ(httpd__parse_query(long_query, &q, err, sizeof(err)), -EINVAL, "256-byte exe");
	ASSERT_STREQ(err, "parameter exe is longer than 255 bytes", "length reason");

	/* A tiny error buffer is truncated, not overrun; none at all is allowed too. */
	ASSERT_EQ(httpd__parse_query("foo=1", &q, err, 4), -EINVAL, "small err buffer");
	ASSERT_STREQ(err, "unk", "truncated reason");
	ASSERT_EQ(httpd__parse_query("foo=1", &q, NULL, 0), -EINVAL, "no err buffer");
}

/* The server */

TEST(httpd_endpoints)
{
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	char buf[64];
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h)
		goto cleanup;

	if (!ASSERT_OK(http_get(port, "/healthz", r), "GET /healthz"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "healthz status");
	ASSERT_STREQ(r->body, "ok\n", "healthz body");
	assert_header(r, "Content-Type", "text/plain; charset=utf-8", "healthz type");

	if (!ASSERT_OK(http_get(port, "/debug/pprof/heap?pid=42&seconds=30&gc=1&debug=0", r),
		       "GET heap"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "heap status");
	assert_header(r, "Content-Type", "application/octet-stream", "heap type");
	assert_header(r, "Content-Disposition", "attachment; filename=\"heap\"", "heap file");
	assert_header(r, "X-Content-Type-Options", "nosniff", "nosniff");
	ASSERT_EQ(r->body_len, FAKE_PPROF_LEN, "heap body length");
	ASSERT_TRUE(memcmp(r->body, fake_pprof, FAKE_PPROF_LEN) == 0, "heap body bytes");
	ASSERT_EQ(d.last_kind, HTTPD_PROFILE_HEAP, "heap kind reached the ops");
	ASSERT_EQ(d.last.sel, HTTPD_SEL_PID, "pid selector reached the ops");
	ASSERT_EQ(d.last.pid, 42, "pid reached the ops");
	ASSERT_EQ(d.last.seconds, 30, "seconds reached the ops");
	ASSERT_EQ(d.last.gc, 1, "gc reached the ops");

	if (!ASSERT_OK(http_get(port, "/debug/pprof/allocs?exe=%2Fusr%2Fbin%2Fpy*+3", r),
		       "GET allocs"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "allocs status");
	assert_header(r, "Content-Disposition", "attachment; filename=\"allocs\"", "allocs file");
	ASSERT_EQ(d.last_kind, HTTPD_PROFILE_ALLOCS, "allocs kind");
	ASSERT_EQ(d.last.sel, HTTPD_SEL_EXE, "exe selector");
	ASSERT_STREQ(d.last.value, "/usr/bin/py* 3", "exe decoded by libmicrohttpd");

	/* Empty pairs are skipped by the server as by httpd__parse_query. */
	if (!ASSERT_OK(http_get(port, "/debug/pprof/heap?&comm=web&&", r), "GET empty pairs"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "empty pairs status");
	ASSERT_STREQ(d.last.value, "web", "comm");

	if (!ASSERT_OK(http_get(port, "/debug/pprof/heap", r), "GET heap, all targets"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "all targets");
	ASSERT_EQ(d.last.sel, HTTPD_SEL_ALL, "no selector");

	if (!ASSERT_OK(http_req(port, "HEAD", "/debug/pprof/heap?pid=42", NULL, r), "HEAD heap"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "HEAD status");
	snprintf(buf, sizeof(buf), "%zu", FAKE_PPROF_LEN);
	assert_header(r, "Content-Length", buf, "HEAD tells the length");
	ASSERT_EQ(r->body_len, 0, "HEAD has no body");

	if (!ASSERT_OK(http_get(port, "/timeline?pid=42", r), "GET timeline"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "timeline status");
	assert_header(r, "Content-Type", "application/json", "timeline type");
	ASSERT_STREQ(r->body, "{\"pid\":42,\"points\":[]}", "timeline body");
	ASSERT_EQ(d.timeline_calls, 1, "timeline op called once");
	if (!ASSERT_OK(http_get(port, "/timeline?cgroup=/kubepods", r), "GET timeline cgroup"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "timeline by cgroup");
	ASSERT_EQ(d.last.sel, HTTPD_SEL_CGROUP, "timeline selector");

	if (!ASSERT_OK(http_get(port, "/metrics", r), "GET metrics"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "metrics status");
	assert_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8",
		      "metrics type");
	ASSERT_TRUE(body_has(r, "allocscope_targets 2\n# HELP allocscope_http_responses_total"),
		    "daemon metrics, a newline, then the module's own");
	/* healthz, heap, allocs, empty pairs, all, HEAD, timeline twice: 8 answers before. */
	ASSERT_TRUE(body_has(r, "allocscope_http_responses_total{code=\"200\"} 8\n"),
		    "200 counter");

	if (!ASSERT_OK(http_get(port, "/debug/pprof/", r), "GET index"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "index status");
	assert_header(r, "Content-Type", "text/html; charset=utf-8", "index type");
	ASSERT_TRUE(header(r, "Content-Security-Policy", buf, sizeof(buf)) != NULL, "CSP");
	ASSERT_TRUE(body_has(r, "<a href=\"heap?pid=42\">heap</a>"), "heap link");
	ASSERT_TRUE(body_has(r, "<a href=\"allocs?pid=42\">allocs</a>"), "allocs link");
	ASSERT_TRUE(body_has(r, "<a href=\"../../timeline?pid=42\">timeline</a>"), "timeline link");
	ASSERT_TRUE(body_has(r, "<td>/usr/bin/server</td>"), "exe shown");

	/* Without the slash the page's directory is /debug/: the links must still resolve. */
	if (!ASSERT_OK(http_get(port, "/debug/pprof", r), "GET index without slash"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "index status without slash");
	ASSERT_TRUE(body_has(r, "<a href=\"pprof/heap?pid=43\">heap</a>"), "heap link");
	ASSERT_TRUE(body_has(r, "<a href=\"../timeline?pid=43\">timeline</a>"), "timeline link");

cleanup:
	httpd__stop(h);
	free(r);
}

TEST(httpd_index_escapes_process_strings)
{
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	char comm_cell[64];
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h || !ASSERT_OK(http_get(port, "/debug/pprof/", r), "GET index"))
		goto cleanup;
	ASSERT_EQ(r->status, 200, "index status");
	ASSERT_TRUE(body_has(r, "<td>/tmp/&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&apos;"
				"</td>"),
		    "hostile exe escaped");
	ASSERT_TRUE(!body_has(r, "<script"), "no script element");
	ASSERT_TRUE(body_has(r, "<td>/a&amp;b&lt;c&gt;</td>"), "cgroup escaped");
	/* 32 'A's and not a byte of what follows the array. */
	snprintf(comm_cell, sizeof(comm_cell), "<td>%.32s</td>",
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	ASSERT_TRUE(body_has(r, comm_cell), "unterminated comm stops at its array's end");

cleanup:
	httpd__stop(h);
	free(r);
}

TEST(httpd_bad_queries_are_400)
{
	static const struct {
		const char *target;
		const char *body;
	} cases[] = {
	    {"/debug/pprof/heap?pid=abc", "pid must be an integer in 1..4194304\n"},
	    {"/debug/pprof/heap?pid=0", "pid must be an integer in 1..4194304\n"},
	    {"/debug/pprof/heap?pid=1&pid=1", "parameter pid given more than once\n"},
	    {"/debug/pprof/allocs?pid=1&comm=x",
	     "only one of pid, exe, comm, cgroup, container may be given\n"},
	    {"/debug/pprof/heap?foo=bar", "unknown parameter \"foo\"\n"},
	    {"/debug/pprof/heap?debug=1", "only debug=0 (protobuf) is served\n"},
	    {"/debug/pprof/heap?seconds=86401", "seconds must be an integer in 1..86400\n"},
	    {"/debug/pprof/heap?exe=", "parameter exe has an empty value\n"},
	    {"/debug/pprof/heap?exe=a%00b", "parameter exe contains a NUL byte\n"},
	    {"/debug/pprof/heap?exe=%zz", "malformed %-escape in the query\n"},
	    {"/timeline?pid=1&gc=7", "gc must be 0 or 1\n"},
	};
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h)
		goto cleanup;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!ASSERT_OK(http_get(port, cases[i].target, r), cases[i].target))
			continue;
		ASSERT_EQ(r->status, 400, cases[i].target);
		ASSERT_STREQ(r->body, cases[i].body, cases[i].target);
		assert_header(r, "Content-Type", "text/plain; charset=utf-8", "error type");
		assert_header(r, "X-Go-Pprof", "1", "go tool pprof shows the reason");
	}
	ASSERT_EQ(d.profile_calls + d.timeline_calls, 0, "no op runs for a bad query");

cleanup:
	httpd__stop(h);
	free(r);
}

TEST(httpd_not_found_and_op_errors)
{
	static const char *const unknown_paths[] = {
	    "/nope",
	    "/debug/pprof/goroutine",
	    "/debug/pprof/heap/",
	    "/debug/pprof/h%65ap",
	    "/debug/pprof/../../../etc/passwd",
	    "/metrics%00",
	    "/",
	};
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h)
		goto cleanup;

	for (size_t i = 0; i < ARRAY_SIZE(unknown_paths); i++) {
		if (!ASSERT_OK(http_get(port, unknown_paths[i], r), unknown_paths[i]))
			continue;
		ASSERT_EQ(r->status, 404, unknown_paths[i]);
	}
	ASSERT_EQ(d.profile_calls, 0, "no op for an unknown path");

	if (ASSERT_OK(http_get(port, "/debug/pprof/heap?pid=404", r), "unknown pid")) {
		ASSERT_EQ(r->status, 404, "unknown pid status");
		ASSERT_STREQ(r->body, "no target with pid 404\n", "unknown pid body");
	}
	if (ASSERT_OK(http_get(port, "/debug/pprof/allocs?exe=nothing", r), "unknown exe")) {
		ASSERT_EQ(r->status, 404, "unknown exe status");
		ASSERT_STREQ(r->body, "no target with exe \"nothing\"\n", "unknown exe body");
	}
	if (ASSERT_OK(http_get(port, "/timeline?pid=404", r), "unknown timeline pid"))
		ASSERT_EQ(r->status, 404, "unknown timeline pid status");
	if (ASSERT_OK(http_get(port, "/debug/pprof/heap?pid=1&seconds=3600", r), "ERANGE")) {
		ASSERT_EQ(r->status, 400, "seconds past the window");
		ASSERT_STREQ(r->body, "seconds=3600 reaches past the retained window\n",
			     "ERANGE body");
	}
	if (ASSERT_OK(http_get(port, "/debug/pprof/heap?pid=500", r), "op failure")) {
		ASSERT_EQ(r->status, 500, "op failure status");
		ASSERT_TRUE(body_has(r, "profile failed: Input/output error\n"), "op failure body");
	}

cleanup:
	httpd__stop(h);
	free(r);
}

TEST(httpd_methods_and_bodies)
{
	static const char chunked[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	static const char with_body[] = "GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n"
					"Connection: close\r\nContent-Length: 5\r\n\r\nhello";
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h)
		goto cleanup;

	if (ASSERT_OK(http_req(port, "POST", "/debug/pprof/heap", "Content-Length: 0\r\n", r),
		      "POST")) {
		ASSERT_EQ(r->status, 405, "POST status");
		assert_header(r, "Allow", "GET, HEAD", "Allow header");
	}
	if (ASSERT_OK(http_req(port, "DELETE", "/healthz", NULL, r), "DELETE"))
		ASSERT_EQ(r->status, 405, "DELETE status");
	if (ASSERT_OK(http_req(port, "OPTIONS", "/metrics", NULL, r), "OPTIONS"))
		ASSERT_EQ(r->status, 405, "OPTIONS status");
	if (ASSERT_OK(http_raw(port, with_body, strlen(with_body), r), "GET with a body"))
		ASSERT_EQ(r->status, 413, "body refused");
	if (ASSERT_OK(http_raw(port, chunked, strlen(chunked), r), "chunked body"))
		ASSERT_EQ(r->status, 413, "chunked body refused");
	ASSERT_EQ(d.profile_calls, 0, "no op ran");

	/* Still serving. */
	if (ASSERT_OK(http_get(port, "/healthz", r), "healthz after"))
		ASSERT_EQ(r->status, 200, "healthz after");

cleanup:
	httpd__stop(h);
	free(r);
}

TEST(httpd_long_request_target)
{
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	char *target = NULL;
	size_t len;
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(NULL, &d, &port);
	if (!h)
		goto cleanup;
	target = malloc(64 * 1024);
	if (!ASSERT_OK_PTR(target, "alloc"))
		goto cleanup;

	/* Exactly the limit passes the length check (and fails on the value's length). */
	strcpy(target, "/debug/pprof/heap?exe=");
	len = strlen(target);
	memset(target + len, 'a', HTTPD_MAX_URI_BYTES - len);
	target[HTTPD_MAX_URI_BYTES] = '\0';
	if (ASSERT_OK(http_get(port, target, r), "4096-byte target")) {
		ASSERT_EQ(r->status, 400, "4096 bytes are allowed");
		ASSERT_STREQ(r->body, "parameter exe is longer than 255 bytes\n", "value too long");
	}
	/* One more byte: 414 from the module. */
	target[HTTPD_MAX_URI_BYTES] = 'a';
	target[HTTPD_MAX_URI_BYTES + 1] = '\0';
	if (ASSERT_OK(http_get(port, target, r), "4097-byte target")) {
		ASSERT_EQ(r->status, 414, "4097 bytes are not");
		ASSERT_STREQ(r->body, "request target longer than 4096 bytes\n", "414 body");
	}
	/* Past the connection's memory: libmicrohttpd answers 414 itself. */
	memset(target + len, 'a', 60 * 1024);
	target[len + 60 * 1024] = '\0';
	if (ASSERT_OK(http_get(port, target, r), "60 KiB target"))
		ASSERT_EQ(r->status, 414, "60 KiB target");
	ASSERT_EQ(d.profile_calls, 0, "no op ran");

	if (ASSERT_OK(http_get(port, "/healthz", r), "healthz after"))
		ASSERT_EQ(r->status, 200, "healthz after");

cleanup:
	httpd__stop(h);
	free(target);
	free(r);
}

TEST(httpd_bearer_token)
{
	static const char token[] = "s3cr3t-t0ken-0123456789abcdef";
	struct httpd_opts opts = {.listen = "127.0.0.1:0"};
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	struct tmp_dir t = {};
	char buf[128], hdr[128];
	int port;

	if (!ASSERT_OK_PTR(r, "alloc") || !tmp_dir_make(&t))
		goto cleanup;
	/* With the newline a shell's echo leaves. */
	snprintf(buf, sizeof(buf), "%s\n", token);
	opts.auth_token_file = tmp_file(&t, "token", buf);
	h = start_server(&opts, &d, &port);
	if (!h)
		goto cleanup;

	if (ASSERT_OK(http_get(port, "/debug/pprof/heap?pid=42", r), "no token")) {
		ASSERT_EQ(r->status, 401, "no token");
		assert_header(r, "WWW-Authenticate", "Bearer realm=\"allocscope\"", "challenge");
	}
	if (ASSERT_OK(http_req(port, "GET", "/debug/pprof/", "Authorization: Bearer wrong\r\n", r),
		      "wrong token")) {
		ASSERT_EQ(r->status, 401, "wrong token");
		assert_header(r, "WWW-Authenticate",
			      "Bearer realm=\"allocscope\", error=\"invalid_token\"", "challenge");
	}
	/* Same length, last byte differs; and the token with a byte appended. */
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %.*sX\r\n", (int)strlen(token) - 1,
		 token);
	if (ASSERT_OK(http_req(port, "GET", "/metrics", hdr, r), "last byte differs"))
		ASSERT_EQ(r->status, 401, "last byte differs");
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %sX\r\n", token);
	if (ASSERT_OK(http_req(port, "GET", "/metrics", hdr, r), "token prefix"))
		ASSERT_EQ(r->status, 401, "the token as a prefix");
	snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", token);
	if (ASSERT_OK(http_req(port, "GET", "/metrics", hdr, r), "basic scheme"))
		ASSERT_EQ(r->status, 401, "another scheme");
	/* Unknown paths are hidden behind the token too. */
	if (ASSERT_OK(http_get(port, "/nope", r), "unknown path without token"))
		ASSERT_EQ(r->status, 401, "unknown path without token");
	ASSERT_EQ(d.profile_calls, 0, "no op ran without the token");

	if (ASSERT_OK(http_get(port, "/healthz", r), "healthz without token"))
		ASSERT_EQ(r->status, 200, "healthz needs no token");

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	if (ASSERT_OK(http_req(port, "GET", "/debug/pprof/heap?pid=42", hdr, r), "right token")) {
		ASSERT_EQ(r->status, 200, "right token");
		ASSERT_EQ(d.profile_calls, 1, "op ran once");
	}
	/* The scheme is case-insensitive (RFC 7235). */
	snprintf(hdr, sizeof(hdr), "Authorization: bearer %s\r\n", token);
	if (ASSERT_OK(http_req(port, "GET", "/metrics", hdr, r), "lower-case scheme")) {
		ASSERT_EQ(r->status, 200, "lower-case scheme");
		ASSERT_TRUE(body_has(r, "allocscope_http_responses_total{code=\"401\"} 6\n"),
			    "401 counter");
	}

cleanup:
	httpd__stop(h);
	tmp_dir_remove(&t);
	free(r);
}

TEST(httpd_start_checks)
{
	static const char *const bad_listen[] = {
	    "127.0.0.1",    "127.0.0.1:",      "127.0.0.1:65536", "127.0.0.1:x",
	    "127.0.0.1:-1", "::1:80",	       "[::1]80",	  "[::1",
	    ":6464",	    "host.example:80", "1.2.3:80",	  "[zz]:80",
	};
	static const char *const public_listen[] = {"0.0.0.0:0", "[::]:0", "10.1.2.3:0",
						    "[::ffff:10.0.0.1]:0"};
	struct httpd_opts opts = {};
	struct fake_daemon d = {};
	struct httpd *h = NULL;
	struct tmp_dir t = {};
	char log[1024];
	FILE *f;
	int saved;

	if (!tmp_dir_make(&t))
		return;

	for (size_t i = 0; i < ARRAY_SIZE(public_listen); i++) {
		opts = (struct httpd_opts){.listen = public_listen[i]};
		saved = stderr_begin(&f);
		if (!ASSERT_TRUE(saved >= 0, "capture stderr"))
			goto cleanup;
		errno = 0;
		h = httpd__start(&opts, &fake_ops, &d);
		stderr_end(f, saved, log, sizeof(log));
		if (!ASSERT_TRUE(h == NULL, public_listen[i]))
			goto cleanup;
		ASSERT_EQ(errno, EINVAL, public_listen[i]);
		ASSERT_TRUE(strstr(log, "non-loopback") && strstr(log, public_listen[i]),
			    "the reason is logged");
		ASSERT_TRUE(strchr(log, '\n') == log + strlen(log) - 1, "in one line");
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_listen); i++) {
		opts = (struct httpd_opts){.listen = bad_listen[i]};
		errno = 0;
		h = httpd__start(&opts, &fake_ops, &d);
		if (!ASSERT_TRUE(h == NULL, bad_listen[i]))
			goto cleanup;
		ASSERT_EQ(errno, EINVAL, bad_listen[i]);
	}

	/* insecure=1 or a token lift the refusal. */
	opts = (struct httpd_opts){.listen = "0.0.0.0:0", .insecure = 1};
	h = httpd__start(&opts, &fake_ops, &d);
	if (!ASSERT_OK_PTR(h, "0.0.0.0 with insecure"))
		goto cleanup;
	ASSERT_TRUE(httpd__port(h) > 0, "port");
	httpd__stop(h);
	opts = (struct httpd_opts){.listen = "0.0.0.0:0",
				   .auth_token_file = tmp_file(&t, "token", "abcdefghijklmnopq")};
	h = httpd__start(&opts, &fake_ops, &d);
	if (!ASSERT_OK_PTR(h, "0.0.0.0 with a token"))
		goto cleanup;
	httpd__stop(h);
	/* ::1 needs neither, wherever the host has IPv6. */
	opts = (struct httpd_opts){.listen = "[::1]:0"};
	errno = 0;
	h = httpd__start(&opts, &fake_ops, &d);
	ASSERT_TRUE(h ? httpd__port(h) > 0 : errno != EINVAL, "[::1]");
	httpd__stop(h);
	/* Every 127/8 address is loopback. */
	opts = (struct httpd_opts){.listen = "127.0.0.2:0"};
	h = httpd__start(&opts, &fake_ops, &d);
	if (!ASSERT_OK_PTR(h, "127.0.0.2"))
		goto cleanup;
	httpd__stop(h);
	h = NULL;

	/* Bad token files and half a TLS configuration. */
	opts = (struct httpd_opts){.listen = "127.0.0.1:0",
				   .auth_token_file = tmp_file(&t, "missing", NULL)};
	errno = 0;
	ASSERT_TRUE(httpd__start(&opts, &fake_ops, &d) == NULL && errno == ENOENT, "no token file");
	opts.auth_token_file = tmp_file(&t, "empty", "\n");
	errno = 0;
	ASSERT_TRUE(httpd__start(&opts, &fake_ops, &d) == NULL && errno == EINVAL, "empty token");
	opts.auth_token_file = tmp_file(&t, "spaces", "two words\n");
	errno = 0;
	ASSERT_TRUE(httpd__start(&opts, &fake_ops, &d) == NULL && errno == EINVAL, "spaced token");
	opts = (struct httpd_opts){.listen = "127.0.0.1:0", .tls_cert = "/nonexistent.pem"};
	errno = 0;
	ASSERT_TRUE(httpd__start(&opts, &fake_ops, &d) == NULL && errno == EINVAL, "cert, no key");

	/* A taken port. */
	opts = (struct httpd_opts){.listen = "127.0.0.1:0"};
	h = httpd__start(&opts, &fake_ops, &d);
	if (ASSERT_OK_PTR(h, "first server")) {
		char listen[32];
		struct httpd *h2;

		snprintf(listen, sizeof(listen), "127.0.0.1:%d", httpd__port(h));
		opts.listen = listen;
		errno = 0;
		h2 = httpd__start(&opts, &fake_ops, &d);
		ASSERT_TRUE(h2 == NULL && errno == EADDRINUSE, "port in use");
		httpd__stop(h2);
	}

cleanup:
	httpd__stop(h);
	tmp_dir_remove(&t);
}

TEST(httpd_connection_bounds)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct httpd_opts opts = {.listen = "127.0.0.1:0", .max_connections = 2, .timeout_s = 1};
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct timespec t0, t1, nap = {.tv_nsec = 200 * 1000 * 1000};
	struct httpd *h = NULL;
	int idle[2] = {-1, -1}, port, fd = -1;
	struct pollfd pfd;
	char c;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	h = start_server(&opts, &d, &port);
	if (!h)
		goto cleanup;

	/* Two idle connections fill the limit: libmicrohttpd stops accepting, and a third
	 * request waits in the listen backlog unanswered. */
	for (int i = 0; i < 2; i++) {
		idle[i] = connect_local(port);
		if (!ASSERT_TRUE(idle[i] >= 0, "idle connection"))
			goto cleanup;
	}
	nanosleep(&nap, NULL);
	fd = connect_local(port);
	if (!ASSERT_TRUE(fd >= 0, "third connection") ||
	    !ASSERT_EQ(send(fd, req, strlen(req), MSG_NOSIGNAL), strlen(req), "third request"))
		goto cleanup;
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	ASSERT_EQ(poll(&pfd, 1, 500), 0, "no answer while the limit is reached");

	/* The idle ones time out after timeout_s (1 s), which frees the slots. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(recv(idle[0], &c, 1, 0), 0, "idle connection closed by the server");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 3, "within the timeout");
	ASSERT_EQ(recv(idle[1], &c, 1, 0), 0, "second idle connection closed");
	if (ASSERT_OK(read_resp(fd, r), "the waiting request"))
		ASSERT_EQ(r->status, 200, "served once a slot is free");

cleanup:
	for (int i = 0; i < 2; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	if (fd >= 0)
		close(fd);
	httpd__stop(h);
	free(r);
}

static bool have_openssl(void)
{
	return system("command -v openssl >/dev/null 2>&1") == 0;
}

TEST(httpd_tls)
{
	struct httpd_opts opts = {.listen = "127.0.0.1:0"};
	struct fake_daemon d = {};
	struct http_resp *r = calloc(1, sizeof(*r));
	struct httpd *h = NULL;
	struct tmp_dir t = {};
	char *cmd = NULL, out[4096];
	size_t n = 0;
	FILE *p;
	int port;

	if (!ASSERT_OK_PTR(r, "alloc"))
		return;
	if (!have_openssl()) {
		test__skip("openssl(1) is not installed: no certificate to serve, no TLS client");
		goto cleanup;
	}
	if (!tmp_dir_make(&t))
		goto cleanup;
	opts.tls_cert = tmp_file(&t, "cert.pem", NULL);
	opts.tls_key = tmp_file(&t, "key.pem", NULL);
	if (asprintf(&cmd,
		     "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		     "-days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
		     "-keyout %s -out %s >/dev/null 2>&1",
		     opts.tls_key, opts.tls_cert) < 0)
		goto cleanup;
	if (!ASSERT_EQ(system(cmd), 0, "openssl req"))
		goto cleanup;
	free(cmd);
	cmd = NULL;

	h = start_server(&opts, &d, &port);
	if (!h)
		goto cleanup;
	/* -quiet implies -ign_eof: the client reads until the server closes. The certificate
	 * must verify against itself for 127.0.0.1. */
	if (asprintf(
		&cmd,
		"printf 'GET /debug/pprof/heap?pid=42 HTTP/1.1\\r\\nHost: x\\r\\n"
		"Connection: close\\r\\n\\r\\n' | openssl s_client -quiet -connect "
		"127.0.0.1:%d -CAfile %s -verify_return_error -verify_ip 127.0.0.1 2>/dev/null",
		port, opts.tls_cert) < 0)
		goto cleanup;
	p = popen(cmd, "r");
	if (!ASSERT_OK_PTR(p, "popen openssl s_client"))
		goto cleanup;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	ASSERT_TRUE(strncmp(out, "HTTP/1.1 200", 12) == 0, "200 over TLS");
	ASSERT_TRUE(strstr(out, "filename=\"heap\"") != NULL, "heap over TLS");
	ASSERT_TRUE(n >= FAKE_PPROF_LEN &&
			memcmp(out + n - FAKE_PPROF_LEN, fake_pprof, FAKE_PPROF_LEN) == 0,
		    "body over TLS");
	ASSERT_EQ(d.profile_calls, 1, "one profile");

	/* Plain HTTP to the TLS port is not served. */
	r->status = 0;
	http_get(port, "/healthz", r);
	ASSERT_TRUE(r->status != 200, "no plain-text answer");

cleanup:
	httpd__stop(h);
	tmp_dir_remove(&t);
	free(cmd);
	free(r);
}
