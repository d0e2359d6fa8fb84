// SPDX-License-Identifier: MIT
/* allocscoped's HTTP API: routing, strict query validation, bearer-token auth, TLS and request
 * bounds on top of libmicrohttpd (one internal polling thread). Bodies come from struct httpd_ops;
 * the only files this module opens are the token and TLS files, once, at start, and (through
 * peer.c) the socket table, to tell which local user a loopback request comes from. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "util/common.h"
#include "service/httpd.h"
#include "service/http_query.h"
#include "service/peer.h"
#include "util/textenc.h"
#include "util/log.h"
#include "util/small_file.h"

#define DEFAULT_MAX_CONNECTIONS 32
#define DEFAULT_TIMEOUT_S	30
/* Request line and headers must fit; HTTPD_MAX_URI_BYTES plus a few KiB of headers does. */
#define CONN_MEMORY_BYTES    (16 * 1024)
#define MAX_TOKEN_BYTES	     4096
#define MAX_PEM_BYTES	     (1024 * 1024)
#define MAX_ERR_BYTES	     512
#define MAX_SHOWN_BYTES	     40
#define SNAPSHOT_SHOWN_BYTES 48

/*
 * What the URI callback learnt from the raw request target, handed to the access handler through
 * its request pointer. Static markers instead of an allocation: libmicrohttpd only reports the
 * completion of requests that reached the access handler, so anything allocated for a request it
 * rejects on its own (oversized headers, bad request line) would leak.
 */
static char req_plain, req_bad_escape, req_escaped_path, req_uri_too_long, req_answered;

/* Status codes counted for /metrics; the handlers answer nothing else. */
static const unsigned int counted_codes[] = {
    MHD_HTTP_OK,	   MHD_HTTP_BAD_REQUEST,	   MHD_HTTP_UNAUTHORIZED,
    MHD_HTTP_NOT_FOUND,	   MHD_HTTP_METHOD_NOT_ALLOWED,	   MHD_HTTP_CONTENT_TOO_LARGE,
    MHD_HTTP_URI_TOO_LONG, MHD_HTTP_INTERNAL_SERVER_ERROR, MHD_HTTP_NOT_IMPLEMENTED,
    MHD_HTTP_FORBIDDEN,	   MHD_HTTP_SERVICE_UNAVAILABLE,
};

struct httpd {
	struct MHD_Daemon *mhd;
	const struct httpd_ops *ops;
	void *ctx;
	char *token; /* NULL: no authentication */
	size_t token_len;
	/* Loopback without a token: each request is served as the local user that connects. */
	int per_user;
	char *tls_cert;
	char *tls_key;
	size_t tls_key_len;
	int started; /* set once MHD_start_daemon returned; the MHD thread reads it: __atomic */
	/* Written and read only on the MHD thread: no locking. */
	__u64 responses_cnt[ARRAY_SIZE(counted_codes)];
};

/* Responses */

static void count_response(struct httpd *h, unsigned int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(counted_codes); i++) {
		if (counted_codes[i] == status) {
			h->responses_cnt[i]++;
			return;
		}
	}
}

/* Take a malloc'ed body; it is freed whether or not the response could be made. */
static struct MHD_Response *response_take(void *body, size_t len)
{
	struct MHD_Response *resp;

	if (!len) {
		free(body);
		return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(body);
	return resp;
}

/* Add the headers every answer carries plus extra (name, value, ..., NULL), queue it and drop
 * our reference. MHD_NO closes the connection: the only answer left when memory runs out. */
static enum MHD_Result queue(struct httpd *h, struct MHD_Connection *conn, unsigned int status,
			     struct MHD_Response *resp, const char *type, const char *const *extra)
{
	enum MHD_Result ret = MHD_NO;
	bool ok;

	if (!resp)
		return MHD_NO;
	ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
	     MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
	/* go tool pprof prints the body of an error carrying this header instead of a generic
	 * "server response" line. */
	if (ok && status >= 400)
		ok = MHD_add_response_header(resp, "X-Go-Pprof", "1") == MHD_YES;
	for (; ok && extra && extra[0]; extra += 2)
		ok = MHD_add_response_header(resp, extra[0], extra[1]) == MHD_YES;
	if (ok)
		ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		count_response(h, status);
	return ret;
}

/* A one-line text/plain answer: errors, and the health check. */
__attribute__((format(printf, 5, 6))) static enum MHD_Result
respond_text(struct httpd *h, struct MHD_Connection *conn, unsigned int status,
	     const char *const *extra, const char *fmt, ...)
{
	char body[MAX_ERR_BYTES];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : min_t(int, n, sizeof(body) - 2);
	body[n++] = '\n';
	body[n] = '\0';
	return queue(h, conn, status,
		     MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_COPY),
		     "text/plain; charset=utf-8", extra);
}

