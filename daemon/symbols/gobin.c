// SPDX-License-Identifier: MIT
/* Go executable reader: opening the file, and the pclntab (functab, _func records, pc-value
 * tables, inline tree) for names, lines and inlined frames. The build information is read by
 * gobin_buildinfo.c; every read from the file goes through gobin_image.c's bounds-checked
 * helpers: the file is untrusted input. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"
#include "symbols/gobin_priv.h"
#include "util/log.h"
#include "util/varint.h"

/* ---- pclntab ---- */

static const char *func_name(const struct gobin *g, __u32 name_off)
{
	return gobin_blob_str(&g->funcnametab, name_off);
}

/* Entry and record offset of functab slot i; slot nfunc holds the end of the last function. */
static bool functab_slot(const struct gobin *g, __u64 i, __u64 *entry, __u64 *funcoff)
{
	__u64 off;

	if (i > g->nfunc)
		return false;
	if (g->fmt >= PCLN_GO118) {
		__u32 e, f;

		off = g->functab_off + i * 8;
		if (!gobin_blob_u32(g, &g->functab, off, &e) ||
		    !gobin_blob_u32(g, &g->functab, off + 4, &f))
			return false;
		*entry = g->text_start + e;
		*funcoff = f;
		return true;
	}
	off = g->functab_off + i * 2 * g->ptr_size;
	*funcoff = 0;
	return gobin_blob_uptr(g, &g->functab, off, entry) &&
	       (i == g->nfunc || gobin_blob_uptr(g, &g->functab, off + g->ptr_size, funcoff));
}

static int read_func(const struct gobin *g, __u64 i, struct go_func *f)
{
	const struct blob *t = &g->functab;
	__u64 entry, off;
	__u32 p = g->fmt >= PCLN_GO118 ? 4 : g->ptr_size; /* size of the entry field */

	memset(f, 0, sizeof(*f));
	if (!functab_slot(g, i, &entry, &off))
		return -EBADMSG;
	f->entry = entry;
	f->off = off;
	/* Common prefix: entry, nameoff, args, deferreturn, pcsp, pcfile, pcln, npcdata. */
	if (!gobin_blob_u32(g, t, off + p, &f->name_off) ||
	    !gobin_blob_u32(g, t, off + p + 16, &f->pcfile) ||
	    !gobin_blob_u32(g, t, off + p + 20, &f->pcln) ||
	    !gobin_blob_u32(g, t, off + p + 24, &f->npcdata))
		return -EBADMSG;
	switch (g->fmt) {
	case PCLN_GO12:
		f->hdr_size = p + 32;
		if (!gobin_blob_bytes(t, off, f->hdr_size))
			return -EBADMSG;
		/* Go 1.13-1.15 (the only ones with a known version, see setup_inline): funcID,
		 * 2 bytes of padding, then nfuncdata as a uint8. */
		f->nfuncdata = t->p[off + p + 31];
		break;
	case PCLN_GO116:
	case PCLN_GO118:
	case PCLN_GO120:
		/* cuOffset, [startLine (1.20+)], funcID, flag, pad, nfuncdata */
		f->hdr_size = p + 36 + (g->fmt == PCLN_GO120 ? 4 : 0);
		if (!gobin_blob_u32(g, t, off + p + 28, &f->cu_off) ||
		    !gobin_blob_bytes(t, off, f->hdr_size))
			return -EBADMSG;
		f->nfuncdata = t->p[off + f->hdr_size - 1];
		break;
	}
	/* The record must at least hold its own pcdata array. */
	if (!gobin_blob_bytes(t, off + f->hdr_size, (__u64)f->npcdata * 4))
		return -EBADMSG;
	return 0;
}

