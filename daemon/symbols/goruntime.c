// SPDX-License-Identifier: MIT
/*
 * The Go runtime's allocation hooks per Go version, and runtime.MemProfileRate. Function
 * addresses come from .gopclntab (gobin.c), so stripped binaries work; MemProfileRate is a
 * variable, absent from pclntab, so without .symtab it is found as the one RIP-relative load in
 * runtime.mallocgc whose target lies in .noptrdata and holds 512 KiB in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capstone/capstone.h>

#include "bpf/alloc.h"
#include "util/common.h"
#include "symbols/gobin.h"
#include "symbols/rootfs.h"
#include "symbols/godwarf.h"
#include "symbols/goruntime.h"
#include "util/log.h"

/* The cause of an allocation, from the runtime function user code called (reference:
 * ../shared/reference/go-runtime.md, section 7). Prefix matches end in '*'. */
static const struct {
	const char *func;
	const char *cause;
} causes[] = {
    {"runtime.newobject", "new-object"},
    {"runtime.makeslicecopy", "make-slice"},
    {"runtime.makeslice*", "make-slice"},
    {"runtime.growslice", "slice-growth"},
    {"runtime.convT*", "interface-boxing"},
    {"runtime.concatstring*", "string-concat"},
    {"runtime.concatbytes", "string-concat"},
    {"runtime.rawbyteslice", "string-bytes-conversion"},
    {"runtime.rawstring*", "string-bytes-conversion"},
    {"runtime.slicebytetostring", "string-bytes-conversion"},
    {"runtime.stringtoslicebyte", "string-bytes-conversion"},
    {"runtime.stringtoslicerune", "string-bytes-conversion"},
    {"runtime.slicerunetostring", "string-bytes-conversion"},
    {"runtime.intstring", "string-bytes-conversion"},
    {"runtime.makemap*", "map-growth"},
    {"runtime.mapassign*", "map-growth"},
    {"runtime.hashGrow", "map-growth"},
    {"runtime.(*hmap).newoverflow", "map-growth"},
    {"runtime.makeBucketArray", "map-growth"},
    {"internal/runtime/maps.*", "map-growth"},
};

const char *goruntime__cause(const char *func)
{
	for (size_t i = 0; i < ARRAY_SIZE(causes); i++) {
		size_t n = strlen(causes[i].func);

		if (causes[i].func[n - 1] == '*' ? !strncmp(func, causes[i].func, n - 1)
						 : !strcmp(func, causes[i].func))
			return causes[i].cause;
	}
	return NULL;
}

struct elf_file {
	int fd;
	Elf *elf;
};

static int elf_file_open(const char *path, struct elf_file *ef)
{
	ef->elf = NULL;
	ef->fd = rootfs__open(path, NULL);
	if (ef->fd < 0)
		return ef->fd;
	elf_version(EV_CURRENT);
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF) {
		close(ef->fd);
		if (ef->elf)
			elf_end(ef->elf);
		ef->elf = NULL;
		ef->fd = -1;
		return -ENOEXEC;
	}
	return 0;
}

static void elf_file_close(struct elf_file *ef)
{
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
}

static int vaddr_to_offset(Elf *elf, __u64 vaddr, __u64 *off)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return -ENOEXEC;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/* runtime.MemProfileRate from .symtab, when the binary still has one. */
static int rate_from_symtab(Elf *elf, __u64 *vaddr)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(elf, ".symtab", &sh);
	Elf_Data *data;

	if (!scn || !(data = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return -ENOENT;
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, i, &sym))
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (name && !strcmp(name, "runtime.MemProfileRate")) {
			*vaddr = sym.st_value;
			return 0;
		}
	}
	return -ENOENT;
}

/* Whether vaddr lies in one of the writable data sections a Go variable can live in. */
static int in_data(Elf *elf, __u64 vaddr)
{
	static const char *const names[] = {".noptrbss", ".noptrdata", ".bss", ".data"};
	GElf_Shdr sh;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (find_section(elf, names[i], &sh) && vaddr >= sh.sh_addr &&
		    vaddr - sh.sh_addr < sh.sh_size)
			return 1;
	return 0;
}

/*
 * The one data address that a run of instructions in f's code names, as match recognises the
 * run starting at insns[i] (at least three instructions): 0 and *vaddr, or -ENOENT when no run
 * or two different addresses match. what names the variable in the log.
 */