static enum MHD_Result respond_op_error(struct httpd *h, struct MHD_Connection *conn,
					const char *what, int err, const struct httpd_query *q)
{
	static const char *const sel_names[] = {
	    [HTTPD_SEL_EXE] = "exe",
	    [HTTPD_SEL_COMM] = "comm",
	    [HTTPD_SEL_CGROUP] = "cgroup",
	};
	char buf[MAX_SHOWN_BYTES];

	err = err < 0 ? -err : err;
	if (err == EACCES)
		return respond_text(h, conn, MHD_HTTP_FORBIDDEN, NULL,
				    "pid %d is not yours to read: ask as its user or as root",
				    q->pid);
	if (err == ENOENT) {
		if (q->sel == HTTPD_SEL_ALL)
			return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL,
					    "no target is being profiled");
		if (q->sel == HTTPD_SEL_PID)
			return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL,
					    "no target with pid %d", q->pid);
		return respond_text(
		    h, conn, MHD_HTTP_NOT_FOUND, NULL, "no target with %s \"%s\"",
		    sel_names[q->sel],
		    http_query__shown(q->value, strlen(q->value), buf, sizeof(buf)));
	}
	if (err == ERANGE)
		return respond_text(h, conn, MHD_HTTP_BAD_REQUEST, NULL,
				    "seconds=%d reaches past the retained window", q->seconds);
	log_warn("httpd: %s failed: %s", what, strerror(err));
	return respond_text(h, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s failed: %s", what,
			    strerror(err));
}

/* Endpoints */

static enum MHD_Result serve_profile(struct httpd *h, struct MHD_Connection *conn,
				     enum httpd_profile kind, const struct httpd_query *q)
{
	const char *disposition = kind == HTTPD_PROFILE_HEAP ? "attachment; filename=\"heap\""
							     : "attachment; filename=\"allocs\"";
	const char *const hdrs[] = {MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition, NULL};
	void *buf = NULL;
	size_t len = 0;
	int err;

	if (q->snapshot[0]) {
		if (q->sel != HTTPD_SEL_ALL || q->seconds)
			return respond_text(h, conn, MHD_HTTP_BAD_REQUEST, NULL,
					    "snapshot= takes no pid, exe, comm, cgroup or seconds");
		if (!h->ops->snapshot_pprof)
			return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
					    "snapshots are not served");
		err = h->ops->snapshot_pprof(h->ctx, q->snapshot, &buf, &len);
		if (err == -ENOENT)
			return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL, "no snapshot %s",
					    q->snapshot);
		if (err)
			return respond_op_error(h, conn, "snapshot", err, q);
		return queue(h, conn, MHD_HTTP_OK, response_take(buf, len),
			     "application/octet-stream", hdrs);
	}
	if (!h->ops->profile)
		return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
				    "profiles are not served");
	err = h->ops->profile(h->ctx, kind, q, &buf, &len);
	if (err)
		return respond_op_error(h, conn, "profile", err, q);
	if (!buf && len)
		return respond_op_error(h, conn, "profile", EFAULT, q);
	return queue(h, conn, MHD_HTTP_OK, response_take(buf, len), "application/octet-stream",
		     hdrs);
}

static enum MHD_Result serve_timeline(struct httpd *h, struct MHD_Connection *conn,
				      const struct httpd_query *q)
{
	char *json = NULL;
	int err;

	if (!h->ops->timeline)
		return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
				    "timelines are not served");
	err = h->ops->timeline(h->ctx, q, &json);
	if (err)
		return respond_op_error(h, conn, "timeline", err, q);
	if (!json)
		return respond_op_error(h, conn, "timeline", EFAULT, q);
	return queue(h, conn, MHD_HTTP_OK, response_take(json, strlen(json)), "application/json",
		     NULL);
}