/* Index of the function containing pc, or -ENOENT. Binary search over the sorted functab. */
static int find_func(const struct gobin *g, __u64 pc, __u64 *idx)
{
	__u64 lo = 0, hi = g->nfunc, first, end, dummy;

	if (!g->nfunc || !functab_slot(g, 0, &first, &dummy) ||
	    !functab_slot(g, g->nfunc, &end, &dummy))
		return -EBADMSG;
	if (pc < first || pc >= end)
		return -ENOENT;
	/* Invariant: entry(lo) <= pc < entry(hi). */
	while (hi - lo > 1) {
		__u64 mid = lo + (hi - lo) / 2, e;

		if (!functab_slot(g, mid, &e, &dummy))
			return -EBADMSG;
		if (e <= pc)
			lo = mid;
		else
			hi = mid;
	}
	*idx = lo;
	return 0;
}

/* The value of the pc-value table at tab_off for targetpc (runtime.pcvalue): -ENOENT when the
 * table is absent or does not cover targetpc. */
static int pcvalue(const struct gobin *g, const struct go_func *f, __u32 tab_off, __u64 targetpc,
		   __s32 *out)
{
	const struct blob *t = &g->pctab;
	__u64 pos = tab_off, pc = f->entry;
	__s32 val = -1;
	bool first = true;

	if (!tab_off || tab_off >= t->n)
		return -ENOENT;
	for (;;) {
		__u64 uvdelta, pcdelta;

		if (!uvarint(t->p, t->n, &pos, &uvdelta))
			return -EBADMSG;
		if (uvdelta == 0 && !first)
			return -ENOENT;
		first = false;
		uvdelta &= 0xffffffffULL;
		/* Go's int32 arithmetic wraps; C's signed overflow is undefined, so add unsigned.
		 */
		val = (__s32)((__u32)val + (-(__u32)(uvdelta & 1) ^ (__u32)(uvdelta >> 1)));
		if (!uvarint(t->p, t->n, &pos, &pcdelta))
			return -EBADMSG;
		pc += (__u32)((__u32)pcdelta * g->quantum);
		if (targetpc < pc) {
			*out = val;
			return 0;
		}
	}
}

static const char *file_name(const struct gobin *g, const struct go_func *f, __s32 fileno)
{
	__u32 off;

	if (fileno < 0)
		return NULL;
	if (g->fmt == PCLN_GO12) {
		if ((__u64)fileno >= g->nfiletab ||
		    !gobin_blob_u32(g, &g->filetab, (__u64)fileno * 4, &off))
			return NULL;
		return gobin_blob_str(&g->pcln, off);
	}
	if (!gobin_blob_u32(g, &g->cutab, ((__u64)f->cu_off + (__u32)fileno) * 4, &off) ||
	    off == 0xffffffffU)
		return NULL;
	return gobin_blob_str(&g->filetab, off);
}

/* The file and line of pc, both innermost (the pcfile/pcln tables are per instruction). */
static void file_line(const struct gobin *g, const struct go_func *f, __u64 pc,
		      struct gobin_frame *fr)
{
	__s32 v;

	fr->file = pcvalue(g, f, f->pcfile, pc, &v) == 0 ? file_name(g, f, v) : NULL;
	fr->line = pcvalue(g, f, f->pcln, pc, &v) == 0 && v > 0 ? (__u32)v : 0;
	fr->pad = 0;
}

static __s32 pcdata_value(const struct gobin *g, const struct go_func *f, __u32 idx, __u64 pc)
{
	__u32 tab;
	__s32 v;

	if (idx >= f->npcdata ||
	    !gobin_blob_u32(g, &g->functab, f->off + f->hdr_size + (__u64)idx * 4, &tab))
		return -1;
	return pcvalue(g, f, tab, pc, &v) == 0 ? v : -1;
}

