/* SPDX-License-Identifier: MIT */
/* allocscoped's options (command line and config file) and its entry point: the loop that
 * watches the selected processes, drains the kernel maps on an interval into a bounded history
 * and serves the HTTP API until a signal. */
#ifndef ALLOCSCOPE_SCOPED_H
#define ALLOCSCOPE_SCOPED_H

#include <stddef.h>
#include <linux/types.h>

#include "probe/unwind.h"
#include "probe/watch.h"
#include "service/capture.h"
#include "service/select.h"

/* The config file's "service_names": the processes a selector matches push as service. */
struct service_rule {
	struct selector sel;
	char service[128];
};

struct scoped_opts {
	struct selector *sels;
	size_t sel_cnt;
	double interval_s;	    /* drain period */
	double retention_min;	    /* history kept */
	size_t max_history_entries; /* bound on retained entries; the oldest go first */
	size_t max_exited;	    /* exited processes kept; the longest gone go first */
	__u64 rate;
	double max_overhead_pct; /* --max-overhead, max_overhead; 0: none */
	struct watch_opts watch;
	const char *listen;
	char *listen_owned; /* listen, when the config file gave it */
	const char *auth_token_file;
	int insecure;
	const char *tls_cert;
	const char *tls_key;
	const char *push_url;
	const char *push_tenant;    /* X-Scope-OrgID */
	char *push_tenant_owned;    /* push_tenant, when the config file gave it */
	const char *push_auth_file; /* "basic USER:PASSWORD" or "bearer TOKEN" */
	char *push_auth_file_owned;
	int push_pid_label;		/* a pid label on pushes: a series per process */
	double push_timeout_s;		/* one request */
	size_t push_queue_max;		/* profiles waiting to be sent */
	struct service_rule *svc_rules; /* the config file's "service_names" */
	size_t svc_rule_cnt;
	const char *config_path;
	__u32 max_stacks;
	__u32 max_live;
	__u32 max_stats;
	enum unwind_mode unwind; /* fp, cfi or auto (default): as record --unwind */
	int unwind_set;		 /* given on the command line: the config file's does not count */
	const char **wrappers;	 /* --wrapper expressions, then the config file's */
	size_t wrapper_cnt;
	size_t wrapper_cli_cnt; /* of which from the command line; the rest are owned */
	__u32 stack_copy_bytes;
	int no_session;		  /* --no-uprobe-session */
	struct capture_opts snap; /* heap snapshots and their triggers */
	int verbose;
};

/* Parse a JSON config file into selectors and settings (flags given on the command line win;
 * selectors add up). 0 or -errno with the reason logged. */
int scoped_opts__load_config(struct scoped_opts *o, const char *path, int reload);
int scoped_opts__add_selector(struct scoped_opts *o, enum selector_kind kind, const char *value,
			      int from_config);
/* Add a --wrapper expression (checked; owned: freed with the config, else the caller's). 0 or
 * -errno, logged. */
int scoped_opts__add_wrapper(struct scoped_opts *o, const char *regex, int owned);
/* Free what the selectors and the config file allocated. */
void scoped_opts__free_config(struct scoped_opts *o);

/* Run until SIGTERM/SIGINT; SIGHUP reloads the config file. Returns the exit status. */
int scoped__run(struct scoped_opts *o);

#endif
