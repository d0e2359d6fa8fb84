// SPDX-License-Identifier: MIT
/* --push without a network: the interval's values (alloc of the interval, absolute in-use),
 * the service name and series labels, the auth file, URL redaction, and the queue's bound,
 * retries, refusals and bounded flush against a fake sender. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "service/push.h"
#include "service/push_queue.h"
#include "service/push_series.h"
#include "util/common.h"
#include "util/http_client.h"
#include "test.h"

static bool add(struct entry_set *s, __s32 stack_id, __u64 ac, __u64 ab, __u64 fc, __u64 fb)
{
	struct alloc_entry e = {
	    .key = {.tgid = 7, .stack_id = stack_id},
	    .stats = {.alloc_cnt = ac, .alloc_bytes = ab, .free_cnt = fc, .free_bytes = fb},
	};

	return ASSERT_OK(entry_set__add(s, &e), "entry_set__add");
}

static const struct alloc_entry *find(const struct entry_set *s, __s32 stack_id)
{
	for (size_t i = 0; i < s->cnt; i++)
		if (s->e[i].key.stack_id == stack_id)
			return &s->e[i];
	return NULL;
}

/* What heap_profile will read: allocations, and in-use as alloc - free - untracked. */
static bool expect(const struct entry_set *s, __s32 id, __u64 ac, __u64 ab, __s64 lc, __s64 lb)
{
	const struct alloc_entry *e = find(s, id);
	const struct alloc_stats *v;
	bool ok;

	if (!e)
		return test__fail(__FILE__, __LINE__, "stack id %d missing", id);
	v = &e->stats;
	ok = ASSERT_EQ(v->alloc_cnt, ac, "alloc_cnt");
	ok &= ASSERT_EQ(v->alloc_bytes, ab, "alloc_bytes");
	ok &= ASSERT_EQ((__s64)(v->alloc_cnt - v->free_cnt - v->untracked_cnt), lc, "in-use count");
	ok &= ASSERT_EQ((__s64)(v->alloc_bytes - v->free_bytes - v->untracked_bytes), lb,
			"in-use bytes");
	return ok;
}

TEST(push_interval_alloc_delta_inuse_absolute)
{
	struct entry_set delta = {}, cur = {}, out = {};

	/* Stack 1 allocated 50 and freed 200 this interval: in-use 50 now, not -150. */
	add(&delta, 1, 50, 50000, 200, 200000);
	add(&cur, 1, 250, 250000, 200, 200000);
	/* Stack 2 allocated nothing this interval but still holds 3 blocks. */
	add(&cur, 2, 10, 1000, 7, 700);
	/* Stack 3 freed everything long ago: nothing to say. */
	add(&cur, 3, 5, 500, 5, 500);
	/* Stack 4: allocated and freed within the interval. */
	add(&delta, 4, 8, 800, 8, 800);
	add(&cur, 4, 8, 800, 8, 800);
	/* Stack 5: a free counted before its allocation (read while counting): in-use is 0. */
	add(&delta, 5, 1, 10, 2, 20);
	add(&cur, 5, 1, 10, 2, 20);
	if (!ASSERT_OK(push_series__interval(&delta, &cur, &out), "interval"))
		goto cleanup;
	ASSERT_EQ(out.cnt, 4, "entries (stack 3 left out)");
	expect(&out, 1, 50, 50000, 50, 50000);
	expect(&out, 2, 0, 0, 3, 300);
	expect(&out, 4, 8, 800, 0, 0);
	expect(&out, 5, 1, 10, 0, 0);
	ASSERT_TRUE(!find(&out, 3), "stack 3 left out");
cleanup:
	entry_set__clear(&delta);
	entry_set__clear(&cur);
	entry_set__clear(&out);
}