static int scan_func(struct elf_file *ef, const struct go_func *f,
		     bool (*match)(struct elf_file *ef, const cs_insn *insns, __u64 *target),
		     const char *what, __u64 *vaddr)
{
	cs_insn *insns = NULL;
	__u8 *code = NULL;
	csh cs = 0;
	size_t cnt = 0;
	int err = -ENOENT, found = 0;

	if (!f->vaddr || !f->size || f->size > (1 << 20))
		return -ENOENT;
	code = malloc(f->size);
	if (!code)
		return -ENOMEM;
	if (pread(ef->fd, code, f->size, f->file_offset) != (ssize_t)f->size) {
		err = -EIO;
		goto cleanup;
	}
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		err = -ENOMEM;
		goto cleanup;
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cnt = cs_disasm(cs, code, f->size, f->vaddr, 0, &insns);
	for (size_t i = 0; i + 2 < cnt; i++) {
		__u64 target;

		if (!match(ef, insns + i, &target))
			continue;
		if (found && *vaddr != target) {
			log_debug("two candidates for %s: 0x%llx and 0x%llx", what,
				  (unsigned long long)*vaddr, (unsigned long long)target);
			err = -ENOENT;
			goto cleanup;
		}
		*vaddr = target;
		found = 1;
		err = 0;
	}
cleanup:
	if (insns)
		cs_free(insns, cnt);
	if (cs)
		cs_close(&cs);
	free(code);
	return err;
}

/*
 * runtime.MemProfileRate as the variable mallocgc tests with "if rate := MemProfileRate;
 * rate > 0": MOVQ runtime.MemProfileRate(SB), R; TESTQ R, R; JLE. Since Go 1.18 its initial
 * value comes from a function (defaultMemProfileRate), so it sits in .noptrbss with no value in
 * the file to recognise it by: the code is the only witness. Exactly one candidate, or none.
 */
static bool match_rate_test(struct elf_file *ef, const cs_insn *insns, __u64 *target)
{
	const cs_x86 *x = &insns[0].detail->x86, *t = &insns[1].detail->x86;

	if (insns[0].id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_REG ||
	    x->operands[1].type != X86_OP_MEM || x->operands[1].mem.base != X86_REG_RIP ||
	    x->operands[1].size != 8)
		return false;
	if (insns[1].id != X86_INS_TEST || t->op_count != 2 || t->operands[0].type != X86_OP_REG ||
	    t->operands[1].type != X86_OP_REG || t->operands[0].reg != x->operands[0].reg ||
	    t->operands[1].reg != x->operands[0].reg || insns[2].id != X86_INS_JLE)
		return false;
	*target = insns[0].address + insns[0].size + x->operands[1].mem.disp;
	return in_data(ef->elf, *target);
}

static int rate_from_code(struct elf_file *ef, const struct go_func *f, __u64 *vaddr)
{
	return scan_func(ef, f, match_rate_test, "runtime.MemProfileRate", vaddr);
}

/*
 * runtime.MemProfileRate as the variable runtime.schedinit clears when the linker left
 * runtime.MemProfile out ("if disableMemoryProfiling { MemProfileRate = 0 }", proc.go):
 * CMPB disableMemoryProfiling(SB), $0; JE; MOVQ $0, MemProfileRate(SB). The same three
 * instructions in Go 1.19 to 1.27, also where mallocgc's own test of the rate moved into its
 * size-class paths (1.23+). Exactly one candidate, or none.
 */
static bool match_rate_clear(struct elf_file *ef, const cs_insn *insns, __u64 *target)
{
	const cs_x86 *c = &insns[0].detail->x86, *m = &insns[2].detail->x86;
	__u64 flag;

	if (insns[0].id != X86_INS_CMP || c->op_count != 2 || c->operands[0].type != X86_OP_MEM ||
	    c->operands[0].mem.base != X86_REG_RIP || c->operands[0].size != 1 ||
	    c->operands[1].type != X86_OP_IMM || c->operands[1].imm != 0 ||
	    insns[1].id != X86_INS_JE)
		return false;
	if (insns[2].id != X86_INS_MOV || m->op_count != 2 || m->operands[0].type != X86_OP_MEM ||
	    m->operands[0].mem.base != X86_REG_RIP || m->operands[0].size != 8 ||
	    m->operands[1].type != X86_OP_IMM || m->operands[1].imm != 0)
		return false;
	flag = insns[0].address + insns[0].size + c->operands[0].mem.disp;
	*target = insns[2].address + insns[2].size + m->operands[0].mem.disp;
	return in_data(ef->elf, flag) && in_data(ef->elf, *target);
}

static int rate_from_schedinit(struct elf_file *ef, const struct go_func *f, __u64 *vaddr)
{
	return scan_func(ef, f, match_rate_clear, "runtime.MemProfileRate in schedinit", vaddr);
}

/* Without .symtab: schedinit's witness, checked against mallocgc's where that one is found
 * too; two witnesses that disagree give none (a wrong address would be written to). */
