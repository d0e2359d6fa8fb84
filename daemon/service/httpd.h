/* SPDX-License-Identifier: MIT */
/* allocscoped's HTTP API on libmicrohttpd: the net/http/pprof-style endpoints, timelines,
 * Prometheus metrics and health, with strict query parsing and bounded requests. The data comes
 * from the daemon through struct httpd_ops; this module never touches BPF or
 * a target's files. Over loopback without a token, each request is served as the local user that
 * connects (service/peer.h). */
#ifndef ALLOCSCOPE_HTTPD_H
#define ALLOCSCOPE_HTTPD_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#define HTTPD_DEFAULT_LISTEN "127.0.0.1:6464"
#define HTTPD_MAX_SELECTOR   256
#define HTTPD_MAX_URI_BYTES  4096    /* longer request targets: 414 */
#define HTTPD_MAX_PID	     4194304 /* PID_MAX_LIMIT on 64-bit kernels */
#define HTTPD_MAX_SECONDS    86400

enum httpd_selector {
	HTTPD_SEL_ALL, /* no selector given */
	HTTPD_SEL_PID,
	HTTPD_SEL_EXE,	     /* executable path, exact or glob (fnmatch) */
	HTTPD_SEL_COMM,	     /* /proc/PID/comm, exact */
	HTTPD_SEL_CGROUP,    /* cgroup path prefix, e.g. a container's */
	HTTPD_SEL_CONTAINER, /* container ID or a prefix of it, as docker ps shows it */
};

enum httpd_profile {
	HTTPD_PROFILE_HEAP,   /* /debug/pprof/heap: default sample type inuse_space */
	HTTPD_PROFILE_ALLOCS, /* /debug/pprof/allocs: default sample type alloc_space */
};

/* A validated query. Unknown parameters, repeated ones, bad numbers: 400 before any op runs. */
struct httpd_query {
	enum httpd_selector sel;
	int pid;
	char value[HTTPD_MAX_SELECTOR]; /* exe, comm or cgroup */
	int seconds;			/* > 0: a delta profile of the last N seconds */
	int gc;				/* gc=1 was given (accepted for pprof compatibility) */
	/* Who asks: 0 for every target (root over loopback, a bearer token, --insecure), else
	 * the local user, who reads only the processes it could ptrace. Set by the server. */
	uid_t viewer;
	char snapshot[48]; /* /debug/pprof/heap?snapshot=ID: a stored snapshot's profile */
};

struct httpd_target {
	int pid;
	int alive;
	char exe[256];
	char comm[32];
	char cgroup[256];
	char kind[16]; /* "go", "native", "go+native" */
};

struct httpd_ops {
	/*
	 * Each returns 0 and a malloc'ed body the module frees, -ENOENT when no target matches
	 * (404), -EACCES when the pid asked for is not the viewer's to read (403), -ERANGE when
	 * seconds reaches past the retained window (400), other -errno (500). Targets the viewer
	 * may not read are left out as if they were not there. They are called from
	 * libmicrohttpd's thread: the daemon locks what they share.
	 */
	int (*profile)(void *ctx, enum httpd_profile kind, const struct httpd_query *q, void **buf,
		       size_t *len);
	int (*timeline)(void *ctx, const struct httpd_query *q, char **json);
	int (*metrics)(void *ctx, uid_t viewer, char **text);
	int (*targets)(void *ctx, uid_t viewer, struct httpd_target **out, size_t *cnt);
	/* 0 when healthy, else -1 and why in a line (/healthz answers 503 with it). Called
	 * without the daemon's lock, so that a stuck loop still gets an answer. NULL: healthy. */
	int (*health)(void *ctx, char *why, size_t len);
	/* Heap snapshots: take one of pid now (POST /snapshot?pid=N; -ENOENT: no such target), the
	 * list (GET /snapshots), one's JSON (GET /snapshots/ID) and its pprof (GET
	 * /debug/pprof/heap?snapshot=ID); -ENOENT: no such snapshot. */
	int (*snapshot_take)(void *ctx, int pid, char **json);
	int (*snapshot_list)(void *ctx, char **json);
	int (*snapshot_get)(void *ctx, const char *id, char **json);
	int (*snapshot_pprof)(void *ctx, const char *id, void **buf, size_t *len);
};

struct httpd_opts {
	const char *listen;	     /* "ADDR:PORT", "[::1]:PORT"; NULL: HTTPD_DEFAULT_LISTEN */
	const char *auth_token_file; /* bearer token required on every request but /healthz */
	int insecure;		     /* allow a non-loopback address without a token */
	const char *tls_cert;	     /* PEM files: serve HTTPS */
	const char *tls_key;
	unsigned int max_connections;	     /* 0: 32 */
	unsigned int timeout_s;		     /* per connection; 0: 30 */
	unsigned int max_connections_per_ip; /* 0: no per-address limit */
};

struct httpd;

/* Validate options, bind and start serving. NULL and errno (EINVAL with a logged reason when a
 * non-loopback address has neither a token nor --insecure; EADDRINUSE...). */
struct httpd *httpd__start(const struct httpd_opts *opts, const struct httpd_ops *ops, void *ctx);
/* The port actually bound (for listen "127.0.0.1:0"). */
int httpd__port(const struct httpd *h);
void httpd__stop(struct httpd *h);

/* Parse a query string ("pid=12&seconds=30", no leading '?') for a profile or timeline
 * endpoint. 0, or -EINVAL with a one-line reason in err (for the 400 body). */
int httpd__parse_query(const char *query, struct httpd_query *q, char *err, size_t err_len);

#endif
