// SPDX-License-Identifier: MIT
/* Bounds-checked reads of a Go executable's image for the reader (gobin_priv.h): blobs, virtual
 * addresses through PT_LOAD segments, sections, .symtab and relocations. Every byte comes from an
 * untrusted file. */
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

bool gobin_blob_bytes(const struct blob *b, __u64 off, __u64 len)
{
	return off <= b->n && b->n - off >= len;
}

__u64 gobin_load_uint(const __u8 *p, int len, bool big_endian)
{
	__u64 v = 0;

	for (int i = 0; i < len; i++)
		v |= (__u64)p[big_endian ? len - 1 - i : i] << (8 * i);
	return v;
}

bool gobin_blob_u32(const struct gobin *g, const struct blob *b, __u64 off, __u32 *v)
{
	if (!gobin_blob_bytes(b, off, 4))
		return false;
	*v = gobin_load_uint(b->p + off, 4, g->big_endian);
	return true;
}

bool gobin_blob_uptr(const struct gobin *g, const struct blob *b, __u64 off, __u64 *v)
{
	if (!gobin_blob_bytes(b, off, g->ptr_size))
		return false;
	*v = gobin_load_uint(b->p + off, g->ptr_size, g->big_endian);
	return true;
}

/* A NUL-terminated string at off, or NULL when it runs past the blob. */
const char *gobin_blob_str(const struct blob *b, __u64 off)
{
	if (off >= b->n || !memchr(b->p + off, 0, b->n - off))
		return NULL;
	return (const char *)b->p + off;
}

bool gobin_blob_sub(const struct blob *b, __u64 off, __u64 len, struct blob *out)
{
	if (!gobin_blob_bytes(b, off, len))
		return false;
	out->p = b->p + off;
	out->n = len;
	return true;
}

/* Bytes of the file backing [vaddr, vaddr + len), or NULL. */
const __u8 *gobin_vaddr_bytes(const struct gobin *g, __u64 vaddr, __u64 len)
{
	for (int i = 0; i < g->nsegs; i++) {
		const struct load_seg *s = &g->segs[i];

		if (vaddr < s->vaddr || vaddr - s->vaddr >= s->filesz)
			continue;
		if (s->filesz - (vaddr - s->vaddr) < len)
			return NULL;
		return g->img + s->off + (vaddr - s->vaddr);
	}
	return NULL;
}

bool gobin_vaddr_uptr(const struct gobin *g, __u64 vaddr, __u32 ptr_size, bool big_endian, __u64 *v)
{
	const __u8 *p = gobin_vaddr_bytes(g, vaddr, ptr_size);

	if (!p)
		return false;
	*v = gobin_load_uint(p, ptr_size, big_endian);
	return true;
}

/* ---- ELF access through libelf ---- */

Elf_Scn *gobin_find_section(struct gobin *g, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(g->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(g->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = elf_strptr(g->elf, shstrndx, shdr->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

/* The section's bytes as they are in the file; false for SHT_NOBITS or when out of the file. */
bool gobin_section_blob(struct gobin *g, Elf_Scn *scn, const GElf_Shdr *shdr, struct blob *b)
{
	Elf_Data *d;

	if (shdr->sh_type == SHT_NOBITS)
		return false;
	d = elf_rawdata(scn, NULL);
	if (!d || !d->d_buf)
		return false;
	/* libelf checked the range against the image; keep pointers provably inside it. */
	if ((const __u8 *)d->d_buf < g->img ||
	    (const __u8 *)d->d_buf + d->d_size > g->img + g->img_size)
		return false;
	b->p = d->d_buf;
	b->n = d->d_size;
	return true;
}

/* Value of a symbol in .symtab, for unstripped binaries whose section headers lack the Go
 * sections (external linkers may merge them). */
bool gobin_symtab_lookup(struct gobin *g, const char *name, __u64 *value)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(g->elf, scn))) {
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		n = d->d_size / shdr.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(d, i, &sym))
				break;
			s = elf_strptr(g->elf, shdr.sh_link, sym.st_name);
			if (s && strcmp(s, name) == 0) {
				*value = sym.st_value;
				return true;
			}
		}
	}
	return false;
}

/* The addend of a RELA relocation at vaddr. Linkers that rely on RELA may leave pointer-sized
 * words of a PIE zero in the file, with the value only in the relocation. */
bool gobin_rela_addend(struct gobin *g, __u64 vaddr, __u64 *value)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(g->elf, scn))) {
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !shdr.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		n = d->d_size / shdr.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Rela r;

			if (!gelf_getrela(d, i, &r))
				break;
			if (r.r_offset == vaddr) {
				*value = r.r_addend;
				return true;
			}
		}
	}
	return false;
}

/* A pointer stored at vaddr, following a relocation when the file holds 0 there. */
bool gobin_vaddr_ptr_reloc(struct gobin *g, __u64 vaddr, __u64 *v)
{
	if (!gobin_vaddr_uptr(g, vaddr, g->ptr_size, g->big_endian, v))
		return false;
	if (*v == 0)
		gobin_rela_addend(g, vaddr, v);
	return *v != 0;
}

void gobin_load_segments(struct gobin *g)
{
	size_t n;

	if (elf_getphdrnum(g->elf, &n))
		return;
	for (size_t i = 0; i < n && g->nsegs < MAX_LOAD_SEGS; i++) {
		struct load_seg *s = &g->segs[g->nsegs];
		GElf_Phdr ph;

		if (!gelf_getphdr(g->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* A truncated file keeps its program headers: only trust bytes really there. */
		if (ph.p_offset >= g->img_size)
			continue;
		s->vaddr = ph.p_vaddr;
		s->off = ph.p_offset;
		s->filesz = min_t(__u64, ph.p_filesz, g->img_size - ph.p_offset);
		s->flags = ph.p_flags;
		g->nsegs++;
	}
}