/* Virtual address of the inline tree of f, or 0. */
static __u64 inline_tree(const struct gobin *g, const struct go_func *f)
{
	__u64 off = f->off + f->hdr_size + (__u64)f->npcdata * 4, v;
	__u32 idx = g->funcdata_inl_idx;
	__u32 v32;

	if (g->inl == INL_NONE || idx >= f->nfuncdata)
		return 0;
	if (g->fmt >= PCLN_GO118) {
		/* uint32 offsets from moduledata.gofunc; ~0 means absent. */
		if (!g->gofunc || !gobin_blob_u32(g, &g->functab, off + (__u64)idx * 4, &v32) ||
		    v32 == 0xffffffffU)
			return 0;
		return g->gofunc + v32;
	}
	/* Before 1.18: pointer-aligned absolute addresses (runtime.funcdata). */
	if (g->ptr_size == 8 && ((g->pcln_vaddr + (g->functab.p - g->pcln.p) + off) & 4))
		off += 4;
	if (!gobin_blob_uptr(g, &g->functab, off + (__u64)idx * g->ptr_size, &v))
		return 0;
	return v;
}

struct inl_call {
	__u32 name_off;
	__s32 parent_pc; /* offset from the entry of an instruction at the call site */
};

static bool read_inl_call(const struct gobin *g, __u64 tree, __s32 ix, struct inl_call *c)
{
	static const __u32 entsize[] = {[INL_GO112] = 20, [INL_GO120] = 16};
	const __u8 *p;

	if (ix < 0 || g->inl == INL_NONE)
		return false;
	p = gobin_vaddr_bytes(g, tree + (__u64)ix * entsize[g->inl], entsize[g->inl]);
	if (!p)
		return false;
	switch (g->inl) {
	case INL_GO112:
		c->name_off = gobin_load_uint(p + 12, 4, g->big_endian);
		c->parent_pc = gobin_load_uint(p + 16, 4, g->big_endian);
		break;
	case INL_GO120:
		c->name_off = gobin_load_uint(p + 4, 4, g->big_endian);
		c->parent_pc = gobin_load_uint(p + 8, 4, g->big_endian);
		break;
	case INL_NONE:
		return false;
	}
	return true;
}

static int check_header_tables(struct gobin *g)
{
	const struct blob *b = &g->pcln;
	__u64 nfiles, offs[5], hdr = 8 + 2 * g->ptr_size;
	int i = 0;

	if (!gobin_blob_uptr(g, b, 8, &g->nfunc) ||
	    !gobin_blob_uptr(g, b, 8 + g->ptr_size, &nfiles))
		return -EBADMSG;
	if (g->fmt >= PCLN_GO118) {
		if (!gobin_blob_uptr(g, b, hdr, &g->text_start))
			return -EBADMSG;
		hdr += g->ptr_size;
	}
	for (i = 0; i < 5; i++)
		if (!gobin_blob_uptr(g, b, hdr + i * g->ptr_size, &offs[i]) || offs[i] > b->n)
			return -EBADMSG;
	/* funcname, cu, file, pc tables follow each other; the functab and _func records run to
	 * the end. */
	if (offs[0] > offs[1] || offs[1] > offs[2] || offs[2] > offs[3] || offs[3] > offs[4])
		return -EBADMSG;
	if (!gobin_blob_sub(b, offs[0], offs[1] - offs[0], &g->funcnametab) ||
	    !gobin_blob_sub(b, offs[1], offs[2] - offs[1], &g->cutab) ||
	    !gobin_blob_sub(b, offs[2], offs[3] - offs[2], &g->filetab) ||
	    !gobin_blob_sub(b, offs[3], offs[4] - offs[3], &g->pctab) ||
	    !gobin_blob_sub(b, offs[4], b->n - offs[4], &g->functab))
		return -EBADMSG;
	g->functab_off = 0;
	return 0;
}