/* POST /snapshot?pid=N, GET /snapshots, GET /snapshots/ID: JSON. */
static enum MHD_Result serve_snapshots(struct httpd *h, struct MHD_Connection *conn,
				       const char *url, const struct httpd_query *q)
{
	const char *id = url + strlen("/snapshots/");
	char *json = NULL;
	int err;

	if (!h->ops->snapshot_take || !h->ops->snapshot_list || !h->ops->snapshot_get)
		return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
				    "snapshots are not served");
	if (strcmp(url, "/snapshot") == 0) {
		if (q->sel != HTTPD_SEL_PID || q->seconds || q->snapshot[0])
			return respond_text(h, conn, MHD_HTTP_BAD_REQUEST, NULL,
					    "POST /snapshot takes pid=N only");
		err = h->ops->snapshot_take(h->ctx, q->pid, &json);
		if (err)
			return respond_op_error(h, conn, "snapshot", err, q);
	} else if (strcmp(url, "/snapshots") == 0) {
		err = h->ops->snapshot_list(h->ctx, &json);
		if (err)
			return respond_op_error(h, conn, "snapshots", err, q);
	} else {
		err = h->ops->snapshot_get(h->ctx, id, &json);
		if (err == -ENOENT)
			return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL, "no snapshot %s",
					    strlen(id) < SNAPSHOT_SHOWN_BYTES ? id
									      : "with that ID");
		if (err)
			return respond_op_error(h, conn, "snapshot", err, q);
	}
	if (!json)
		return respond_op_error(h, conn, "snapshot", EFAULT, q);
	return queue(h, conn, MHD_HTTP_OK, response_take(json, strlen(json)), "application/json",
		     NULL);
}

/* Process text (comm arrays may lack their NUL) escaped for the page. */
static void put_html(FILE *f, const char *s, size_t max_len)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%.*s", (int)min_t(size_t, max_len, sizeof(buf) - 1), s);
	text__xml_escape(f, buf);
}

/*
 * base leads from the page to the profile endpoints and root to "/": the links stay relative so
 * that the page keeps working behind a reverse proxy that mounts the daemon under a prefix, and
 * "/debug/pprof" (no slash, whose directory is "/debug/") needs other ones than "/debug/pprof/".
 */
static enum MHD_Result serve_index(struct httpd *h, struct MHD_Connection *conn, const char *base,
				   const char *root, uid_t viewer)
{
	static const char *const hdrs[] = {"Content-Security-Policy",
					   "default-src 'none'; frame-ancestors 'none'", NULL};
	static const struct httpd_query all;
	struct httpd_target *targets = NULL;
	size_t cnt = 0, len = 0;
	char *body = NULL;
	FILE *f = NULL;
	int err;

	if (!h->ops->targets)
		return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
				    "the target list is not served");
	err = h->ops->targets(h->ctx, viewer, &targets, &cnt);
	if (err)
		return respond_op_error(h, conn, "targets", err, &all);

	f = open_memstream(&body, &len);
	if (!f) {
		err = errno;
		goto cleanup;
	}
	fprintf(f,
		"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		"<title>allocscope /debug/pprof/</title></head>\n<body>\n<h1>/debug/pprof/</h1>\n"
		"<p>All targets: <a href=\"%sheap\">heap</a> <a href=\"%sallocs\">allocs</a>"
		" &middot; <a href=\"%smetrics\">metrics</a></p>\n<table>\n"
		"<tr><th>pid</th><th>comm</th><th>exe</th><th>kind</th><th>cgroup</th>"
		"<th>state</th><th>profiles</th></tr>\n",
		base, base, root);
	for (size_t i = 0; i < cnt; i++) {
		const struct httpd_target *t = &targets[i];

		/* Everything but the pid comes from the processes: escape it all. */
		fprintf(f, "<tr><td>%d</td><td>", t->pid);
		put_html(f, t->comm, sizeof(t->comm));
		fputs("</td><td>", f);
		put_html(f, t->exe, sizeof(t->exe));
		fputs("</td><td>", f);
		put_html(f, t->kind, sizeof(t->kind));
		fputs("</td><td>", f);
		put_html(f, t->cgroup, sizeof(t->cgroup));
		fprintf(f,
			"</td><td>%s</td><td><a href=\"%sheap?pid=%d\">heap</a> "
			"<a href=\"%sallocs?pid=%d\">allocs</a> "
			"<a href=\"%stimeline?pid=%d\">timeline</a></td></tr>\n",
			t->alive ? "alive" : "exited", base, t->pid, base, t->pid, root, t->pid);
	}
	fprintf(f,
		"</table>\n<p>%zu targets. <code>go tool pprof http://HOST/debug/pprof/heap?pid=PID"
		"</code>; add <code>seconds=N</code> for the last N seconds only.</p>\n"
		"</body></html>\n",
		cnt);
	err = ferror(f) ? ENOMEM : 0;
	if (fclose(f) && !err)
		err = errno;

