// SPDX-License-Identifier: MIT
/* allocscope snapshot: ask allocscoped for a heap snapshot of a process now (POST /snapshot),
 * list the snapshots it holds, or save one's pprof profile. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fetch.h"
#include "options.h"
#include "util/atomic_file.h"
#include "util/http_client.h"
#include "util/log.h"

#define SNAPSHOT_TIMEOUT_S 120
#define MAX_TOKEN_BYTES	   4096
#define MAX_ANSWER_BYTES   (1ULL << 30)

static const char usage[] =
    "Usage: allocscope snapshot --pid PID [-o FILE] [--daemon URL] [--auth-token-file F]\n"
    "       allocscope snapshot --list [--daemon URL] [--auth-token-file F]\n"
    "       allocscope snapshot --get ID -o FILE [--daemon URL] [--auth-token-file F]\n"
    "\n"
    "Heap snapshots held by allocscoped: its heap profile of a process at one moment, taken\n"
    "when a trigger fired (OOM kill, memory pressure, cgroup limit, growth) or on request.\n"
    "  -p, --pid PID         take a snapshot of PID now (POST /snapshot?pid=PID); prints its\n"
    "                        JSON (id, pid, executable, trigger, time, cgroup figures...)\n"
    "  -l, --list            print the list of snapshots (GET /snapshots)\n"
    "  -g, --get ID          the snapshot ID\n"
    "  -o, --output FILE     write the snapshot's pprof profile to FILE (for go tool pprof)\n"
    "  -d, --daemon URL      allocscoped's address (default " CLI_DEFAULT_DAEMON ")\n"
    "      --auth-token-file F  send 'Authorization: Bearer <token in F>'\n";

struct snap_opts {
	int pid;
	int list;
	const char *id;
	const char *output;
	const char *daemon;
	char *token;
};

static int read_token(const char *path, char **out)
{
	void *buf = NULL;
	size_t len = 0;
	int err;

	err = cli_fetch(path, &buf, &len);
	if (err)
		return err;
	while (len && strchr("\r\n \t", ((char *)buf)[len - 1]))
		((char *)buf)[--len] = '\0';
	if (!len || len > MAX_TOKEN_BYTES) {
		log_error("%s: not a token", path);
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	return 0;
}

/* GET or POST url; the 200 answer's body into *body. 0 or -errno, logged. */
static int ask(const struct snap_opts *o, const char *url, int post, char **body, size_t *len)
{
	struct http_response rsp;
	int err;

	err = http_send(
	    &(struct http_request){
		.url = url,
		.body = post ? "" : NULL,
		.bearer_token = o->token,
		.timeout_ms = SNAPSHOT_TIMEOUT_S * 1000L,
		.connect_timeout_ms = 5000,
		.max_body_bytes = MAX_ANSWER_BYTES,
	    },
	    &rsp);
	if (err) {
		log_error("cannot reach allocscoped at %s: %s", o->daemon, rsp.error);
		goto cleanup;
	}
	if (rsp.status != 200) {
		log_error("%s: HTTP %ld: %.*s", url, rsp.status,
			  rsp.body ? (int)strcspn(rsp.body, "\r\n") : 0, rsp.body ?: "");
		err = rsp.status == 404 ? -ENOENT : -EIO;
		goto cleanup;
	}
	*body = rsp.body ?: strdup("");
	*len = rsp.len;
	rsp.body = NULL;
	if (!*body)
		err = -ENOMEM;
cleanup:
	free(rsp.body);
	return err;
}

static int save_profile(const struct snap_opts *o, const char *id)
{
	char url[1024];
	char *body = NULL;
	size_t len = 0;
	int err;

	snprintf(url, sizeof(url), "%s/debug/pprof/heap?snapshot=%s", o->daemon, id);
	err = ask(o, url, 0, &body, &len);
	if (err)
		return err;
	err = atomic_file__write(o->output, body, len);
	if (err)
		log_error("cannot write %s: %s", o->output, strerror(-err));
	else
		fprintf(stderr, "snapshot %s: %zu bytes of pprof written to %s\n", id, len,
			o->output);
	free(body);
	return err;
}

/* The "id" of the snapshot JSON the daemon answered, without a JSON parser: the daemon writes
 * it first, as "id":"...". */
static int json_id(const char *json, char *id, size_t len)
{
	const char *p = strstr(json, "\"id\":\"");
	size_t n;

	if (!p)
		return -EBADMSG;
	p += 6;
	n = strcspn(p, "\"");
	if (!n || n >= len)
		return -EBADMSG;
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

static int parse_args(int argc, char **argv, struct snap_opts *o)
{
	enum { OPT_TOKEN = 256 };
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"list", no_argument, NULL, 'l'},
	    {"get", required_argument, NULL, 'g'},
	    {"output", required_argument, NULL, 'o'},
	    {"daemon", required_argument, NULL, 'd'},
	    {"auth-token-file", required_argument, NULL, OPT_TOKEN},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:lg:o:d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_opt_pid(optarg, &o->pid))
				return -EINVAL;
			break;
		case 'l':
			o->list = 1;
			break;
		case 'g':
			o->id = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'd':
			if (cli_opt_daemon(optarg, &o->daemon))
				return -EINVAL;
			break;
		case OPT_TOKEN:
			if (read_token(optarg, &o->token))
				return -EINVAL;
			break;
		default:
			return args__getopt_end(c, argv, longopts, "allocscope snapshot", usage);
		}
	}
	if (optind < argc)
		return args__unexpected(argv[optind], "allocscope snapshot");
	if (!!o->pid + o->list + !!o->id != 1) {
		log_error("give one of --pid, --list, --get (see 'allocscope snapshot --help')");
		return -EINVAL;
	}
	if (o->id && !o->output) {
		log_error("--get needs --output FILE");
		return -EINVAL;
	}
	if (o->list && o->output) {
		log_error("--list writes no profile: --output goes with --pid or --get");
		return -EINVAL;
	}
	if (!o->daemon)
		o->daemon = CLI_DEFAULT_DAEMON;
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	struct snap_opts o = {};
	char url[1024], id[64];
	char *body = NULL;
	size_t len = 0;
	int err;

	err = parse_args(argc, argv, &o);
	if (err)
		goto cleanup;
	if (o.id) {
		err = save_profile(&o, o.id);
		goto cleanup;
	}
	if (o.list)
		snprintf(url, sizeof(url), "%s/snapshots", o.daemon);
	else
		snprintf(url, sizeof(url), "%s/snapshot?pid=%d", o.daemon, o.pid);
	err = ask(&o, url, !o.list, &body, &len);
	if (err)
		goto cleanup;
	fwrite(body, 1, len, stdout);
	fputc('\n', stdout);
	if (o.output) {
		err = json_id(body, id, sizeof(id));
		if (err)
			log_error("the daemon's answer names no snapshot ID");
		else
			err = save_profile(&o, id);
	}
cleanup:
	free(body);
	if (o.token) {
		explicit_bzero(o.token, strlen(o.token));
		free(o.token);
	}
	return err > 0 ? 0 : err ? (err == -EINVAL ? 2 : 1) : 0;
}