TEST(push_pod_owner)
{
	static const char *const cases[][2] = {
	    {"web-7d9f8c6b5-x2k4q", "web"},	   /* Deployment */
	    {"my-api-5c6d7f8b9d-zq8wp", "my-api"}, /* Deployment, a dash in its name */
	    {"node-agent-x2k4q", "node-agent"},	   /* DaemonSet */
	    {"db-0", "db"},			   /* StatefulSet */
	    {"kafka-broker-12", "kafka-broker"},   /* StatefulSet */
	    {"standalone", "standalone"},	   /* a bare pod */
	    {"web-aeiou", "web-aeiou"},		   /* vowels: not generated */
	    {"debug-shell", "debug-shell"},	   /* a word, not a suffix */
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		push_series__pod_owner(cases[i][0], buf, sizeof(buf));
		ASSERT_STREQ(buf, cases[i][1], cases[i][0]);
	}
}

TEST(push_service_name_order)
{
	struct push_identity id = {
	    .rule = "checkout",
	    .exe = "/usr/bin/server",
	    .pod_uid = "1234-abcd",
	    .pod_name = "web-7d9f8c6b5-x2k4q",
	    .namespace = "shop",
	    .container = "app",
	    .container_id = "0123456789abcdef",
	};
	char buf[128];

	ASSERT_EQ(push_series__service(&id, buf, sizeof(buf)), PUSH_SERVICE_RULE, "rule first");
	ASSERT_STREQ(buf, "checkout", "rule");
	id.rule = NULL;
	ASSERT_EQ(push_series__service(&id, buf, sizeof(buf)), PUSH_SERVICE_POD_OWNER, "pod");
	ASSERT_STREQ(buf, "shop/web", "namespace/owner");
	id.pod_uid = "";
	ASSERT_EQ(push_series__service(&id, buf, sizeof(buf)), PUSH_SERVICE_CONTAINER, "container");
	ASSERT_STREQ(buf, "app", "container name");
	/* Outside a container, an inherited CONTAINER_NAME names nothing. */
	id.container_id = "";
	ASSERT_EQ(push_series__service(&id, buf, sizeof(buf)), PUSH_SERVICE_EXECUTABLE, "exe");
	ASSERT_STREQ(buf, "server", "executable's base name");
}

TEST(push_env_and_series_name)
{
	static const char env[] = "PATH=/bin\0POD_NAME=web-1\0HOSTNAME=h\0CONTAINER_NAME=app\0"
				  "POD_NAMESPACE=shop\0POD_NAMEX=no";
	struct push_label l[] = {
	    {"host", "node{1}"}, {"namespace", "shop"}, {"pod", ""}, {"pid", NULL}, {"c", "a,b=c"}};
	struct push_env e;
	char *name;

	push_series__parse_env(env, sizeof(env) - 1, &e);
	ASSERT_STREQ(e.pod_name, "web-1", "POD_NAME");
	ASSERT_STREQ(e.namespace, "shop", "POD_NAMESPACE");
	ASSERT_STREQ(e.container, "app", "CONTAINER_NAME");
	ASSERT_STREQ(e.hostname, "h", "HOSTNAME");
	name = push_series__name("svc", l, ARRAY_SIZE(l));
	if (ASSERT_OK_PTR(name, "name"))
		ASSERT_STREQ(name, "svc{host=node_1_,namespace=shop,c=a_b_c}",
			     "labels without the empty ones, syntax escaped");
	free(name);
}

TEST(push_auth_file_format)
{
	struct push_auth a;

	ASSERT_OK(push_auth__parse("basic alice:pa:ss word\n", &a), "basic");
	ASSERT_EQ(a.kind, PUSH_AUTH_BASIC, "kind");
	ASSERT_STREQ(a.user, "alice", "user");
	ASSERT_STREQ(a.secret, "pa:ss word", "password: all after the first colon");
	ASSERT_OK(push_auth__parse("  Bearer glc_abc123\r\n\n", &a), "bearer");
	ASSERT_EQ(a.kind, PUSH_AUTH_BEARER, "kind");
	ASSERT_STREQ(a.secret, "glc_abc123", "token");
	ASSERT_EQ(push_auth__parse("bearer a\nbearer b\n", &a), -EINVAL, "two lines");
	ASSERT_EQ(push_auth__parse("basic alice\n", &a), -EINVAL, "no password");
	ASSERT_EQ(push_auth__parse("basic :pw\n", &a), -EINVAL, "no user");
	ASSERT_EQ(push_auth__parse("token x\n", &a), -EINVAL, "unknown kind");
	ASSERT_EQ(push_auth__parse("bearer\n", &a), -EINVAL, "empty token");
	ASSERT_EQ(push_auth__parse("", &a), -EINVAL, "empty file");
}