cleanup:
	free(targets);
	if (err) {
		free(body);
		return respond_op_error(h, conn, "index", err, &all);
	}
	return queue(h, conn, MHD_HTTP_OK, response_take(body, len), "text/html; charset=utf-8",
		     hdrs);
}

static enum MHD_Result serve_metrics(struct httpd *h, struct MHD_Connection *conn, uid_t viewer)
{
	static const struct httpd_query all;
	char *text = NULL, *body = NULL;
	size_t len = 0, text_len;
	FILE *f = NULL;
	int err;

	if (!h->ops->metrics)
		return respond_text(h, conn, MHD_HTTP_NOT_IMPLEMENTED, NULL,
				    "metrics are not served");
	err = h->ops->metrics(h->ctx, viewer, &text);
	if (err)
		return respond_op_error(h, conn, "metrics", err, &all);

	f = open_memstream(&body, &len);
	if (!f) {
		err = errno;
		goto cleanup;
	}
	text_len = text ? strlen(text) : 0;
	if (text_len) {
		fputs(text, f);
		if (text[text_len - 1] != '\n')
			fputc('\n', f);
	}
	fputs("# HELP allocscope_http_responses_total Responses of the HTTP API by status code "
	      "(requests libmicrohttpd refuses itself, e.g. over the connection limit, are not "
	      "counted).\n# TYPE allocscope_http_responses_total counter\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(counted_codes); i++)
		fprintf(f, "allocscope_http_responses_total{code=\"%u\"} %llu\n", counted_codes[i],
			(unsigned long long)h->responses_cnt[i]);
	err = ferror(f) ? ENOMEM : 0;
	if (fclose(f) && !err)
		err = errno;

cleanup:
	free(text);
	if (err) {
		free(body);
		return respond_op_error(h, conn, "metrics", err, &all);
	}
	return queue(h, conn, MHD_HTTP_OK, response_take(body, len),
		     "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* Request handling */

/*
 * Who asks: every target for a bearer token's holder, on a non-loopback --insecure listener, and
 * for root; otherwise the local user owning the client's socket (-EACCES when no socket of the
 * table matches: a client that is gone, or a connection from elsewhere through a proxy).
 */
static int request_viewer(const struct httpd *h, struct MHD_Connection *conn, uid_t *viewer)
{
	const union MHD_ConnectionInfo *ci;

	*viewer = 0;
	if (!h->per_user)
		return 0;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return -EACCES;
	return peer__tcp_uid(NULL, ci->connect_fd, viewer) ? -EACCES : 0;
}

static enum MHD_Result serve_health(struct httpd *h, struct MHD_Connection *conn)
{
	char why[MAX_ERR_BYTES - 8];

	why[0] = '\0';
	if (h->ops->health && h->ops->health(h->ctx, why, sizeof(why)))
		return respond_text(h, conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "unhealthy: %s",
				    why);
	return respond_text(h, conn, MHD_HTTP_OK, NULL, "ok");
}

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_len, const char *val, size_t val_len)
{
	struct http_query_state *st = cls;
	int err;

	/* An empty pair ("a=1&&b=2", a trailing '&') comes as an empty key without a value;
	 * httpd__parse_query skips those too. "?pid" has no '=' either: an empty value. */
	if (!key_len && !val)
		return MHD_YES;
	err = http_query__add(st, key, key_len, val ? val : "", val ? val_len : 0);
	return err ? MHD_NO : MHD_YES;
}

/* libmicrohttpd splits and URL-decodes the arguments; the validation is httpd__parse_query's. */
static int request_query(struct MHD_Connection *conn, const char *mark, struct httpd_query *q,
			 char *err, size_t err_len)
{
	struct http_query_state st = {.q = q, .err = err, .err_len = err_len};

	memset(q, 0, sizeof(*q));
	err[0] = '\0';
	/* libmicrohttpd keeps a malformed escape as literal text; the unit-tested parser rejects
	 * it, and so does the server. */
	if (mark == &req_bad_escape)
		return http_query__fail(&st, "malformed %%-escape in the query");
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, query_iter, &st);
	return err[0] ? -EINVAL : 0;
}

enum auth_result {
	AUTH_OK,
	AUTH_MISSING,
	AUTH_INVALID,
};

static enum auth_result check_auth(const struct httpd *h, struct MHD_Connection *conn)
{
	const char *hdr = NULL;
	size_t len = 0, i;
	unsigned char diff;

