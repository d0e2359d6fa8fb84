// SPDX-License-Identifier: MIT
/* A Go executable's build information (.go.buildinfo, or a scan of the data segments when the
 * file has no section headers): the Go version and the main module, as debug/buildinfo reads them.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "symbols/gobin_priv.h"
#include "util/log.h"
#include "util/varint.h"

/* ---- build information ---- */

static int parse_version_num(struct gobin *g)
{
	const char *v = g->version ? strstr(g->version, "go") : NULL;
	char *end;
	long major, minor;

	g->go_major = g->go_minor = -1;
	if (!v)
		return -ENOENT;
	major = strtol(v + 2, &end, 10);
	if (end == v + 2 || *end != '.' || major < 1 || major > 99)
		return -EINVAL;
	v = end + 1;
	minor = strtol(v, &end, 10);
	if (end == v || minor < 0 || minor > 999)
		return -EINVAL;
	g->go_major = major;
	g->go_minor = minor;
	return 0;
}

/* The path of the "mod\t<path>\t<version>..." line of the module information. */
static int parse_modinfo(struct gobin *g, const char *mi, size_t len)
{
	size_t pos = 0;

	if (len >= 2 * MODINFO_SENTINEL_LEN + 1 && mi[len - MODINFO_SENTINEL_LEN - 1] == '\n') {
		mi += MODINFO_SENTINEL_LEN;
		len -= 2 * MODINFO_SENTINEL_LEN;
	}
	while (pos < len) {
		const char *line = mi + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		pos += llen + 1;
		if (llen > 4 && memcmp(line, "mod\t", 4) == 0) {
			const char *tab = memchr(line + 4, '\t', llen - 4);
			size_t plen = tab ? (size_t)(tab - line - 4) : llen - 4;

			g->module_path = strndup(line + 4, plen);
			return g->module_path ? 0 : -ENOMEM;
		}
	}
	return 0;
}

/* A Go string header {ptr, len} at vaddr (pre-1.18 build information). */
static const char *go_string_at(struct gobin *g, __u64 vaddr, __u32 ptr_size, bool big_endian,
				__u64 max_len, __u64 *len)
{
	__u64 data;

	if (!gobin_vaddr_uptr(g, vaddr, ptr_size, big_endian, &data) ||
	    !gobin_vaddr_uptr(g, vaddr + ptr_size, ptr_size, big_endian, len) || *len > max_len)
		return NULL;
	return (const char *)gobin_vaddr_bytes(g, data, *len);
}

static int parse_buildinfo(struct gobin *g, const struct blob *b)
{
	const char *ver = NULL, *mi = NULL;
	__u64 ver_len = 0, mi_len = 0;
	__u32 ptr_size;
	__u8 flags;

	if (!gobin_blob_bytes(b, 0, BUILDINFO_HDR_LEN))
		return -EBADMSG;
	ptr_size = b->p[BUILDINFO_MAGIC_LEN];
	flags = b->p[BUILDINFO_MAGIC_LEN + 1];
	if (flags & BUILDINFO_FLAG_INLINE_STRINGS) {
		/* Go 1.18+: two varint-prefixed strings follow the header. */
		__u64 pos = BUILDINFO_HDR_LEN;

		if (!uvarint(b->p, b->n, &pos, &ver_len) || ver_len > MAX_VERSION_LEN ||
		    !gobin_blob_bytes(b, pos, ver_len))
			return -EBADMSG;
		ver = (const char *)b->p + pos;
		pos += ver_len;
		if (uvarint(b->p, b->n, &pos, &mi_len) && mi_len <= MAX_MODINFO_LEN &&
		    gobin_blob_bytes(b, pos, mi_len))
			mi = (const char *)b->p + pos;
	} else {
		/* Before 1.18: pointers to the runtime's version and modinfo string headers. */
		bool be = flags & BUILDINFO_FLAG_BIG_ENDIAN;
		__u64 pv, pm;

		if (ptr_size != 4 && ptr_size != 8)
			return -EBADMSG;
		pv = gobin_load_uint(b->p + 16, ptr_size, be);
		pm = gobin_load_uint(b->p + 16 + ptr_size, ptr_size, be);
		ver = go_string_at(g, pv, ptr_size, be, MAX_VERSION_LEN, &ver_len);
		if (!ver)
			return -EBADMSG;
		mi = go_string_at(g, pm, ptr_size, be, MAX_MODINFO_LEN, &mi_len);
	}
	g->version = strndup(ver, ver_len);
	if (!g->version)
		return -ENOMEM;
	parse_version_num(g);
	return mi ? parse_modinfo(g, mi, mi_len) : 0;
}

