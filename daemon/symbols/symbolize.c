// SPDX-License-Identifier: MIT
/* Symbolization through elfutils: one Dwfl per ELF file, reported at base 0 so that libdwfl
 * addresses are the file's own virtual addresses. Owns the file cache, the per-file error cache
 * and every string handed out in struct sym_frame. Not thread-safe: one caller at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "util/common.h"
#include "util/htab.h"
#include "util/log.h"
#include "symbols/debugfile.h"
#include "symbols/gobin.h"
#include "symbols/rootfs.h"
#include "symbols/symbolize.h"

#include "symbols/symbolize_priv.h"

static bool str_eq(const void *ctx, uintptr_t val, const void *key)
{
	return !strcmp((const char *)val, key);
}

static bool file_eq(const void *ctx, uintptr_t val, const void *key)
{
	return !strcmp(((const struct sym_file *)val)->path, key);
}

static bool obj_eq(const void *ctx, uintptr_t val, const void *key)
{
	return !strcmp(((const struct sym_obj *)val)->key, key);
}

/* A copy of str owned by the symbolizer, or NULL (errno = ENOMEM). */
const char *symbolizer__intern(struct symbolizer *s, const char *str)
{
	__u64 hash = htab__hash_str(str);
	uintptr_t found;
	char *copy;

	if (htab__find(&s->strs, hash, str_eq, NULL, str, &found))
		return (const char *)found;
	copy = strdup(str);
	if (!copy)
		return NULL;
	if (htab__set(&s->strs, hash, str_eq, NULL, str, (uintptr_t)copy)) {
		free(copy);
		errno = ENOMEM;
		return NULL;
	}
	return copy;
}

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = NULL;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		log_error("libelf version mismatch: %s", elf_errmsg(-1));
		err = -ELIBBAD;
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->demangle = opts && opts->demangle;
	/*
	 * Absolute directories only: libdwfl would open the relative entries next to the file with
	 * a plain open(); debugfile__find() looks there itself, inside the target's root.
	 */
	if (asprintf(&s->debuginfo_path, "%s",
		     opts && opts->debug_root ? opts->debug_root : "/usr/lib/debug") < 0) {
		s->debuginfo_path = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	s->cbs.find_elf = dwfl_build_id_find_elf;
	s->cbs.find_debuginfo = debugfile__find;
	s->cbs.section_address = dwfl_offline_section_address;
	s->cbs.debuginfo_path = &s->debuginfo_path;
	err = 0;
cleanup:
	if (err) {
		symbolizer__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

static void sym_obj__free(struct sym_obj *o)
{
	if (!o)
		return;
	if (o->dwfl)
		dwfl_end(o->dwfl);
	gobin__close(o->go);
	free(o->loads);
	free(o->cu_ranges);
	free(o->key);
	free(o);
}

void symbolizer__free(struct symbolizer *s)
{
	uintptr_t v;
	size_t it;

	if (!s)
		return;
	for (it = 0; htab__next(&s->files, &it, &v);) {
		free(((struct sym_file *)v)->path);
		free((struct sym_file *)v);
	}
	for (it = 0; htab__next(&s->objs, &it, &v);)
		sym_obj__free((struct sym_obj *)v);
	for (it = 0; htab__next(&s->strs, &it, &v);)
		free((char *)v);
	htab__free(&s->files);
	htab__free(&s->objs);
	htab__free(&s->strs);
	free(s->debuginfo_path);
	free(s);
}

/*
 * Checks what libelf and libdwfl would otherwise trust: the ELF header, program headers and
 * section headers must describe ranges inside the file, so that a corrupt file is refused here
 * with one message instead of yielding garbage later. Keeps the PT_LOAD headers in o.
 */
static int check_elf(const char *path, Elf *elf, __u64 file_size, struct sym_obj *o)
{
	size_t phnum, shnum, shstrndx, i;
	GElf_Ehdr ehdr;
	GElf_Phdr phdr;
	GElf_Shdr shdr;
	Elf_Scn *scn;
	void *tmp;

	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr)) {
		log_warn("%s: not an ELF file: %s", path, elf_errmsg(-1));
		return -ENOEXEC;
	}
	if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
		log_warn("%s: ELF type %u is neither executable nor shared object", path,
			 ehdr.e_type);
		return -ENOEXEC;
	}
	if (elf_getphdrnum(elf, &phnum)) {
		log_warn("%s: bad program headers: %s", path, elf_errmsg(-1));
		return -ENOEXEC;
	}
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(elf, i, &phdr)) {
			log_warn("%s: bad program header %zu: %s", path, i, elf_errmsg(-1));
			return -ENOEXEC;
		}
		if (phdr.p_type != PT_LOAD)
			continue;
		if (phdr.p_offset > file_size || phdr.p_filesz > file_size - phdr.p_offset ||
		    phdr.p_filesz > phdr.p_memsz || phdr.p_vaddr + phdr.p_memsz < phdr.p_vaddr) {
			log_warn("%s: PT_LOAD %zu lies outside the file", path, i);
			return -ENOEXEC;
		}
		tmp = realloc(o->loads, (o->load_cnt + 1) * sizeof(*o->loads));
		if (!tmp)
			return -ENOMEM;
		o->loads = tmp;
		o->loads[o->load_cnt++] = phdr;
	}
	if (!o->load_cnt) {
		log_warn("%s: no PT_LOAD segment", path);
		return -ENOEXEC;
	}

	if (elf_getshdrnum(elf, &shnum)) {
		log_warn("%s: bad section header count: %s", path, elf_errmsg(-1));
		return -ENOEXEC;
	}
	/* sstrip'ed files have no section headers at all: valid, just nothing to name. */
	if (shnum <= 1)
		return 0;
	if (elf_getshdrstrndx(elf, &shstrndx) || shstrndx >= shnum) {
		log_warn("%s: bad section name table index", path);
		return -ENOEXEC;
	}
	for (scn = NULL, i = 1; (scn = elf_nextscn(elf, scn)); i++) {
		if (!gelf_getshdr(scn, &shdr)) {
			log_warn("%s: bad section header %zu: %s", path, i, elf_errmsg(-1));
			return -ENOEXEC;
		}
		if (shdr.sh_link >= shnum || !elf_strptr(elf, shstrndx, shdr.sh_name)) {
			log_warn("%s: section header %zu has a bad link or name", path, i);
			return -ENOEXEC;
		}
		if (shdr.sh_type == SHT_NOBITS || shdr.sh_type == SHT_NULL)
			continue;
		if (shdr.sh_offset > file_size || shdr.sh_size > file_size - shdr.sh_offset) {
			log_warn("%s: section %zu [%#llx, +%#llx) lies outside the file", path, i,
				 (__u64)shdr.sh_offset, (__u64)shdr.sh_size);
			return -ENOEXEC;
		}
	}
	return 0;
}