	if (!h->token)
		return AUTH_OK;
	if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
					  strlen(MHD_HTTP_HEADER_AUTHORIZATION), &hdr,
					  &len) != MHD_YES ||
	    len < 7 || strncasecmp(hdr, "Bearer ", 7) != 0)
		return AUTH_MISSING;
	for (hdr += 7, len -= 7; len && *hdr == ' '; hdr++, len--)
		;
	/*
	 * Constant time in the token's content: every byte of it is compared whatever the client
	 * sent, and a length mismatch is folded in rather than returned early. Only the token's
	 * length can leak, through the loop count.
	 */
	diff = len != h->token_len;
	for (i = 0; i < h->token_len; i++)
		diff |= (unsigned char)h->token[i] ^ (unsigned char)(i < len ? hdr[i] : 0);
	return diff ? AUTH_INVALID : AUTH_OK;
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *len;

	len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (len && strcmp(len, "0") != 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* Sees the raw request target before libmicrohttpd splits and decodes it. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	size_t len = strnlen(uri, HTTPD_MAX_URI_BYTES + 1), path_len;

	if (len > HTTPD_MAX_URI_BYTES)
		return &req_uri_too_long;
	/* Routes are plain ASCII: an escaped path is nobody's, and "%00" cannot cut one short. */
	path_len = strcspn(uri, "?");
	if (memchr(uri, '%', path_len))
		return &req_escaped_path;
	for (size_t i = path_len; i < len; i++)
		if (uri[i] == '%' && (i + 2 >= len || hex_digit_val(uri[i + 1]) < 0 ||
				      hex_digit_val(uri[i + 2]) < 0))
			return &req_bad_escape;
	return &req_plain;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	static const char *const allow_hdrs[] = {MHD_HTTP_HEADER_ALLOW, "GET, HEAD", NULL};
	static const char *const allow_post_hdrs[] = {MHD_HTTP_HEADER_ALLOW, "POST", NULL};
	static const char *const auth_missing_hdrs[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE,
							"Bearer realm=\"allocscope\"", NULL};
	static const char *const auth_invalid_hdrs[] = {
	    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	    "Bearer realm=\"allocscope\", error=\"invalid_token\"", NULL};
	struct httpd *h = cls;
	const char *mark = *req_cls;
	char err[MAX_ERR_BYTES];
	struct httpd_query q;
	enum auth_result auth;
	uid_t viewer;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	/* The one request that changes something: it takes a snapshot. */
	bool post_url = mark != &req_escaped_path && strcmp(url, "/snapshot") == 0;

	/* Every request is answered on its first call, before any body is read; a later call
	 * could only bring body bytes, refused already. */
	if (!mark || mark == &req_answered)
		return MHD_NO;
	*req_cls = &req_answered;

	if (mark == &req_uri_too_long)
		return respond_text(h, conn, MHD_HTTP_URI_TOO_LONG, NULL,
				    "request target longer than %d bytes", HTTPD_MAX_URI_BYTES);
	if (post_url && !post)
		return respond_text(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, allow_post_hdrs,
				    "/snapshot takes POST only");
	if (!post_url && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, allow_hdrs,
				    "only GET and HEAD are served");
	if (has_body(conn))
		return respond_text(h, conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
				    "request bodies are not accepted");
	/* Liveness probes carry no credentials; the answer reveals nothing of the targets. */
	if (mark != &req_escaped_path && strcmp(url, "/healthz") == 0)
		return serve_health(h, conn);
	auth = check_auth(h, conn);
	if (auth != AUTH_OK)
		return respond_text(h, conn, MHD_HTTP_UNAUTHORIZED,
				    auth == AUTH_MISSING ? auth_missing_hdrs : auth_invalid_hdrs,
				    auth == AUTH_MISSING ? "a bearer token is required"
							 : "invalid bearer token");
	if (request_viewer(h, conn, &viewer))
		return respond_text(h, conn, MHD_HTTP_FORBIDDEN, NULL,
				    "cannot tell which local user is asking");
	if (mark == &req_escaped_path)
		return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL, "not found");

	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(h, conn, viewer);
	if (strcmp(url, "/debug/pprof/") == 0)
		return serve_index(h, conn, "", "../../", viewer);
	if (strcmp(url, "/debug/pprof") == 0)
		return serve_index(h, conn, "pprof/", "../", viewer);
	if (strcmp(url, "/debug/pprof/heap") && strcmp(url, "/debug/pprof/allocs") &&
	    strcmp(url, "/timeline") && !post_url && strcmp(url, "/snapshots") &&
	    strncmp(url, "/snapshots/", strlen("/snapshots/")))
		return respond_text(h, conn, MHD_HTTP_NOT_FOUND, NULL,
				    "not found; the endpoints are listed at /debug/pprof/");

	if (request_query(conn, mark, &q, err, sizeof(err)))
		return respond_text(h, conn, MHD_HTTP_BAD_REQUEST, NULL, "%s", err);
	q.viewer = viewer;
	/* A snapshot holds a whole process's heap at a moment, kept past the process: only
	 * readers of every target (root, a token) may take or read them. */
	if ((!strncmp(url, "/snapshot", strlen("/snapshot")) || q.snapshot[0]) && viewer)
		return respond_text(h, conn, MHD_HTTP_FORBIDDEN, NULL,
				    "snapshots are served to root or with the token only");
	if (!strncmp(url, "/snapshot", strlen("/snapshot")))
		return serve_snapshots(h, conn, url, &q);
	if (strcmp(url, "/timeline") == 0) {
		if (q.snapshot[0])
			return respond_text(h, conn, MHD_HTTP_BAD_REQUEST, NULL,
					    "a snapshot's timeline is at /snapshots/ID");
		return serve_timeline(h, conn, &q);
	}
	return serve_profile(
	    h, conn,
	    strcmp(url, "/debug/pprof/heap") == 0 ? HTTPD_PROFILE_HEAP : HTTPD_PROFILE_ALLOCS, &q);
}