static int rate_from_code_witnesses(struct elf_file *ef, const struct go_runtime *gr,
				    const struct go_func *schedinit, __u64 *vaddr)
{
	__u64 a = 0, b = 0;
	int ea = rate_from_schedinit(ef, schedinit, &a);
	int eb = rate_from_code(ef, &gr->mallocgc, &b);

	if (!ea && !eb && a != b) {
		log_debug("runtime.MemProfileRate: schedinit says 0x%llx, mallocgc 0x%llx",
			  (unsigned long long)a, (unsigned long long)b);
		return -ENOENT;
	}
	if (ea && eb)
		return -ENOENT;
	*vaddr = ea ? b : a;
	return 0;
}

/* p_vaddr - p_offset of the segment that maps the file's start: process address = vaddr -
 * load_base + the start of the mapping at file offset 0. */
static __u64 load_base(Elf *elf)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, i, &ph) && ph.p_type == PT_LOAD && ph.p_offset == 0)
			return ph.p_vaddr;
	}
	return 0;
}

static int lookup_func(struct gobin *g, Elf *elf, const char *name, struct go_func *f)
{
	memset(f, 0, sizeof(*f));
	if (gobin__func_by_name(g, name, &f->vaddr, &f->size))
		return -ENOENT;
	if (vaddr_to_offset(elf, f->vaddr, &f->file_offset)) {
		f->vaddr = 0;
		return -ENOENT;
	}
	return 0;
}

/*
 * The version table's g and m offsets: gobuf is sp, pc, g, ctxt, ret, lr, bp up to Go 1.23
 * (m.curg at 192, as in the OpenTelemetry profiler's table of offsets from DWARF); later versions
 * dropped ret, which moves bp and, through m.morebuf, curg back by 8. Where the executable has
 * DWARF, check_layout_with_dwarf checks them (and the rest of the table's layout).
 */
static void table_layout(struct go_runtime *gr)
{
	int ret = gr->minor <= 23;

	gr->m_curg = ret ? 192 : 184;
	gr->g_sched_sp = 0x38;
	gr->g_sched_bp = ret ? 0x38 + 48 : 0x38 + 40;
	gr->g_fixed_ok = 1;
}

/* One offset: the DWARF's (dw >= 0) wins over the table's, and a difference is said. */
static void take_offset(struct go_runtime *gr, const char *path, const char *what, __u32 *field,
			int dw)
{
	if (dw < 0 || (__u32)dw == *field)
		return;
	log_info("%s (%s): %s is at %d in its DWARF, not %u as allocscope's table has it for this "
		 "version: going by the DWARF",
		 path, gr->version, what, dw, *field);
	*field = dw;
	gr->layout_differs = 1;
}

/*
 * Check the table's layout against the runtime's own DWARF, where the build kept it. The offsets
 * that user space passes to BPF (special.kind, m.curg, g.sched's sp and bp) follow the DWARF;
 * g.stack and g.m are constants of the BPF side (GO_G_STACK_LO, GO_G_M), so a runtime that moved
 * them turns off what reads them (g_fixed_ok = 0: no cgo stack joining) rather than read wrong.
 */
static void check_layout_with_dwarf(const char *path, int fd, Elf *elf, struct go_runtime *gr)
{
	struct go_dwarf dw;

	if (godwarf__read_file(fd, elf, &dw)) {
		log_debug("%s: no DWARF: the runtime's layout is the version table's (%s)", path,
			  gr->version);
		return;
	}
	gr->layout_from_dwarf = 1;
	take_offset(gr, path, "runtime.special.kind", &gr->special_kind_off, dw.special_kind);
	take_offset(gr, path, "runtime.m.curg", &gr->m_curg, dw.m_curg);
	if (dw.g_sched >= 0 && dw.gobuf_sp >= 0)
		take_offset(gr, path, "runtime.g.sched.sp", &gr->g_sched_sp,
			    dw.g_sched + dw.gobuf_sp);
	if (dw.g_sched >= 0 && dw.gobuf_bp >= 0)
		take_offset(gr, path, "runtime.g.sched.bp", &gr->g_sched_bp,
			    dw.g_sched + dw.gobuf_bp);
	if ((dw.g_stack >= 0 && dw.g_stack != GO_G_STACK_LO) || (dw.g_m >= 0 && dw.g_m != GO_G_M)) {
		log_warn("%s (%s): runtime.g.stack at %d and g.m at %d, where allocscope reads %d "
			 "and %d: no cgo stack joining for it",
			 path, gr->version, dw.g_stack, dw.g_m, GO_G_STACK_LO, GO_G_M);
		gr->g_fixed_ok = 0;
		gr->layout_differs = 1;
	}
	log_debug("%s: the runtime's layout checked against its DWARF (%s)%s", path, gr->version,
		  gr->layout_differs ? ": it differs from the table (above)" : "");
}