/* Parses the file open at fd into a new object; fd is consumed either way. */
static int sym_obj__load(struct symbolizer *s, const char *path, int fd, __u64 file_size,
			 struct sym_obj *o)
{
	int err, dwfl_fd = fd;
	Elf *elf = NULL;

	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	err = check_elf(path, elf, file_size, o);
	if (err)
		goto cleanup;
	elf_end(elf);
	elf = NULL;

	o->dwfl = dwfl_begin(&s->cbs);
	if (!o->dwfl) {
		log_warn("%s: dwfl_begin: %s", path, dwfl_errmsg(-1));
		err = -ENOMEM;
		goto cleanup;
	}
	dwfl_report_begin(o->dwfl);
	/* Base 0 with add_p_vaddr: a PIE or shared object keeps its own link-time addresses. */
	o->mod = dwfl_report_elf(o->dwfl, path, path, fd, 0, true);
	if (!o->mod) {
		log_warn("%s: cannot report to libdwfl: %s", path, dwfl_errmsg(-1));
		err = -ENOEXEC;
		goto cleanup;
	}
	/* libdwfl owns fd from here on and closes it in dwfl_end(); on failure it left fd open. */
	fd = -1;
	if (dwfl_report_end(o->dwfl, NULL, NULL) || !dwfl_module_getelf(o->mod, &o->bias)) {
		log_warn("%s: libdwfl: %s", path, dwfl_errmsg(-1));
		err = -ENOEXEC;
		goto cleanup;
	}
	o->has_lines = -1;
	/* Go's names, files, lines and inlined frames come from its pclntab, also when stripped;
	 * read from the descriptor already checked, never from the path again. */
	o->go = gobin__open_fd(dwfl_fd, path);
	err = 0;
cleanup:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* The object for the file at path (the file mapping m maps, when m is not NULL), parsed on
 * first use. 0 or -errno. */
static int obj_get(struct symbolizer *s, const char *path, const struct proc_mapping *m,
		   struct sym_obj **out)
{
	struct sym_obj *o = NULL;
	char key[128];
	struct stat st;
	uintptr_t found;
	__u64 hash;
	int fd = -1, err;