/* Parse the pcHeader of a candidate pclntab in g->pcln; 0 or -EBADMSG. */
static int parse_pclntab(struct gobin *g)
{
	const struct blob *b = &g->pcln;
	__u64 slot, nslots_bytes;
	__u32 magic, fileoff, nfiletab;
	int err;

	if (!gobin_blob_u32(g, b, 0, &magic) || !gobin_blob_bytes(b, 0, 8) || b->p[4] || b->p[5])
		return -EBADMSG;
	switch (magic) {
	case GO_MAGIC_12:
		g->fmt = PCLN_GO12;
		break;
	case GO_MAGIC_116:
		g->fmt = PCLN_GO116;
		break;
	case GO_MAGIC_118:
		g->fmt = PCLN_GO118;
		break;
	case GO_MAGIC_120:
		g->fmt = PCLN_GO120;
		break;
	default:
		return -EBADMSG;
	}
	g->quantum = b->p[6];
	g->ptr_size = b->p[7];
	if ((g->quantum != 1 && g->quantum != 2 && g->quantum != 4) ||
	    g->ptr_size != g->elf_ptr_size)
		return -EBADMSG;

	if (g->fmt == PCLN_GO12) {
		/* One table: nfunctab, functab pairs, end pc, filetab offset; names, pc-value
		 * tables and _func records are all addressed from the start of the pclntab. */
		if (!gobin_blob_uptr(g, b, 8, &g->nfunc))
			return -EBADMSG;
		g->functab = *b;
		g->funcnametab = *b;
		g->pctab = *b;
		g->functab_off = 8 + g->ptr_size;
		slot = 2 * g->ptr_size;
		if (g->nfunc > b->n / slot)
			return -EBADMSG;
		nslots_bytes = g->nfunc * slot + g->ptr_size;
		if (!gobin_blob_u32(g, b, g->functab_off + nslots_bytes, &fileoff) ||
		    !gobin_blob_sub(b, fileoff, b->n - fileoff, &g->filetab) ||
		    !gobin_blob_u32(g, b, fileoff, &nfiletab))
			return -EBADMSG;
		g->nfiletab = nfiletab;
		if (g->nfiletab > g->filetab.n / 4)
			return -EBADMSG;
		return 0;
	}
	err = check_header_tables(g);
	if (err)
		return err;
	slot = g->fmt >= PCLN_GO118 ? 8 : 2 * g->ptr_size;
	if (g->nfunc > g->functab.n / slot ||
	    !gobin_blob_bytes(&g->functab, 0, (g->nfunc + 1) * slot))
		return -EBADMSG;
	return 0;
}

/* Try a pclntab candidate at [p, p + n) mapped at vaddr. */
static int try_pclntab(struct gobin *g, const __u8 *p, __u64 n, __u64 vaddr)
{
	g->pcln.p = p;
	g->pcln.n = n;
	g->pcln_vaddr = vaddr;
	return parse_pclntab(g);
}

/* 0 when found, -ENOENT when there is no pclntab, -EBADMSG when there is a broken one. */
static int load_pclntab(struct gobin *g)
{
	static const char *const names[] = {".gopclntab", ".data.rel.ro.gopclntab"};
	struct blob b;
	GElf_Shdr shdr;
	__u64 vaddr;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		Elf_Scn *scn = gobin_find_section(g, names[i], &shdr);

		if (!scn)
			continue;
		if (!gobin_section_blob(g, scn, &shdr, &b))
			return -EBADMSG;
		return try_pclntab(g, b.p, b.n, shdr.sh_addr);
	}
	/* Without the section: the runtime.pclntab symbol, if .symtab survived. */
	if (gobin_symtab_lookup(g, "runtime.pclntab", &vaddr)) {
		for (int i = 0; i < g->nsegs; i++) {
			const struct load_seg *s = &g->segs[i];

			if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz)
				return try_pclntab(g, g->img + s->off + (vaddr - s->vaddr),
						   s->filesz - (vaddr - s->vaddr), vaddr);
		}
	}
	/* Last resort: the header's signature in a non-executable segment. The linker aligns the
	 * table to at least 4 bytes; a candidate must parse completely to be taken. */
	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];

		if (s->flags & PF_X)
			continue;
		for (__u64 off = 0; off + 16 <= s->filesz; off += 4) {
			const __u8 *p = g->img + s->off + off;
			__u32 m = gobin_load_uint(p, 4, g->big_endian);

			if ((m != GO_MAGIC_12 && m != GO_MAGIC_116 && m != GO_MAGIC_118 &&
			     m != GO_MAGIC_120) ||
			    p[4] || p[5])
				continue;
			if (try_pclntab(g, p, s->filesz - off, s->vaddr + off) == 0)
				return 0;
		}
	}
	memset(&g->pcln, 0, sizeof(g->pcln));
	return -ENOENT;
}

