/* SPDX-License-Identifier: MIT */
/* Inside the Go executable reader (symbols/gobin*.c only): the reader's state and the bounds-
 * checked reads of the file image that the build-information and pclntab parsers share. */
#ifndef ALLOCSCOPE_GOBIN_PRIV_H
#define ALLOCSCOPE_GOBIN_PRIV_H

#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>

#include "symbols/gobin.h"

#define GO_MAGIC_12  0xfffffffbU
#define GO_MAGIC_116 0xfffffffaU
#define GO_MAGIC_118 0xfffffff0U
#define GO_MAGIC_120 0xfffffff1U

#define BUILDINFO_MAGIC	    "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN 14
#define BUILDINFO_HDR_LEN   32
/* debug/buildinfo reads this much of the data segment when there is no .go.buildinfo. */
#define BUILDINFO_SCAN_BYTES	      (64 * 1024)
#define BUILDINFO_FLAG_BIG_ENDIAN     0x1
#define BUILDINFO_FLAG_INLINE_STRINGS 0x2
#define MAX_VERSION_LEN		      256
#define MAX_MODINFO_LEN		      (1 << 20)
/* Module information is framed by two 16-byte sentinels (cmd/go/internal/modload). */
#define MODINFO_SENTINEL_LEN 16

#define MAX_LOAD_SEGS 32
/* A corrupt inline tree could form a cycle through parentPc; real nesting is far shallower. */
#define MAX_INLINE_DEPTH 64

/* moduledata word indexes (runtime/symtab.go): 1.18 added rodata and gofunc after etypes,
 * 1.20 added covctrs/ecovctrs before end. ftab is the slice at words 16..18. */
#define MD_FTAB_LEN   17
#define MD_FTAB_CAP   18
#define MD_TEXT	      22
#define MD_GOFUNC_118 38
#define MD_GOFUNC_120 40
/* The last word tried as gofunc when the version's own is wrong (Go 1.27 moved it). */
#define MD_GOFUNC_LAST 50
#define MD_WORDS      51

enum pcln_fmt {
	PCLN_GO12,
	PCLN_GO116,
	PCLN_GO118,
	PCLN_GO120,
};

/* How inline tree entries are laid out (runtime.inlinedCall). */
enum inl_fmt {
	INL_NONE,
	INL_GO112, /* 1.12-1.19: parent, funcID, file, line, func, parentPc */
	INL_GO120, /* 1.20+: funcID, nameOff, parentPc, startLine */
};

struct blob {
	const __u8 *p;
	__u64 n;
};

struct load_seg {
	__u64 vaddr;
	__u64 off;    /* in the file image */
	__u64 filesz; /* clamped to the image */
	__u32 flags;
};

struct gobin {
	__u8 *img; /* private mapping of the whole file */
	size_t img_size;
	Elf *elf;
	bool big_endian;
	__u32 elf_ptr_size;
	struct load_seg segs[MAX_LOAD_SEGS];
	int nsegs;

	char *version;
	char *module_path;
	int go_major, go_minor; /* -1 when unknown */

	/* pclntab and its sub-tables; each blob lies inside pcln */
	struct blob pcln;
	__u64 pcln_vaddr;
	enum pcln_fmt fmt;
	__u32 quantum;
	__u32 ptr_size;
	__u64 nfunc;
	__u64 text_start;	 /* 1.18+: functab entries are offsets from it */
	struct blob funcnametab; /* 1.2: the whole pclntab; names are offsets into it */
	struct blob cutab;
	struct blob filetab;
	struct blob pctab;   /* 1.2: the whole pclntab */
	struct blob functab; /* the functab followed by the _func records (1.2: whole pclntab) */
	__u64 functab_off;   /* where the functab starts inside the functab blob */
	__u64 nfiletab;	     /* 1.2 only */

	enum inl_fmt inl;
	__u32 pcdata_inl_idx;
	__u32 funcdata_inl_idx;
	__u64 gofunc; /* 1.18+: base of FUNCDATA offsets, 0 when not found */
};

/* A decoded _func record. */
struct go_func {
	__u64 entry;
	__u64 off; /* of the record in the functab blob */
	__u32 name_off;
	__u32 pcfile;
	__u32 pcln;
	__u32 npcdata;
	__u32 cu_off;
	__u32 nfuncdata;
	__u32 hdr_size; /* bytes before the pcdata array */
};

bool gobin_blob_bytes(const struct blob *b, __u64 off, __u64 len);
__u64 gobin_load_uint(const __u8 *p, int len, bool big_endian);
bool gobin_blob_u32(const struct gobin *g, const struct blob *b, __u64 off, __u32 *v);
bool gobin_blob_uptr(const struct gobin *g, const struct blob *b, __u64 off, __u64 *v);
/* A NUL-terminated string at off, or NULL when it runs past the blob. */
const char *gobin_blob_str(const struct blob *b, __u64 off);
bool gobin_blob_sub(const struct blob *b, __u64 off, __u64 len, struct blob *out);
/* Bytes of the file backing [vaddr, vaddr + len), or NULL. */
const __u8 *gobin_vaddr_bytes(const struct gobin *g, __u64 vaddr, __u64 len);
bool gobin_vaddr_uptr(const struct gobin *g, __u64 vaddr, __u32 ptr_size, bool big_endian,
		      __u64 *v);
Elf_Scn *gobin_find_section(struct gobin *g, const char *name, GElf_Shdr *shdr);
/* The section's bytes as they are in the file; false for SHT_NOBITS or when out of the file. */
bool gobin_section_blob(struct gobin *g, Elf_Scn *scn, const GElf_Shdr *shdr, struct blob *b);
/* Value of a symbol in .symtab, for unstripped binaries whose section headers lack the Go
 * sections (external linkers may merge them). */
bool gobin_symtab_lookup(struct gobin *g, const char *name, __u64 *value);
/* The addend of a RELA relocation at vaddr. Linkers that rely on RELA may leave pointer-sized
 * words of a PIE zero in the file, with the value only in the relocation. */
bool gobin_rela_addend(struct gobin *g, __u64 vaddr, __u64 *value);
/* A pointer stored at vaddr, following a relocation when the file holds 0 there. */
bool gobin_vaddr_ptr_reloc(struct gobin *g, __u64 vaddr, __u64 *v);
void gobin_load_segments(struct gobin *g);
/* .go.buildinfo (gobin_buildinfo.c): 0 when found and parsed, -ENOENT when there is none,
 * -errno otherwise. */
int gobin_load_buildinfo(struct gobin *g);
/* The version from runtime.buildVersion when there is no build information: 0 or -errno. */
int gobin_load_buildversion(struct gobin *g);

#endif
