/* SPDX-License-Identifier: MIT */
/* Separate debug files for libdwfl: build-ID files from our own debug root, and .gnu_debuglink
 * files next to a target's file opened inside the target's root (rootfs), never with a plain
 * open() that a tenant's links or FIFOs could steer. */
#ifndef ALLOCSCOPE_DEBUGFILE_H
#define ALLOCSCOPE_DEBUGFILE_H

#include <elfutils/libdwfl.h>

/* A Dwfl_Callbacks.find_debuginfo. Its debuginfo_path must hold absolute directories only (the
 * debug root): relative entries would make libdwfl open paths next to the file itself. */
int debugfile__find(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
		    const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		    char **debuginfo_file_name);

#endif