/* runtime.firstmoduledata, found by its first word (the pcHeader pointer, which may be 0 in a
 * file whose pointers live in RELA relocations only) and its ftab slice length and capacity,
 * which are plain integers equal to nfunc + 1. Returns its vaddr or 0. */
static __u64 find_moduledata(struct gobin *g)
{
	__u32 ps = g->ptr_size;
	__u64 fallback = 0;

	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];

		if (s->flags & PF_X || s->filesz < MD_WORDS * ps)
			continue;
		for (__u64 off = 0; off + MD_WORDS * ps <= s->filesz; off += ps) {
			const __u8 *p = g->img + s->off + off;
			__u64 w0 = gobin_load_uint(p, ps, g->big_endian);

			if (w0 != g->pcln_vaddr && w0 != 0)
				continue;
			if (gobin_load_uint(p + MD_FTAB_LEN * ps, ps, g->big_endian) !=
				g->nfunc + 1 ||
			    gobin_load_uint(p + MD_FTAB_CAP * ps, ps, g->big_endian) !=
				g->nfunc + 1)
				continue;
			if (w0 == g->pcln_vaddr)
				return s->vaddr + off;
			if (!fallback)
				fallback = s->vaddr + off;
		}
	}
	return fallback;
}

/* Whether vaddr lies in the file's data of a loaded segment that is not executable, as the
 * go:func.* data (moduledata.gofunc) does (read-only, or RELRO in a PIE). */
static bool in_file_data(const struct gobin *g, __u64 vaddr)
{
	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];

		if (!(s->flags & PF_X) && vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz)
			return true;
	}
	return false;
}

/*
 * Whether base, as moduledata.gofunc, gives inline trees that read right: for up to 64
 * functions spread over the table, the first entry of each tree lies in the file, names a
 * function and points back inside its function. At least one tree must be checked.
 */
static bool gofunc_fits(struct gobin *g, __u64 base)
{
	__u64 saved = g->gofunc, step = g->nfunc / 64 + 1;
	int checked = 0;
	bool ok = true;

	g->gofunc = base;
	for (__u64 i = 0; i < g->nfunc && ok; i += step) {
		struct go_func f;
		struct inl_call c;
		__u64 tree, next, dummy;

		if (read_func(g, i, &f) || !(tree = inline_tree(g, &f)))
			continue;
		if (!functab_slot(g, i + 1, &next, &dummy) || !in_file_data(g, tree) ||
		    !read_inl_call(g, tree, 0, &c) || !func_name(g, c.name_off) || c.parent_pc < 0 ||
		    (__u64)c.parent_pc >= next - f.entry)
			ok = false;
		checked++;
	}
	g->gofunc = saved;
	return ok && checked > 0;
}

