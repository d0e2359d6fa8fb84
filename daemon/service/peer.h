/* SPDX-License-Identifier: MIT */
/* Who is asking over loopback, and whose processes they may read: the local user that owns the
 * connecting TCP socket (from the kernel's socket table), and ptrace's rule for reading another
 * process's memory as /proc shows it. The /proc root is a parameter for fixture tests. */
#ifndef ALLOCSCOPE_PEER_H
#define ALLOCSCOPE_PEER_H

#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

/* What the connection is: our end and the client's, as getsockname/getpeername give them. */
struct peer_conn {
	struct sockaddr_storage local;
	struct sockaddr_storage remote;
};

/* The uid owning the client's socket of the TCP connection on fd (ours, accepted), whose local
 * address is the client's and remote address ours: asked of sock_diag when proc_root is NULL,
 * else (and without inet_diag) found in <proc_root>/net/tcp or tcp6.
 * 0 or -errno: -ENOENT when no such socket is listed (the client is gone, or not local),
 * -EAFNOSUPPORT for a socket that is not TCP over IP. */
int peer__tcp_uid(const char *proc_root, int fd, uid_t *uid);
/* The same from the two addresses and one socket table (for tests and the fuzzer). */
int peer__find_uid(FILE *table, int v6_table, const struct peer_conn *c, uid_t *uid);

/*
 * The one unprivileged uid that may read pid's memory by ptrace's rules, or 0 when only root
 * may: a process whose real, effective, saved and filesystem user IDs are one uid and group IDs
 * one gid (no set-user-ID or set-group-ID program), and dumpable (/proc/PID is owned by root
 * otherwise). 0 on success, -ESRCH when pid is gone.
 */
int peer__pid_owner(const char *proc_root, int pid, uid_t *owner);

#endif