	/* Inside the process's root, never blocking, regular, and the mapped file itself. */
	fd = rootfs__open(path, m);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		log_warn("cannot stat %s: %s", path, strerror(-err));
		goto cleanup;
	}
	snprintf(key, sizeof(key), "%llx:%llu:%lld:%lld.%09ld", (__u64)st.st_dev, (__u64)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	/* Room first: once the object is parsed, adding it cannot fail. */
	err = htab__reserve(&s->objs, 1);
	if (err)
		goto cleanup;
	hash = htab__hash_str(key);
	if (htab__find(&s->objs, hash, obj_eq, NULL, key, &found)) {
		*out = (struct sym_obj *)found;
		err = 0;
		goto cleanup;
	}
	o = calloc(1, sizeof(*o));
	if (!o || !(o->key = strdup(key))) {
		err = -ENOMEM;
		goto cleanup;
	}
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	err = sym_obj__load(s, path, fd, st.st_size, o);
	fd = -1;
	if (err)
		goto cleanup;
	htab__set(&s->objs, hash, obj_eq, NULL, key, (uintptr_t)o);
	*out = o;
	o = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	sym_obj__free(o);
	return err;
}

/* Whether o is the file mapping m maps (as far as /proc/PID/maps tells: device and inode). */
static bool obj_maps(const struct sym_obj *o, const struct proc_mapping *m)
{
	return !m || !m->inode ||
	       (o->ino == m->inode && major(o->dev) == m->dev_major &&
		minor(o->dev) == m->dev_minor);
}

/*
 * The loaded object for path, or -errno (remembered per path). With m, the object must be the
 * file m maps: a path whose cached object is another file (a package upgrade, or a tenant
 * that swapped it) is opened again and checked; a refusal is remembered for that mapping.
 */
static int obj_for(struct symbolizer *s, const char *path, const struct proc_mapping *m,
		   struct sym_obj **out)
{
	__u64 hash;
	struct sym_obj *o = NULL;
	struct sym_file *f;
	uintptr_t found;
	int err;