static void setup_inline(struct gobin *g)
{
	__u64 md = 0;

	g->inl = INL_NONE;
	switch (g->fmt) {
	case PCLN_GO12:
		/* The _func and inline tree layouts and the FUNCDATA indexes changed inside this
		 * format (1.9, 1.10, 1.12). A version is known only from .go.buildinfo, so 1.13+,
		 * whose layout is 1.12's; older binaries get no inlined frames rather than guessed
		 * ones. */
		if (g->go_major != 1 || g->go_minor < 13)
			return;
		g->inl = INL_GO112;
		g->pcdata_inl_idx = 2;
		g->funcdata_inl_idx = 4; /* after RegPointerMaps and StackObjects */
		return;
	case PCLN_GO116:
		g->inl = INL_GO112;
		break;
	case PCLN_GO118:
		g->inl = INL_GO112;
		md = find_moduledata(g);
		break;
	case PCLN_GO120:
		g->inl = INL_GO120;
		md = find_moduledata(g);
		break;
	}
	g->pcdata_inl_idx = 2;
	g->funcdata_inl_idx = 3;
	if (g->fmt < PCLN_GO118)
		return;

	if (md) {
		/* moduledata.gofunc: word 38 (1.18-1.19) or 40 (1.20-1.26), but Go 1.27 moved
		 * it; each candidate word is checked against the inline trees it would give. */
		__u64 first = g->fmt == PCLN_GO118 ? MD_GOFUNC_118 : MD_GOFUNC_120;

		g->gofunc = 0;
		for (__u64 k = 0; k <= MD_GOFUNC_LAST - MD_TEXT && !g->gofunc; k++) {
			/* first, then every word after text (MD_TEXT) up to MD_GOFUNC_LAST. */
			__u64 w = k == 0 ? first : MD_TEXT + k, v;

			if (k && w == first)
				continue;
			if (gobin_vaddr_ptr_reloc(g, md + w * g->ptr_size, &v) && in_file_data(g, v) &&
			    gofunc_fits(g, v)) {
				g->gofunc = v;
				if (w != first)
					log_debug("moduledata.gofunc at word %llu", (unsigned long long)w);
			}
		}
	}
	if (md) {
		/* Go 1.26 stores 0 in pcHeader.textStart; the module's text start is the base. */
		if (!g->text_start)
			gobin_vaddr_ptr_reloc(g, md + MD_TEXT * g->ptr_size, &g->text_start);
	}
	if (!g->gofunc)
		g->inl = INL_NONE;
}

/* When neither the pcHeader nor moduledata gave the text start (1.26 without moduledata). */
static void fallback_text_start(struct gobin *g)
{
	GElf_Shdr shdr;

	if (g->fmt < PCLN_GO118 || g->text_start)
		return;
	if (gobin_symtab_lookup(g, "runtime.text", &g->text_start))
		return;
	if (gobin_find_section(g, ".text", &shdr))
		g->text_start = shdr.sh_addr;
}

/* ---- public API ---- */

struct gobin *gobin__open(const char *path)
{
	struct gobin *g = NULL;
	struct stat st;
	GElf_Ehdr ehdr;
	int fd = -1, err, err_bi;

