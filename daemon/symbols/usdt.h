/* SPDX-License-Identifier: MIT */
/* USDT probes (SystemTap SDT notes, .note.stapsdt) of an ELF object read with libelf: where each
 * probe's nop is in the file, its semaphore, and where its arguments are (bpf/sampler.h). */
#ifndef ALLOCSCOPE_USDT_H
#define ALLOCSCOPE_USDT_H

#include <stddef.h>
#include <linux/types.h>

#include "bpf/sampler.h"

struct usdt_note {
	char provider[64];
	char name[64];
	__u64 vaddr;	   /* of the probe's nop, adjusted for prelink by .stapsdt.base */
	__u64 file_offset; /* where a uprobe goes */
	__u64 sema_vaddr;  /* 0: no semaphore */
	__u64 sema_offset; /* the semaphore's file offset (the kernel's ref_ctr_offset) */
	char args[192];	   /* the note's argument string, e.g. "8@%rdi -8@%rsi" */
};

/*
 * Parse one note's descriptor (type 3, owner "stapsdt"): pc, base and semaphore addresses, then
 * provider, name and arguments as strings. base_addr is the .stapsdt.base section's address
 * (0 when absent). 0 or -EINVAL.
 */
int usdt__parse_note(const void *desc, size_t len, __u64 base_addr, struct usdt_note *out);

/*
 * Parse an x86-64 argument string ("-4@%edi 8@$16 8@-24(%rbp)") into spec; arguments past
 * USDT_MAX_ARGS are ignored. 0, or -EINVAL on a form allocscope cannot read.
 */
int usdt__parse_args(const char *args, struct usdt_spec *spec);

/*
 * The notes of provider (NULL: all) in the ELF file at path (opened from here), with file
 * offsets. *out is malloc'ed (NULL when none). The number of notes, or -errno.
 */
int usdt__read_file(const char *path, const char *provider, struct usdt_note **out);

#endif