TEST(push_url_redaction)
{
	static const char *const cases[][2] = {
	    {"https://u:p@pyro.example:4040/x", "https://pyro.example:4040/x"},
	    {"http://u:p@ss@host", "http://host"},
	    {"http://host/a@b", "http://host/a@b"}, /* an '@' in the path is no userinfo */
	    {"http://host:4040", "http://host:4040"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *r = http_redact_url(cases[i][0]);

		ASSERT_STREQ(r, cases[i][1], cases[i][0]);
		ASSERT_EQ(http_url_has_userinfo(cases[i][0]), strcmp(cases[i][0], cases[i][1]) != 0,
			  "has userinfo");
		free(r);
	}
}

/* A sender that answers from a script, or hangs until aborted. */
struct fake {
	pthread_mutex_t lock;
	enum push_result script[16];
	size_t steps, calls;
	int hang;
	int entered; /* atomic: a send has begun */
	__u64 sent_from[16];
	size_t sent_cnt;
};

static enum push_result fake_send(void *ctx, const struct push_request *r, const int *abort_flag)
{
	struct fake *f = ctx;
	enum push_result res;

	__atomic_store_n(&f->entered, 1, __ATOMIC_RELAXED);
	while (f->hang && !__atomic_load_n(abort_flag, __ATOMIC_RELAXED))
		usleep(1000);
	if (f->hang)
		return PUSH_ABORTED;
	pthread_mutex_lock(&f->lock);
	res = f->calls < f->steps ? f->script[f->calls] : PUSH_SENT;
	f->calls++;
	if (res == PUSH_SENT && f->sent_cnt < ARRAY_SIZE(f->sent_from))
		f->sent_from[f->sent_cnt++] = r->from_s;
	pthread_mutex_unlock(&f->lock);
	return res;
}

static struct push_request *req(__u64 from)
{
	struct push_request *r = calloc(1, sizeof(*r));

	if (r) {
		r->name = strdup("svc{}");
		r->from_s = from;
	}
	return r;
}

static void wait_queued(struct push_queue *q, __u64 want)
{
	struct push_queue_stats st;

	for (int i = 0; i < 5000; i++) {
		push_queue__stats(q, &st);
		if (st.queued == want)
			return;
		usleep(1000);
	}
}

TEST(push_queue_retries_refuses_in_order)
{
	struct fake f = {
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	    .script = {PUSH_RETRY, PUSH_RETRY, PUSH_SENT, PUSH_REFUSED},
	    .steps = 4,
	};
	struct push_queue_opts o = {.max_queued = 8,
				    .backoff_min_ms = 1,
				    .backoff_max_ms = 4,
				    .send = fake_send,
				    .ctx = &f};
	struct push_queue *q = push_queue__new(&o);
	struct push_queue_stats st;

	if (!ASSERT_OK_PTR(q, "new"))
		return;
	for (__u64 i = 1; i <= 3; i++)
		push_queue__add(q, req(i));
	wait_queued(q, 0);
	push_queue__stats(q, &st);
	ASSERT_EQ(st.sent, 2, "sent: the first after two retries, the third");
	ASSERT_EQ(st.retried, 2, "retried");
	ASSERT_EQ(st.dropped_refused, 1, "the second, refused");
	ASSERT_EQ(f.sent_cnt, 2, "sent");
	ASSERT_EQ(f.sent_from[0], 1, "oldest first");
	ASSERT_EQ(f.sent_from[1], 3, "then the third");
	push_queue__flush_free(q, 1000);
}

TEST(push_queue_bound_drops_oldest_and_flush_is_bounded)
{
	struct fake f = {.lock = PTHREAD_MUTEX_INITIALIZER, .hang = 1};
	struct push_queue_opts o = {.max_queued = 2,
				    .backoff_min_ms = 1,
				    .backoff_max_ms = 4,
				    .send = fake_send,
				    .ctx = &f};
	struct push_queue *q = push_queue__new(&o);
	struct push_queue_stats st;
	__u64 t0;

	if (!ASSERT_OK_PTR(q, "new"))
		return;
	push_queue__add(q, req(1));
	for (int i = 0; i < 5000 && !__atomic_load_n(&f.entered, __ATOMIC_RELAXED); i++)
		usleep(1000); /* the first is in flight, hanging */
	for (__u64 i = 2; i <= 6; i++)
		push_queue__add(q, req(i));
	push_queue__stats(q, &st);
	ASSERT_EQ(st.dropped_full, 3, "2, 3, 4 dropped: 5 and 6 kept");
	ASSERT_EQ(st.queued, 3, "two waiting and one in flight");
	t0 = now_mono_ns();
	push_queue__flush_free(q, 100);
	ASSERT_TRUE(now_mono_ns() - t0 < 2 * NSEC_PER_SEC, "flush bounded by its timeout");
	ASSERT_EQ(f.calls, 0, "nothing sent");
}

static bool write_file(const char *dir, const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", dir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	if (!ASSERT_OK(system(cmd), "mkdir"))
		return false;
	f = fopen(path, "w");
	if (!ASSERT_OK_PTR(f, path))
		return false;
	fputs(text, f);
	return ASSERT_OK(fclose(f), "fclose");
}

TEST(push_container_name_from_engines)
{
	static const char podman_id[] =
	    "03cde80d0c3d94fcf318d5a8a66bf0c20b5047e2a94bc5d601a5411c82965392";
	static const char docker_id[] =
	    "f744109d4ec9f788cc9f2f2f766f17bcce0a61d48278cfa6554bc3aa6b7d89b3";
	char dir[] = "/tmp/allocscope-push-XXXXXX", buf[64], cmd[128];

	if (!ASSERT_OK_PTR(mkdtemp(dir), "mkdtemp"))
		return;
	if (!write_file(
		dir, "/var/lib/containers/storage/overlay-containers/containers.json",
		"[{\"id\": \"aaaa\", \"names\": [\"other\"]},"
		" {\"id\": \"03cde80d0c3d94fcf318d5a8a66bf0c20b5047e2a94bc5d601a5411c82965392\","
		" \"names\": [\"checkout\", \"alias\"]}]") ||
	    !write_file(dir,
			"/var/lib/docker/containers/"
			"f744109d4ec9f788cc9f2f2f766f17bcce0a61d48278cfa6554bc3aa6b7d89b3/"
			"config.v2.json",
			"{\"ID\": \"f744\", \"Name\": \"/billing\"}"))
		goto cleanup;
	if (ASSERT_OK(push_series__container_name(dir, podman_id, buf, sizeof(buf)), "podman"))
		ASSERT_STREQ(buf, "checkout", "podman's first name");
	if (ASSERT_OK(push_series__container_name(dir, docker_id, buf, sizeof(buf)), "docker"))
		ASSERT_STREQ(buf, "billing", "docker's Name without its slash");
	ASSERT_EQ(push_series__container_name(dir, "../../etc", buf, sizeof(buf)), -EINVAL,
		  "not an ID");
	ASSERT_EQ(push_series__container_name(
		      dir, "1111111111111111111111111111111111111111111111111111111111111111", buf,
		      sizeof(buf)),
		  -ENOENT, "unknown");
cleanup:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ASSERT_OK(system(cmd), "rm");
}