	if (!s || !path)
		return -EINVAL;
	hash = htab__hash_str(path);
	/* Room first: once the file is looked at, adding it cannot fail. */
	if (htab__reserve(&s->files, 1))
		return -ENOMEM;
	if (htab__find(&s->files, hash, file_eq, NULL, path, &found)) {
		f = (struct sym_file *)found;
		if (f->err)
			return f->err;
		if (!obj_maps(f->obj, m)) {
			if (f->refused_err && f->refused_ino == m->inode &&
			    f->refused_major == m->dev_major && f->refused_minor == m->dev_minor)
				return f->refused_err;
			err = obj_get(s, path, m, &o);
			if (err == -ENOMEM)
				return err;
			if (err) {
				f->refused_ino = m->inode;
				f->refused_major = m->dev_major;
				f->refused_minor = m->dev_minor;
				f->refused_err = err;
				return err;
			}
			/* The old object stays in s->objs, which owns it. */
			f->obj = o;
		}
		*out = f->obj;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return -ENOMEM;
	}
	err = obj_get(s, path, m, &f->obj);
	if (err == -ENOMEM) {
		free(f->path);
		free(f);
		return err;
	}
	f->err = err;
	htab__set(&s->files, hash, file_eq, NULL, path, (uintptr_t)f);
	if (err)
		return err;
	*out = f->obj;
	return 0;
}

static bool off_to_vaddr(const struct sym_obj *o, __u64 off, __u64 *vaddr)
{
	size_t i;

	for (i = 0; i < o->load_cnt; i++) {
		const GElf_Phdr *p = &o->loads[i];

		if (off >= p->p_offset && off - p->p_offset < p->p_filesz) {
			*vaddr = off - p->p_offset + p->p_vaddr;
			return true;
		}
	}
	return false;
}

static bool vaddr_to_off(const struct sym_obj *o, __u64 vaddr, __u64 *off)
{
	size_t i;

	for (i = 0; i < o->load_cnt; i++) {
		const GElf_Phdr *p = &o->loads[i];

		if (vaddr >= p->p_vaddr && vaddr - p->p_vaddr < p->p_filesz) {
			*off = vaddr - p->p_vaddr + p->p_offset;
			return true;
		}
	}
	return false;
}

static int resolve_go(struct symbolizer *s, struct sym_obj *o, __u64 vaddr,
		      struct sym_frame *frames, int max_frames)
{
	struct gobin_frame gf[32];
	int n, err;

