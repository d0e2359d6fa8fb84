// SPDX-License-Identifier: MIT
/* One address to frames through DWARF: the compile units indexed by range, the inlined calls
 * innermost first, file and line of each, names demangled and interned by the symbolizer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dwarf.h>

#include "symbols/symbolize_priv.h"
#include "util/common.h"
#include "util/log.h"

/* From libstdc++ (the build links -lstdc++); declared here so this file stays C. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/*
 * The display form of a raw symbol name, interned: the symbol version ("memcpy@GLIBC_2.2.5")
 * dropped and C++ names demangled when asked. NULL for a NULL name or on ENOMEM.
 */
static const char *display_name(struct symbolizer *s, const char *raw)
{
	const char *at, *res;
	char *base = NULL, *dem = NULL;
	int status = -1;

	if (!raw)
		return NULL;
	at = strchr(raw, '@');
	if (at && at != raw) {
		base = strndup(raw, at - raw);
		if (!base)
			return NULL;
		raw = base;
	}
	if (s->demangle && raw[0] == '_' && raw[1] == 'Z')
		dem = __cxa_demangle(raw, NULL, NULL, &status);
	res = symbolizer__intern(s, status == 0 && dem ? dem : raw);
	free(dem);
	free(base);
	return res;
}

/* The linkage name of a subprogram or inlined instance, else its plain name. */
static const char *die_raw_name(Dwarf_Die *die)
{
	static const unsigned int attrs[] = {DW_AT_linkage_name, DW_AT_MIPS_linkage_name,
					     DW_AT_name};
	Dwarf_Attribute attr;
	const char *name;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		/* _integrate follows DW_AT_abstract_origin and DW_AT_specification. */
		name = dwarf_formstring(dwarf_attr_integrate(die, attrs[i], &attr));
		if (name)
			return name;
	}
	return NULL;
}

/* The source file as an absolute path when DWARF gives it relative to the compile directory
 * (GCC's DWARF 5 line tables do), interned. NULL for a NULL file or on ENOMEM. */
static const char *source_path(struct symbolizer *s, const char *comp_dir, const char *file)
{
	const char *res;
	char *joined;

	if (!file || file[0] == '/' || !comp_dir || !comp_dir[0])
		return file ? symbolizer__intern(s, file) : NULL;
	if (asprintf(&joined, "%s/%s", comp_dir, file) < 0)
		return NULL;
	res = symbolizer__intern(s, joined);
	free(joined);
	return res;
}

int symbolize__set_frame(struct symbolizer *s, struct sym_frame *fr, const char *raw_name,
			 const char *display_raw, const char *comp_dir, const char *file, int line)
{
	memset(fr, 0, sizeof(*fr));
	fr->system_name = raw_name ? symbolizer__intern(s, raw_name) : NULL;
	fr->function = display_raw ? display_name(s, display_raw) : NULL;
	fr->file = source_path(s, comp_dir, file);
	fr->line = line > 0 ? line : 0;
	if ((raw_name && !fr->system_name) || (display_raw && !fr->function) || (file && !fr->file))
		return -ENOMEM;
	return 0;
}

/* Where an inlined instance was called from: DW_AT_call_file/DW_AT_call_line of its DIE. */
static void call_site(Dwarf_Die *inl, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx, val;
	Dwarf_Files *files;
	Dwarf_Die cu;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &val) == 0 && val <= INT32_MAX)
		*line = val;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &idx) == 0 &&
	    dwarf_diecu(inl, &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 &&
	    idx < nfiles)
		*file = dwarf_filesrc(files, idx, NULL, NULL);
}

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void index_cus(struct sym_obj *o)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias, base, lo, hi;
	size_t cap = 0;

	o->cu_indexed = 1;
	while ((cu = dwfl_module_nextcu(o->mod, cu, &bias))) {
		ptrdiff_t off = 0;

		while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0) {
			if (lo >= hi)
				continue;
			if (o->cu_cnt == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct cu_range *n = realloc(o->cu_ranges, ncap * sizeof(*n));

				if (!n)
					goto sort; /* what was indexed still serves */
				o->cu_ranges = n;
				cap = ncap;
			}
			o->cu_ranges[o->cu_cnt++] =
			    (struct cu_range){.lo = lo, .hi = hi, .die = dwarf_dieoffset(cu)};
		}
	}
