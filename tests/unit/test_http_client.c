// SPDX-License-Identifier: MIT
/* The HTTP client against a one-shot server on loopback: the bearer token sent, the body kept,
 * the size bound, redirects not followed, a refused connection told apart. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/common.h"
#include "util/http_client.h"
#include "test.h"

struct one_shot {
	int lfd;
	int port;
	const char *answer; /* the whole HTTP response */
	char request[4096]; /* what the client sent, headers and body */
	int served;
};

static void *serve(void *arg)
{
	struct one_shot *o = arg;
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = accept(o->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	/* Headers and a short body come in one or two segments: read until they stop. */
	while (got < sizeof(o->request) - 1 &&
	       (n = recv(fd, o->request + got, sizeof(o->request) - 1 - got, 0)) > 0) {
		got += n;
		o->request[got] = '\0';
		if (strstr(o->request, "\r\n\r\n") &&
		    (!strstr(o->request, "POST") || strstr(o->request, "BODY")))
			break;
	}
	if (send(fd, o->answer, strlen(o->answer), MSG_NOSIGNAL) < 0)
		o->served = -1;
	else
		o->served++;
	close(fd);
	return NULL;
}

static bool listen_once(struct one_shot *o, const char *answer)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	*o = (struct one_shot){.answer = answer};
	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_TRUE(o->lfd >= 0, "socket"))
		return false;
	if (!ASSERT_OK(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)) ?: listen(o->lfd, 4) ?:
		       getsockname(o->lfd, (struct sockaddr *)&a, &al),
		       "listen")) {
		close(o->lfd);
		return false;
	}
	o->port = ntohs(a.sin_port);
	return true;
}

static int exchange(struct one_shot *o, struct http_request *rq, struct http_response *rsp)
{
	char url[64];
	pthread_t t;
	int err;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x?y=1", o->port);
	rq->url = url;
	if (pthread_create(&t, NULL, serve, o)) {
		close(o->lfd);
		return -EAGAIN;
	}
	err = http_send(rq, rsp);
	/* A client that gave up early leaves the server's send to fail; it returns anyway. */
	pthread_join(t, NULL);
	close(o->lfd);
	return err;
}

TEST(http_client_get_with_token)
{
	struct one_shot o;
	struct http_request rq = {
	    .bearer_token = "s3cret", .timeout_ms = 5000, .max_body_bytes = 1024};
	struct http_response rsp;

	if (!listen_once(&o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
			     "hello"))
		return;
	if (ASSERT_OK(exchange(&o, &rq, &rsp), rsp.error)) {
		ASSERT_EQ(rsp.status, 200, "status");
		ASSERT_STREQ(rsp.body ?: "", "hello", "body");
		ASSERT_EQ(rsp.len, 5, "length");
	}
	ASSERT_TRUE(strstr(o.request, "GET /x?y=1 HTTP/1.1\r\n") != NULL, o.request);
	ASSERT_TRUE(strstr(o.request, "\r\nAuthorization: Bearer s3cret\r\n") != NULL, o.request);
	free(rsp.body);
}

TEST(http_client_post_body_and_type)
{
	struct one_shot o;
	struct http_request rq = {.body = "BODY",
				  .body_len = 4,
				  .content_type = "application/octet-stream",
				  .timeout_ms = 5000};
	struct http_response rsp;

	if (!listen_once(&o, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
		return;
	if (ASSERT_OK(exchange(&o, &rq, &rsp), rsp.error))
		ASSERT_EQ(rsp.status, 204, "status");
	ASSERT_TRUE(strstr(o.request, "POST /x?y=1 ") != NULL, o.request);
	ASSERT_TRUE(strstr(o.request, "\r\nContent-Type: application/octet-stream\r\n") != NULL,
		    o.request);
	ASSERT_TRUE(!strstr(o.request, "Authorization"), "no token, no header");
	ASSERT_TRUE(rsp.body == NULL, "answer discarded without max_body_bytes");
	free(rsp.body);
}

TEST(http_client_body_bound)
{
	struct one_shot o;
	struct http_request rq = {.timeout_ms = 5000, .max_body_bytes = 8};
	struct http_response rsp;

	if (!listen_once(&o, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
			     "hello world"))
		return;
	ASSERT_EQ(exchange(&o, &rq, &rsp), -EFBIG, "over the bound");
	ASSERT_TRUE(strstr(rsp.error, "more than 8 bytes") != NULL, rsp.error);
	free(rsp.body);
}

TEST(http_client_no_redirect)
{
	struct one_shot o;
	struct http_request rq = {
	    .bearer_token = "s3cret", .timeout_ms = 5000, .max_body_bytes = 1024};
	struct http_response rsp;

	/* Were the redirect followed, the client would connect to port 1 and fail. */
	if (!listen_once(&o, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n"))
		return;
	if (ASSERT_OK(exchange(&o, &rq, &rsp), rsp.error))
		ASSERT_EQ(rsp.status, 302, "the redirect is the answer");
	free(rsp.body);
}

TEST(http_client_refused_and_escape)
{
	struct one_shot o;
	struct http_request rq = {.timeout_ms = 5000};
	struct http_response rsp;
	char url[64], *esc;

	if (!listen_once(&o, ""))
		return;
	close(o.lfd); /* the port is free now: nothing listens */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", o.port);
	rq.url = url;
	ASSERT_EQ(http_send(&rq, &rsp), -ECONNREFUSED, "refused");
	ASSERT_TRUE(rsp.error[0] != '\0', "a reason");
	free(rsp.body);
	ASSERT_TRUE(http_is_url("https://a") && http_is_url("http://a") && !http_is_url("file:/a"),
		    "is_url");
	esc = http_escape("app{pid=1,x y}");
	if (ASSERT_OK_PTR(esc, "escape"))
		ASSERT_STREQ(esc, "app%7Bpid%3D1%2Cx%20y%7D", "escaped");
	free(esc);
}

TEST(http_client_basic_auth_tenant_header_no_redirect)
{
	static const char *const hdrs[] = {"X-Scope-OrgID: team-a", NULL};
	struct one_shot o;
	struct http_request rq = {.body = "BODY",
				  .body_len = 4,
				  .basic_user = "alice",
				  .basic_password = "pw",
				  .headers = hdrs,
				  .timeout_ms = 5000};
	struct http_response rsp;

	if (!listen_once(&o, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/"
			     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return;
	if (ASSERT_OK(exchange(&o, &rq, &rsp), rsp.error))
		ASSERT_EQ(rsp.status, 307, "the redirect is the answer, not followed");
	/* base64("alice:pw") */
	ASSERT_TRUE(strstr(o.request, "\r\nAuthorization: Basic YWxpY2U6cHc=\r\n") != NULL,
		    o.request);
	ASSERT_TRUE(strstr(o.request, "\r\nX-Scope-OrgID: team-a\r\n") != NULL, o.request);
	ASSERT_EQ(o.served, 1, "one request");
	free(rsp.body);
}