int goruntime__inspect(const char *path, struct go_runtime *out)
{
	struct elf_file ef = {.fd = -1};
	struct go_func schedinit;
	struct gobin *g = NULL;
	int major = 0, err;

	memset(out, 0, sizeof(*out));
	g = gobin__open(path);
	if (!g)
		return -errno;
	err = elf_file_open(path, &ef);
	if (err)
		goto cleanup;
	snprintf(out->version, sizeof(out->version), "%s", gobin__version(g) ?: "go?");
	if (gobin__version_num(g, &major, &out->minor) || major != 1)
		log_debug("%s: unknown Go version '%s'; assuming the newest layout", path,
			  out->version);
	if (out->minor <= 0)
		out->minor = 99;
	out->known = major == 1 && out->minor >= GO_OLDEST_KNOWN_MINOR &&
		     out->minor <= GO_NEWEST_KNOWN_MINOR;

	lookup_func(g, ef.elf, "runtime.mProf_Malloc", &out->mprof_malloc);
	lookup_func(g, ef.elf, "runtime.freeSpecial", &out->free_special);
	lookup_func(g, ef.elf, "runtime.mallocgc", &out->mallocgc);
	lookup_func(g, ef.elf, "runtime.gcStart", &out->gc_start);
	lookup_func(g, ef.elf, "runtime.gcMarkTermination", &out->gc_mark_term);
	/* Not runtime.main: the runtime package's own init sets MemProfileRate after it starts. */
	lookup_func(g, ef.elf, "main.main", &out->main_fn);
	lookup_func(g, ef.elf, "runtime.schedinit", &schedinit);

	/* Signatures and layouts by version (../shared/reference/go-runtime.md, section 2). */
	out->mprof_args = out->minor >= 23 ? GO_ARGS_P_RBX_SIZE_RCX : GO_ARGS_P_RAX_SIZE_RBX;
	out->special_kind_off = out->minor >= 24 ? 16 : 10;
	out->special_kind_profile = out->minor >= 25 ? 4 : out->minor >= 23 ? 3 : 2;
	table_layout(out);
	check_layout_with_dwarf(path, ef.fd, ef.elf, out);

	/* The code's witness always, so that it is checked wherever .symtab can check it. */
	if (rate_from_code_witnesses(&ef, out, &schedinit, &out->memprofilerate_code_vaddr))
		out->memprofilerate_code_vaddr = 0;
	if (!rate_from_symtab(ef.elf, &out->memprofilerate_vaddr)) {
		out->memprofilerate_from_symbol = 1;
		if (out->memprofilerate_code_vaddr &&
		    out->memprofilerate_code_vaddr != out->memprofilerate_vaddr)
			log_warn("%s: runtime.MemProfileRate at 0x%llx, but its code says 0x%llx",
				 path, (unsigned long long)out->memprofilerate_vaddr,
				 (unsigned long long)out->memprofilerate_code_vaddr);
	} else if (out->memprofilerate_code_vaddr) {
		out->memprofilerate_vaddr = out->memprofilerate_code_vaddr;
	} else {
		log_debug("%s: runtime.MemProfileRate not found", path);
		out->memprofilerate_vaddr = 0;
	}
	out->load_base = load_base(ef.elf);
	err = 0;
cleanup:
	elf_file_close(&ef);
	gobin__close(g);
	return err;
}

__u64 goruntime__var_addr(const struct go_runtime *gr, const struct proc_maps *maps,
			  const char *exe_path, __u64 vaddr)
{
	for (size_t i = 0; i < maps->cnt; i++) {
		const struct proc_mapping *m = &maps->maps[i];

		if (m->offset == 0 && !strcmp(m->path, exe_path))
			return vaddr - gr->load_base + m->start;
	}
	return 0;
}

static int rw_mem(int pid, __u64 addr, __s64 *v, int write)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, v, sizeof(*v), addr) : pread(fd, v, sizeof(*v), addr);
	close(fd);
	if (n != sizeof(*v))
		return n < 0 ? -errno : -EIO;
	return 0;
}

int goruntime__read_rate(int pid, __u64 addr, __s64 *rate)
{
	return rw_mem(pid, addr, rate, 0);
}

int goruntime__write_rate(int pid, __u64 addr, __s64 rate)
{
	return rw_mem(pid, addr, &rate, 1);
}

void goruntime__layout(const struct go_runtime *gr, struct go_layout *out)
{
	*out = (struct go_layout){
	    .m_curg = gr->m_curg,
	    .g_sched_sp = gr->g_sched_sp,
	    .g_sched_bp = gr->g_sched_bp,
	};
}