/* Start-up */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* Once serving, libmicrohttpd reports per-connection trouble (scanners, TLS handshakes,
	 * the connection limit): debug output, not warnings an attacker can flood the log with. */
	log_msg(__atomic_load_n(&h->started, __ATOMIC_ACQUIRE) ? LOG_LVL_DEBUG : LOG_LVL_WARN,
		"httpd: libmicrohttpd: %s", buf);
}

static int listen_fail(const char *listen, const char *why)
{
	log_error("httpd: invalid listen address \"%s\": %s", listen, why);
	return -EINVAL;
}

/* "ADDR:PORT" or "[ADDR6]:PORT", numeric (or "localhost"): no resolver at start-up. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *start, *end;
	bool v6 = listen[0] == '[';

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		start = listen + 1;
		end = strchr(start, ']');
		if (!end || end[1] != ':')
			return listen_fail(listen, "expected [ADDR]:PORT");
		colon = end + 1;
	} else {
		start = listen;
		colon = strrchr(listen, ':');
		if (!colon)
			return listen_fail(listen, "expected ADDR:PORT");
		end = colon;
		if (memchr(start, ':', end - start))
			return listen_fail(listen, "an IPv6 address needs brackets: [ADDR]:PORT");
	}
	if (end == start)
		return listen_fail(listen, "no address (0.0.0.0:PORT or [::]:PORT is every one)");
	if ((size_t)(end - start) >= sizeof(host))
		return listen_fail(listen, "address too long");
	memcpy(host, start, end - start);
	host[end - start] = '\0';
	if (http_query__parse_uint(colon + 1, strlen(colon + 1), 0, 65535, port))
		return listen_fail(listen, "the port must be a number in 0..65535");

	if (v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(*port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return listen_fail(listen, "not a numeric IPv6 address");
		return 0;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(*port);
	if (strcmp(host, "localhost") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return listen_fail(listen, "not a numeric IPv4 address");
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
	       (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127);
}

static int read_token(const char *path, char **out, size_t *out_len)
{
	char *tok = NULL;
	size_t len = 0;
	int err;

	err = small_file__read("httpd", path, MAX_TOKEN_BYTES, &tok, &len, NULL);
	if (err)
		return err;
	/* Files written by echo or a secret store end in a newline that is not part of it. */
	while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ' ||
		       tok[len - 1] == '\t'))
		tok[--len] = '\0';
	for (size_t i = 0; i < len && !err; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e)
			err = -EINVAL;
	if (!len || err) {
		log_error("httpd: %s: the token must be one line of printable ASCII without spaces",
			  path);
		explicit_bzero(tok, len);
		free(tok);
		return -EINVAL;
	}
	if (len < 16)
		log_warn("httpd: the token in %s has only %zu bytes; 32 random ones are better",
			 path, len);
	*out = tok;
	*out_len = len;
	return 0;
}