	if (!path) {
		err = -EINVAL;
		goto cleanup;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = -ENOMEM;
		goto cleanup;
	}
	g->go_major = g->go_minor = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		/* Gone: most often /proc/PID/exe of a process that just exited; the caller says
		 * what it means for it. */
		if (err == -ENOENT || err == -ESRCH)
			log_debug("cannot open %s: %s", path, strerror(-err));
		else
			log_warn("cannot open %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < EI_NIDENT) {
		err = -ENOEXEC;
		goto cleanup;
	}
	g->img_size = st.st_size;
	/* Private and writable only so that libelf may convert in place; nothing is written. */
	g->img = mmap(NULL, g->img_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (g->img == MAP_FAILED) {
		g->img = NULL;
		err = -errno;
		log_warn("cannot map %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOTSUP;
		goto cleanup;
	}
	g->elf = elf_memory((char *)g->img, g->img_size);
	if (!g->elf || elf_kind(g->elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (!gelf_getehdr(g->elf, &ehdr)) {
		err = -EBADMSG;
		goto cleanup;
	}
	g->big_endian = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
	g->elf_ptr_size = ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	gobin_load_segments(g);

	err_bi = gobin_load_buildinfo(g);
	if (err_bi == -ENOMEM) {
		err = err_bi;
		goto cleanup;
	}
	err = load_pclntab(g);
	if (err == -ENOENT) {
		/* Build information without a pclntab is a damaged Go binary. */
		err = err_bi == -ENOENT ? -ENOEXEC : -EBADMSG;
		if (err == -EBADMSG)
			log_warn("%s: Go build information but no pclntab", path);
		goto cleanup;
	}
	if (err) {
		log_warn("%s: malformed pclntab", path);
		goto cleanup;
	}
	if (err_bi && err_bi != -ENOENT)
		log_warn("%s: malformed Go build information", path);
	if (!g->version && gobin_load_buildversion(g) == -ENOMEM) {
		err = -ENOMEM;
		goto cleanup;
	}
	setup_inline(g);
	if (g->fmt >= PCLN_GO118 && !g->gofunc)
		log_debug("%s: moduledata not found, inlined frames are not expanded", path);
	fallback_text_start(g);
	close(fd);
	return g;

cleanup:
	if (fd >= 0)
		close(fd);
	gobin__close(g);
	errno = -err;
	return NULL;
}

void gobin__close(struct gobin *g)
{
	if (!g)
		return;
	if (g->elf)
		elf_end(g->elf);
	if (g->img)
		munmap(g->img, g->img_size);
	free(g->version);
	free(g->module_path);
	free(g);
}

const char *gobin__version(const struct gobin *g)
{
	return g->version;
}

int gobin__version_num(const struct gobin *g, int *major, int *minor)
{
	if (!g->version)
		return -ENOENT;
	if (g->go_major < 0)
		return -EINVAL;
	*major = g->go_major;
	*minor = g->go_minor;
	return 0;
}

const char *gobin__module_path(const struct gobin *g)
{
	return g->module_path;
}

int gobin__for_each_func(struct gobin *g, int (*cb)(const char *name, __u64 entry, void *ctx),
			 void *ctx)
{
	for (__u64 i = 0; i < g->nfunc; i++) {
		struct go_func f;
		const char *name;
		int err;

		err = read_func(g, i, &f);
		if (err)
			return err;
		name = func_name(g, f.name_off);
		if (!name)
			return -EBADMSG;
		err = cb(name, f.entry, ctx);
		if (err)
			return err;
	}
	return 0;
}

int gobin__func_by_name(struct gobin *g, const char *name, __u64 *entry, __u64 *size)
{
	for (__u64 i = 0; i < g->nfunc; i++) {
		__u64 next, dummy;
		struct go_func f;
		const char *n;
		int err;

		err = read_func(g, i, &f);
		if (err)
			return err;
		n = func_name(g, f.name_off);
		if (!n || strcmp(n, name) != 0)
			continue;
		if (!functab_slot(g, i + 1, &next, &dummy) || next < f.entry)
			return -EBADMSG;
		*entry = f.entry;
		*size = next - f.entry;
		return 0;
	}
	return -ENOENT;
}

/* A name offset outside the name table means the table or the tree is corrupt. */
static int check_names(const struct gobin_frame *frames, int n)
{
	for (int i = 0; i < n; i++)
		if (!frames[i].function)
			return -EBADMSG;
	return n;
}

int gobin__resolve(struct gobin *g, __u64 pc, struct gobin_frame *frames, int max)
{
	struct go_func f;
	struct inl_call c = {};
	__u64 idx, tree;
	__s32 ix = -1;
	int n = 0, err;

	if (!frames || max <= 0)
		return -EINVAL;
	err = find_func(g, pc, &idx);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = read_func(g, idx, &f);
	if (err)
		return err;
	tree = inline_tree(g, &f);
	if (tree)
		ix = pcdata_value(g, &f, g->pcdata_inl_idx, pc);

	/* The runtime's way (inlineUnwinder, traceback): the innermost frame's file and line are
	 * those of pc; each caller's are those of parentPc, an instruction attributed to the call
	 * site, whose inline index also names the next outer function. */
	for (int depth = 0; n < max; depth++) {
		struct gobin_frame *fr = &frames[n];

		file_line(g, &f, pc, fr);
		/* An inline entry whose name is outside the name table (seen on Go 1.27 release
		 * binaries, whose inline tree allocscope does not read right yet): the physical
		 * function, which the functab names for sure, rather than no name at all. */
		if (ix < 0 || depth >= MAX_INLINE_DEPTH || !read_inl_call(g, tree, ix, &c) ||
		    !func_name(g, c.name_off)) {
			fr->function = func_name(g, f.name_off);
			n++;
			break;
		}
		fr->function = func_name(g, c.name_off);
		n++;
		pc = f.entry + c.parent_pc;
		ix = pcdata_value(g, &f, g->pcdata_inl_idx, pc);
	}
	return check_names(frames, n);
}
