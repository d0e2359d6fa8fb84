/* SPDX-License-Identifier: MIT */
/* A watched process: its identity, its address space as last read, and what older reads of it
 * still tell (for addresses sampled before a library was unloaded), bounded. */
#ifndef ALLOCSCOPE_TARGET_H
#define ALLOCSCOPE_TARGET_H

#include <stddef.h>
#include <linux/types.h>

#include "symbols/procmaps.h"

struct target {
	int pid;
	int alive; /* cleared once /proc/PID is gone */
	/* Its root and mount namespace were ours at init: its paths are our paths, also once it
	 * is gone (files are then opened inside our own root, checked against the mapping). */
	int our_root;
	char *exe; /* readlink of /proc/PID/exe at init */
	char comm[32];
	struct proc_maps maps; /* the newest snapshot of /proc/PID/maps */
	/* Executable mappings of older snapshots that the newest lacks (proc_maps__overlay): at
	 * most TARGET_MAX_PAST, the oldest dropped first. */
	struct proc_maps past;
	size_t maps_gen;      /* snapshots taken: changes whenever maps does */
	char *last_maps_text; /* to tell whether the maps changed */
	/* Files deleted or replaced on disk while mapped: held open through
	 * /proc/PID/map_files so they can still be read after the process is gone. */
	struct held_file {
		char *path; /* as maps shows it, "... (deleted)" */
		int fd;
	} * held;
	size_t held_cnt;
};

#define TARGET_MAX_PAST 1024

/* -ESRCH when the process does not exist, -EACCES/-EPERM when it cannot be read. */
int target__init(struct target *t, int pid);
/* Take a snapshot of /proc/PID/maps if it changed. 0, or -ESRCH once the process is gone (and
 * t->alive is cleared). */
int target__refresh_maps(struct target *t);
/* Whether pid exists and is not a zombie (an exited process its parent has not reaped). */
int target__running(int pid);
/* The mapping containing addr in the newest snapshot that has one, or NULL: O(log n). Valid
 * until the next target__refresh_maps. */
const struct proc_mapping *target__find_mapping(const struct target *t, __u64 addr);
/* Where the mapping's file can be opened from (with rootfs__open()): inside the process's root,
 * /proc/PID/root/..., or the descriptor held for a deleted file. A process in another root or
 * mount namespace is never symbolized from ours: once it is gone, files not parsed or held
 * before are refused, not guessed. One that shared ours keeps being resolved in it
 * (/proc/OURPID/root/...), where the mapping's device and inode still decide. */
void target__file_path(const struct target *t, const char *path, char *buf, size_t len);
void target__release(struct target *t);

#endif
