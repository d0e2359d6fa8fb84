// SPDX-License-Identifier: MIT
/* Who is asking over loopback, and whose processes they may read (see peer.h). One read of the
 * socket table per request: the cost grows with the sockets of the network namespace. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include "service/peer.h"

/* An address and port as /proc/net/tcp{,6} print them: the address's 32-bit words as the CPU
 * reads them, in hex, then the port in host order. "" when it has no form in that table. */
static void table_form(const struct sockaddr_storage *ss, int v6_table, char *out, size_t len)
{
	const struct sockaddr_in6 *s6 = (const void *)ss;
	const struct sockaddr_in *s4 = (const void *)ss;
	uint32_t w[4];

	out[0] = '\0';
	if (ss->ss_family == AF_INET) {
		if (!v6_table) {
			snprintf(out, len, "%08X:%04X", s4->sin_addr.s_addr, ntohs(s4->sin_port));
			return;
		}
		/* A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d. */
		w[0] = w[1] = 0;
		w[2] = htonl(0xffff);
		w[3] = s4->sin_addr.s_addr;
		snprintf(out, len, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
			 ntohs(s4->sin_port));
		return;
	}
	if (ss->ss_family != AF_INET6)
		return;
	memcpy(w, &s6->sin6_addr, sizeof(w));
	if (!v6_table) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			snprintf(out, len, "%08X:%04X", w[3], ntohs(s6->sin6_port));
		return;
	}
	snprintf(out, len, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], ntohs(s6->sin6_port));
}

int peer__find_uid(FILE *table, int v6_table, const struct peer_conn *c, uid_t *uid)
{
	char want_local[64], want_remote[64], local[64], remote[64], line[512];
	unsigned int st, u;

	/* The client's socket: its local end is the client, its remote end us. */
	table_form(&c->remote, v6_table, want_local, sizeof(want_local));
	table_form(&c->local, v6_table, want_remote, sizeof(want_remote));
	if (!want_local[0] || !want_remote[0])
		return -ENOENT;
	while (fgets(line, sizeof(line), table)) {
		if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %u", local, remote, &st, &u) != 4)
			continue;
		/* Established, or half-closed by the client after its request (CLOSE_WAIT is the
		 * server's side; the client's is FIN_WAIT1/2). A TIME_WAIT entry has no owner. */
		if (st != 0x01 && st != 0x04 && st != 0x05)
			continue;
		if (!strcasecmp(local, want_local) && !strcasecmp(remote, want_remote)) {
			*uid = u;
			return 0;
		}
	}
	return -ENOENT;
}

int peer__tcp_uid(const char *proc_root, int fd, uid_t *uid)
{
	static const char *const tables[] = {"tcp", "tcp6"};
	struct peer_conn c = {};
	socklen_t len;
	char path[256];
	int err = -ENOENT;

	len = sizeof(c.local);
	if (getsockname(fd, (struct sockaddr *)&c.local, &len))
		return -errno;
	len = sizeof(c.remote);
	if (getpeername(fd, (struct sockaddr *)&c.remote, &len))
		return -errno;
	if (c.remote.ss_family != AF_INET && c.remote.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	for (int i = 0; i < 2 && err == -ENOENT; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/net/%s", proc_root ?: "/proc", tables[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		err = peer__find_uid(f, i, &c, uid);
		fclose(f);
	}
	return err;
}

/* "Uid:\t1000\t1000\t1000\t1000": whether all four IDs are one, and which. */
static int same_ids(const char *line, unsigned int *id)
{
	unsigned int v[4];

	if (sscanf(line, "%*s %u %u %u %u", &v[0], &v[1], &v[2], &v[3]) != 4)
		return 0;
	*id = v[0];
	return v[0] == v[1] && v[0] == v[2] && v[0] == v[3];
}

int peer__pid_owner(const char *proc_root, int pid, uid_t *owner)
{
	unsigned int uid = 0, gid = 0;
	int uid_ok = 0, gid_ok = 0, seen = 0;
	char path[256], line[256];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/status", proc_root ?: "/proc", pid);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	while (fgets(line, sizeof(line), f) && seen < 2) {
		if (!strncmp(line, "Uid:", 4)) {
			uid_ok = same_ids(line, &uid);
			seen++;
		} else if (!strncmp(line, "Gid:", 4)) {
			gid_ok = same_ids(line, &gid);
			seen++;
		}
	}
	fclose(f);
	/* The kernel makes /proc/PID root's when the process is not dumpable. */
	snprintf(path, sizeof(path), "%s/%d", proc_root ?: "/proc", pid);
	if (stat(path, &st))
		return -ESRCH;
	*owner = seen == 2 && uid_ok && gid_ok && st.st_uid == uid ? uid : 0;
	return 0;
}