struct httpd *httpd__start(const struct httpd_opts *opts, const struct httpd_ops *ops, void *ctx)
{
	static const struct httpd_opts no_opts;
	struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
	unsigned int flags, max_conns, timeout_s;
	struct sockaddr_storage ss;
	struct httpd *h = NULL;
	const char *listen;
	size_t cert_len;
	int err = 0, port;

	if (!opts)
		opts = &no_opts;
	listen = opts->listen ? opts->listen : HTTPD_DEFAULT_LISTEN;
	if (!ops) {
		log_error("httpd: no ops to serve");
		err = -EINVAL;
		goto cleanup;
	}
	err = parse_listen(listen, &ss, &port);
	if (err)
		goto cleanup;
	if (!is_loopback(&ss) && !opts->auth_token_file && !opts->insecure) {
		log_error("httpd: refusing to serve profiles on non-loopback %s without a token "
			  "file (or insecure)",
			  listen);
		err = -EINVAL;
		goto cleanup;
	}
	if (!opts->tls_cert != !opts->tls_key) {
		log_error("httpd: TLS needs both a certificate and a key file");
		err = -EINVAL;
		goto cleanup;
	}
	if (opts->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_error("httpd: this libmicrohttpd was built without TLS support");
		err = -EOPNOTSUPP;
		goto cleanup;
	}

	h = calloc(1, sizeof(*h));
	if (!h) {
		err = -ENOMEM;
		goto cleanup;
	}
	h->ops = ops;
	h->ctx = ctx;
	h->per_user = is_loopback(&ss) && !opts->auth_token_file;
	if (opts->auth_token_file) {
		err = read_token(opts->auth_token_file, &h->token, &h->token_len);
		if (err)
			goto cleanup;
	}
	if (opts->tls_cert) {
		err = small_file__read("httpd", opts->tls_cert, MAX_PEM_BYTES, &h->tls_cert,
				       &cert_len, NULL);
		if (err)
			goto cleanup;
		err = small_file__read("httpd", opts->tls_key, MAX_PEM_BYTES, &h->tls_key,
				       &h->tls_key_len, NULL);
		if (err)
			goto cleanup;
		tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
		tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
	}

	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (h->tls_cert)
		flags |= MHD_USE_TLS;
	max_conns = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
	timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	errno = 0;
	h->mhd = MHD_start_daemon(
	    flags, port, NULL, NULL, handle_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)CONN_MEMORY_BYTES, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, h,
	    MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!h->mhd) {
		err = errno ? -errno : -EIO;
		log_error("httpd: cannot serve on %s: %s", listen, strerror(-err));
		goto cleanup;
	}
	__atomic_store_n(&h->started, 1, __ATOMIC_RELEASE);
	log_info("httpd: serving %s on %s (port %d)%s", h->tls_cert ? "https" : "http", listen,
		 httpd__port(h), h->token ? ", bearer token required" : "");

cleanup:
	if (err) {
		httpd__stop(h);
		errno = -err;
		return NULL;
	}
	return h;
}

int httpd__port(const struct httpd *h)
{
	const union MHD_DaemonInfo *info;

	if (!h || !h->mhd)
		return -EINVAL;
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : -EIO;
}

void httpd__stop(struct httpd *h)
{
	if (!h)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	if (h->token) {
		explicit_bzero(h->token, h->token_len);
		free(h->token);
	}
	if (h->tls_key) {
		explicit_bzero(h->tls_key, h->tls_key_len);
		free(h->tls_key);
	}
	free(h->tls_cert);
	free(h);
}