	n = gobin__resolve(o->go, vaddr, gf, min_t(int, max_frames, (int)ARRAY_SIZE(gf)));
	for (int i = 0; i < n; i++) {
		err = symbolize__set_frame(s, &frames[i], gf[i].function, gf[i].function, NULL,
					   gf[i].file, gf[i].line);
		if (err)
			return err;
	}
	return n;
}

int symbolizer__resolve(struct symbolizer *s, const char *file_path, const struct proc_mapping *m,
			__u64 addr, struct sym_frame *frames, int max_frames)
{
	struct sym_obj *o = NULL;
	__u64 vaddr = addr;
	int err;

	if (!frames || max_frames <= 0)
		return -EINVAL;
	if (m && (addr < m->start || addr >= m->end))
		return -ERANGE;
	err = obj_for(s, file_path, m, &o);
	if (err)
		return err;
	/* Process address -> file offset -> file vaddr; without a mapping addr is a vaddr. */
	if (m && !off_to_vaddr(o, addr - m->start + m->offset, &vaddr))
		return 0;
	if (o->go) {
		/* C code linked in through cgo is not in the pclntab: fall back to ELF and DWARF.
		 */
		err = resolve_go(s, o, vaddr, frames, max_frames);
		if (err)
			return err;
	}
	return symbolize__resolve_pc(s, o, vaddr + o->bias, frames, max_frames);
}

struct pid_prefix {
	char str[32];
	size_t len;
};

/* Keeps the files not below the prefix (/proc/PID/); frees the others. */
static bool file_keep(void *ctx, uintptr_t *val)
{
	const struct pid_prefix *p = ctx;
	struct sym_file *f = (struct sym_file *)*val;

	if (strncmp(f->path, p->str, p->len))
		return true;
	free(f->path);
	free(f);
	return false;
}

void symbolizer__forget_pid(struct symbolizer *s, int pid)
{
	struct pid_prefix p;

	p.len = snprintf(p.str, sizeof(p.str), "/proc/%d/", pid);
	htab__filter(&s->files, file_keep, &p);
}

int symbolizer__identity(struct symbolizer *s, const char *file_path, dev_t *dev, ino_t *ino)
{
	struct sym_obj *o = NULL;
	int err;

	err = obj_for(s, file_path, NULL, &o);
	if (err)
		return err;
	*dev = o->dev;
	*ino = o->ino;
	return 0;
}

size_t symbolizer__file_count(const struct symbolizer *s)
{
	return htab__count(&s->files);
}

Elf *symbolizer__elf(struct symbolizer *s, const char *file_path)
{
	struct sym_obj *o;
	Dwarf_Addr bias;
	Elf *elf;

	if (obj_for(s, file_path, NULL, &o) || !o->mod)
		return NULL;
	elf = dwfl_module_getelf(o->mod, &bias);
	if (!elf)
		return NULL;
	/* Whole in memory (mapped, else read) and detached from libdwfl's descriptor, which goes
	 * with the symbolizer's module while other holders may still use the Elf. */
	if (elf_cntl(elf, ELF_C_FDREAD))
		return NULL;
	/* A second handle on the same Elf: libelf counts references to it. */
	return elf_begin(-1, ELF_C_READ_MMAP, elf);
}

int symbolizer__build_id(struct symbolizer *s, const char *file_path, char *buf, size_t len)
{
	const unsigned char *bits;
	struct sym_obj *o = NULL;
	GElf_Addr note_vaddr;
	int err, n, i;

	if (!buf || !len)
		return -EINVAL;
	buf[0] = '\0';
	err = obj_for(s, file_path, NULL, &o);
	if (err)
		return err;
	n = dwfl_module_build_id(o->mod, &bits, &note_vaddr);
	if (n <= 0)
		return 0;
	if ((size_t)n * 2 + 1 > len)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", bits[i]);
	return 0;
}

/* Exact match, or name followed by a symbol version; @@ (the default version) ranks higher. */
static int name_rank(const char *sym, const char *name, size_t name_len)
{
	if (strncmp(sym, name, name_len) != 0)
		return 0;
	if (sym[name_len] == '\0')
		return 3;
	if (sym[name_len] != '@')
		return 0;
	return sym[name_len + 1] == '@' ? 2 : 1;
}

int symbolizer__func_offset(struct symbolizer *s, const char *file_path, const char *name,
			    __u64 *vaddr, __u64 *file_offset, __u64 *size)
{
	struct sym_obj *o = NULL;
	int err, cnt, i, rank, best_rank = 0;
	size_t name_len;
	GElf_Sym sym, best = {};
	GElf_Word shndx;
	GElf_Addr addr;
	const char *nm;
	__u64 off;

	if (!name || !*name)
		return -EINVAL;
	err = obj_for(s, file_path, NULL, &o);
	if (err)
		return err;
	/*
	 * libdwfl's table is .symtab (of the file, else of its separate debug file) and falls back
	 * to .dynsym, the order this lookup wants.
	 */
	cnt = dwfl_module_getsymtab(o->mod);
	name_len = strlen(name);
	for (i = 0; i < cnt && best_rank < 3; i++) {
		nm = dwfl_module_getsym_info(o->mod, i, &sym, &addr, &shndx, NULL, NULL);
		if (!nm || GELF_ST_TYPE(sym.st_info) != STT_FUNC || shndx == SHN_UNDEF)
			continue;
		rank = name_rank(nm, name, name_len);
		if (rank > best_rank) {
			best_rank = rank;
			best = sym;
		}
	}
	if (!best_rank)
		return -ENOENT;
	if (!vaddr_to_off(o, best.st_value, &off)) {
		log_warn("%s: %s at %#llx is in no PT_LOAD segment", file_path, name,
			 (__u64)best.st_value);
		return -ERANGE;
	}
	if (vaddr)
		*vaddr = best.st_value;
	if (file_offset)
		*file_offset = off;
	if (size)
		*size = best.st_size;
	return 0;
}

int symbolizer__has_lines(struct symbolizer *s, const char *file_path)
{
	struct sym_obj *o = NULL;
	Dwarf_Die *cu = NULL;
	Dwarf_Lines *lines;
	Dwarf_Addr bias;
	size_t nlines;
	int err;

	err = obj_for(s, file_path, NULL, &o);
	if (err)
		return err;
	if (o->has_lines >= 0)
		return o->has_lines;
	o->has_lines = 0;
	/* The first CU with a line table settles it; most files never get past the first. */
	while ((cu = dwfl_module_nextcu(o->mod, cu, &bias))) {
		if (dwarf_getsrclines(cu, &lines, &nlines) == 0 && nlines > 0) {
			o->has_lines = 1;
			break;
		}
	}
	return o->has_lines;
}
