// SPDX-License-Identifier: MIT
/* Who is asking over loopback, and whose processes they may read (see peer.h). The client's
 * socket is looked up by its four-tuple through sock_diag (one netlink round trip, a hash lookup
 * in the kernel); without inet_diag in the kernel, by a read of the socket table, whose cost
 * grows with the sockets of the network namespace. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

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

/* One exact lookup of the socket whose local end is src and remote end dst, as the family
 * given (AF_INET6 also finds an IPv4 socket by its v4-mapped addresses). */
static int diag_lookup(int family, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst, uid_t *uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
	    .nlh = {.nlmsg_len = sizeof(req),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST},
	    .r = {.sdiag_family = family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0U},
	};
	const struct sockaddr_storage *ends[2] = {src, dst};
	__be32 *addrs[2] = {req.r.id.idiag_src, req.r.id.idiag_dst};
	__be16 *ports[2] = {&req.r.id.idiag_sport, &req.r.id.idiag_dport};
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	char buf[1024];
	struct nlmsghdr *h = (void *)buf;
	ssize_t n;
	int fd, err;

	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	for (int i = 0; i < 2; i++) {
		const struct sockaddr_in6 *s6 = (const void *)ends[i];
		const struct sockaddr_in *s4 = (const void *)ends[i];

		if (ends[i]->ss_family == AF_INET && family == AF_INET) {
			addrs[i][0] = s4->sin_addr.s_addr;
			*ports[i] = s4->sin_port;
		} else if (ends[i]->ss_family == AF_INET) {
			addrs[i][2] = htonl(0xffff);
			addrs[i][3] = s4->sin_addr.s_addr;
			*ports[i] = s4->sin_port;
		} else if (family == AF_INET6) {
			memcpy(addrs[i], &s6->sin6_addr, 16);
			*ports[i] = s6->sin6_port;
		} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(&addrs[i][0], &s6->sin6_addr.s6_addr[12], 4);
			*ports[i] = s6->sin6_port;
		} else {
			return -ENOENT;
		}
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -EPROTONOSUPPORT;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		err = -errno;
		goto cleanup;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (!NLMSG_OK(h, n)) {
		err = -EIO;
	} else if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EIO;
	} else if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		   h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
		*uid = ((const struct inet_diag_msg *)NLMSG_DATA(h))->idiag_uid;
		err = 0;
	} else {
		err = -EIO;
	}
cleanup:
	close(fd);
	return err;
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
	/* The client's socket: its local end is the client, its remote end us; an IPv4 client of
	 * a dual-stack socket shows in either family. Fixture trees have no kernel to ask. */
	if (!proc_root) {
		err = diag_lookup(AF_INET, &c.remote, &c.local, uid);
		if (err == -ENOENT)
			err = diag_lookup(AF_INET6, &c.remote, &c.local, uid);
		if (!err)
			return 0;
		/* Not found, or no inet_diag in this kernel (which also answers ENOENT): the table
		 * has the same answer, slower; only requests whose client is gone pay for both. */
		err = -ENOENT;
	}
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