/* 0 when found and parsed, -ENOENT when there is none, -errno otherwise. */
int gobin_load_buildinfo(struct gobin *g)
{
	struct blob b = {};
	GElf_Shdr shdr;
	Elf_Scn *scn;

	scn = gobin_find_section(g, ".go.buildinfo", &shdr);
	if (scn) {
		if (!gobin_section_blob(g, scn, &shdr, &b) ||
		    !gobin_blob_bytes(&b, 0, BUILDINFO_HDR_LEN) ||
		    memcmp(b.p, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN) != 0)
			return -EBADMSG;
		return parse_buildinfo(g, &b);
	}
	/* No section headers: search the start of the writable, non-executable segments at
	 * 16-byte alignment, as debug/buildinfo does with the first one; in a PIE the first is
	 * the RELRO segment and the build information starts the next one. */
	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];
		__u64 n = min_t(__u64, s->filesz, BUILDINFO_SCAN_BYTES);

		if ((s->flags & (PF_W | PF_X)) != PF_W)
			continue;
		for (__u64 off = 0; off + BUILDINFO_HDR_LEN <= n; off += 16) {
			if (memcmp(g->img + s->off + off, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN))
				continue;
			b.p = g->img + s->off + off;
			b.n = s->filesz - off;
			return parse_buildinfo(g, &b);
		}
	}
	return -ENOENT;
}

/* Whether s[0..len) reads "go1.N", "go1.N.P" or either followed by " X:experiments", as the
 * linker writes runtime.buildVersion. */
static bool is_go_version(const char *s, __u64 len)
{
	__u64 i = 4;
	int dots = 0;

	if (len < 5 || memcmp(s, "go1.", 4) || s[4] < '0' || s[4] > '9')
		return false;
	for (; i < len && s[i] != ' '; i++) {
		if (s[i] == '.' && s[i - 1] != '.' && ++dots <= 1)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return s[i - 1] != '.';
}

/*
 * Without build information (some release builds drop .go.buildinfo, e.g. esbuild's since Go
 * 1.25): the version from runtime.buildVersion, a Go string header {ptr, len} in the writable
 * data that points at "go1.N.P". Every 8-byte aligned header of the data segments is tried; two
 * different versions give none.
 */
int gobin_load_buildversion(struct gobin *g)
{
	const char *found = NULL;
	__u64 found_len = 0;

	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];

		if ((s->flags & (PF_W | PF_X)) != PF_W)
			continue;
		for (__u64 off = 0; off + 2 * g->elf_ptr_size <= s->filesz; off += g->elf_ptr_size) {
			const __u8 *p = g->img + s->off + off;
			__u64 ptr = gobin_load_uint(p, g->elf_ptr_size, g->big_endian);
			__u64 len = gobin_load_uint(p + g->elf_ptr_size, g->elf_ptr_size, g->big_endian);
			const char *str;

			if (len < 5 || len > MAX_VERSION_LEN)
				continue;
			str = (const char *)gobin_vaddr_bytes(g, ptr, len);
			if (!str || !is_go_version(str, len))
				continue;
			if (found && (found_len != len || memcmp(found, str, len))) {
				log_debug("two Go versions in the data: %.*s and %.*s", (int)found_len,
					  found, (int)len, str);
				return -ENOENT;
			}
			found = str;
			found_len = len;
		}
	}
	if (!found)
		return -ENOENT;
	g->version = strndup(found, found_len);
	if (!g->version)
		return -ENOMEM;
	parse_version_num(g);
	return 0;
}