sort:
	if (o->cu_cnt) /* qsort wants an array, even of none */
		qsort(o->cu_ranges, o->cu_cnt, sizeof(*o->cu_ranges), cu_range_cmp);
}

/* The CU DIE whose ranges hold pc (a libdwfl address), found through the CU index. */
static Dwarf_Die *cu_for_pc(struct sym_obj *o, Dwarf_Addr pc, Dwarf_Die *buf, Dwarf_Addr *bias)
{
	Dwarf *dw = dwfl_module_getdwarf(o->mod, bias);
	size_t lo = 0, hi;

	if (!dw)
		return NULL;
	if (!o->cu_indexed)
		index_cus(o);
	pc -= *bias;
	/* The last range starting at or below pc; ranges of different CUs do not overlap. */
	hi = o->cu_cnt;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->cu_ranges[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || pc >= o->cu_ranges[lo - 1].hi)
		return NULL;
	return dwarf_offdie(dw, o->cu_ranges[lo - 1].die, buf);
}

int symbolize__resolve_pc(struct symbolizer *s, struct sym_obj *o, Dwarf_Addr pc,
			  struct sym_frame *frames, int max_frames)
{
	Dwarf_Die *scopes = NULL, *chain = NULL, *cudie, cu_buf;
	const char *sym_name, *file = NULL, *comp_dir = NULL;
	Dwarf_Attribute attr;
	int nscopes, nchain = 0, line = 0, n = 0, i, err = 0;
	bool have_outer = false;
	Dwarf_Addr dw_bias;
	Dwfl_Line *dl;
	GElf_Off sym_off;
	GElf_Sym sym;

	sym_name = dwfl_module_addrinfo(o->mod, pc, &sym_off, &sym, NULL, NULL, NULL);
	dl = dwfl_module_getsrc(o->mod, pc);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

	cudie = dwfl_module_addrdie(o->mod, pc, &dw_bias);
	if (!cudie && !dl) {
		/* No .debug_aranges: find the CU by its own ranges, and the line in it. */
		cudie = cu_for_pc(o, pc, &cu_buf, &dw_bias);
		if (cudie) {
			Dwarf_Line *ln = dwarf_getsrc_die(cudie, pc - dw_bias);

			if (ln) {
				file = dwarf_linesrc(ln, NULL, NULL);
				dwarf_lineno(ln, &line);
			}
		}
	}
	if (dl)
		comp_dir = dwfl_line_comp_dir(dl);
	else if (cudie)
		comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	if (cudie) {
		nscopes = dwarf_getscopes(cudie, pc - dw_bias, &scopes);
		/*
		 * dwarf_getscopes() continues from the innermost inlined instance into its abstract
		 * origin; the concrete nesting (inlined into what, called from where) comes from
		 * the DIE tree above the innermost scope.
		 */
		if (nscopes > 0)
			nchain = dwarf_getscopes_die(&scopes[0], &chain);
	}
	for (i = 0; i < nchain && n < max_frames; i++) {
		int tag = dwarf_tag(&chain[i]);
		const char *raw;

		if (tag == DW_TAG_inlined_subroutine) {
			raw = die_raw_name(&chain[i]);
			err = symbolize__set_frame(s, &frames[n++], raw, raw, comp_dir, file, line);
			if (err)
				goto cleanup;
			/* The enclosing frame's line is this instance's call site. */
			call_site(&chain[i], &file, &line);
			continue;
		}
		if (tag != DW_TAG_subprogram && tag != DW_TAG_entry_point)
			continue;
		/* The symbol names the real function (foo.cold, foo.constprop.0); DWARF names
		 * the source-level one. */
		raw = die_raw_name(&chain[i]);
		err = symbolize__set_frame(s, &frames[n++], sym_name ? sym_name : raw,
					   raw ? raw : sym_name, comp_dir, file, line);
		if (err)
			goto cleanup;
		have_outer = true;
		break;
	}
	if (!have_outer && n < max_frames && (sym_name || file)) {
		err =
		    symbolize__set_frame(s, &frames[n++], sym_name, sym_name, comp_dir, file, line);
		if (err)
			goto cleanup;
	}
cleanup:
	free(scopes);
	free(chain);
	return err ? err : n;
}
