/* SPDX-License-Identifier: MIT */
/* /proc/PID/maps: parsing into a sorted array of mappings and address lookup. The /proc root
 * is configurable so the parser is tested against fixture trees without root. */
#ifndef ALLOCSCOPE_PROCMAPS_H
#define ALLOCSCOPE_PROCMAPS_H

#include <stdio.h>
#include <linux/types.h>

#define PMAP_PERM_READ	 0x1
#define PMAP_PERM_WRITE	 0x2
#define PMAP_PERM_EXEC	 0x4
#define PMAP_PERM_SHARED 0x8

struct proc_mapping {
	__u64 start;
	__u64 end;
	__u64 offset; /* file offset of start */
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 perms; /* PMAP_PERM_* */
	__u32 gen;   /* proc_maps__overlay: the snapshot that last held it (0 in a parsed one) */
	char *path;  /* as /proc shows it: "/usr/lib/...", "[heap]", "" for anonymous; owned */
};

struct proc_maps {
	struct proc_mapping *maps; /* sorted by start, non-overlapping */
	size_t cnt;
};

/* Read /proc/<pid>/maps below proc_root (NULL means "/proc"). 0 or -errno; on error *out is
 * left empty. */
int proc_maps__read(const char *proc_root, int pid, struct proc_maps *out);
/* Parse maps text from a stream. Lines that do not parse are skipped and counted in *bad_lines
 * (may be NULL). 0 or -errno. */
int proc_maps__parse(FILE *f, struct proc_maps *out, size_t *bad_lines);
/* The mapping containing addr, or NULL. */
const struct proc_mapping *proc_maps__find(const struct proc_maps *pm, __u64 addr);
/* True when the mapping is backed by a regular file ("/..." path, not "(deleted)" aware). */
int proc_mapping__is_file(const struct proc_mapping *m);
/* True when the mapping's file was unlinked or replaced since it was mapped: the path ends in
 * " (deleted)" and no longer names the mapped file. */
int proc_mapping__is_deleted(const struct proc_mapping *m);
void proc_maps__clear(struct proc_maps *pm);
/*
 * What a process's older snapshots still tell, in one sorted array: fold into past the
 * executable mappings of old (the snapshot being replaced, numbered gen) that now (its
 * successor) does not hold identically; an old mapping replaces the past ones it overlaps.
 * Past entries that now holds identically go, and beyond max entries the oldest (lowest gen)
 * first. Looking addr up in now and then in past finds what the newest snapshot holding addr
 * held. 0 or -ENOMEM (past unchanged).
 */
int proc_maps__overlay(struct proc_maps *past, const struct proc_maps *old,
		       const struct proc_maps *now, __u32 gen, size_t max);

#endif
