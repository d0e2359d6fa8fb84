// SPDX-License-Identifier: MIT
/* Structure offsets from a Go executable's DWARF (see godwarf.h). The Go linker puts the runtime
 * package's types in the compilation unit named "runtime", as named structure types
 * ("runtime.g") whose members carry DW_AT_data_member_location as a constant. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "symbols/godwarf.h"
#include "util/common.h"

/* Where a member's offset goes: struct name, member name, field of struct go_dwarf. */
static const struct {
	const char *type;
	const char *member;
	size_t field;
} wanted[] = {
    {"runtime.m", "curg", offsetof(struct go_dwarf, m_curg)},
    {"runtime.g", "stack", offsetof(struct go_dwarf, g_stack)},
    {"runtime.g", "m", offsetof(struct go_dwarf, g_m)},
    {"runtime.g", "sched", offsetof(struct go_dwarf, g_sched)},
    {"runtime.gobuf", "sp", offsetof(struct go_dwarf, gobuf_sp)},
    {"runtime.gobuf", "bp", offsetof(struct go_dwarf, gobuf_bp)},
    {"runtime.special", "kind", offsetof(struct go_dwarf, special_kind)},
};

/* The wanted members of structure type s (named type) into out; the number found. */
static int read_members(Dwarf_Die *s, const char *type, struct go_dwarf *out)
{
	Dwarf_Die m;
	int found = 0;

	if (dwarf_child(s, &m))
		return 0;
	do {
		const char *name = dwarf_diename(&m);
		Dwarf_Attribute attr;
		Dwarf_Word off;

		if (dwarf_tag(&m) != DW_TAG_member || !name ||
		    !dwarf_attr(&m, DW_AT_data_member_location, &attr) ||
		    dwarf_formudata(&attr, &off) || off > 1 << 20)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
			if (!strcmp(wanted[i].type, type) && !strcmp(wanted[i].member, name)) {
				*(int *)((char *)out + wanted[i].field) = (int)off;
				found++;
			}
	} while (!dwarf_siblingof(&m, &m));
	return found;
}

static int wanted_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
		if (!strcmp(wanted[i].type, name))
			return 1;
	return 0;
}

int godwarf__read(Elf *elf, struct go_dwarf *out)
{
	Dwarf_Off off = 0, next;
	int types = 0, found = 0;
	size_t hsize;
	Dwarf *dw;

	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
		*(int *)((char *)out + wanted[i].field) = -1;
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw)
		return -ENOENT;
	/* The units named "runtime" (there can be several) hold the runtime's types. */
	while (found < (int)ARRAY_SIZE(wanted) &&
	       !dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL)) {
		Dwarf_Die cu, d;
		const char *name;

		if (dwarf_offdie(dw, off + hsize, &cu) && (name = dwarf_diename(&cu)) &&
		    !strcmp(name, "runtime") && !dwarf_child(&cu, &d))
			do {
				name = dwarf_diename(&d);
				if (dwarf_tag(&d) == DW_TAG_structure_type && name &&
				    wanted_type(name)) {
					found += read_members(&d, name, out);
					types++;
				}
			} while (found < (int)ARRAY_SIZE(wanted) && !dwarf_siblingof(&d, &d));
		off = next;
	}
	dwarf_end(dw);
	return types ? 0 : -ENOENT;
}

/* The last files read, oldest replaced first. */
#define GODWARF_CACHE 32

static struct godwarf_cached {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int err;
	struct go_dwarf dw;
} cache[GODWARF_CACHE];
static size_t cache_cnt, cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_file(const struct godwarf_cached *c, const struct stat *st)
{
	return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int godwarf__read_file(int fd, Elf *elf, struct go_dwarf *out)
{
	struct godwarf_cached *c;
	struct stat st;
	int err;

	if (fstat(fd, &st))
		return godwarf__read(elf, out);
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < cache_cnt; i++)
		if (same_file(&cache[i], &st)) {
			*out = cache[i].dw;
			err = cache[i].err;
			pthread_mutex_unlock(&cache_lock);
			return err;
		}
	pthread_mutex_unlock(&cache_lock);
	err = godwarf__read(elf, out);
	pthread_mutex_lock(&cache_lock);
	c = &cache[cache_next];
	cache_next = (cache_next + 1) % GODWARF_CACHE;
	if (cache_cnt < GODWARF_CACHE)
		cache_cnt++;
	*c = (struct godwarf_cached){.dev = st.st_dev,
				     .ino = st.st_ino,
				     .size = st.st_size,
				     .mtime = st.st_mtim,
				     .err = err,
				     .dw = *out};
	pthread_mutex_unlock(&cache_lock);
	return err;
}
