/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer targets: the module under test logs at the debug level (so every
 * format string runs; run with -close_fd_mask=2 to keep the output quiet), and parsers that
 * take a path get the input through one temporary file per fuzzer process. */
#ifndef ALLOCSCOPE_FUZZ_H
#define ALLOCSCOPE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Aborts with a message: a broken promise of the API is a finding, like a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));
/* Verbose logging, no debuginfod; call once from LLVMFuzzerInitialize. */
void fuzz_init(void);
/* Writes data to this process's temporary file (in $TMPDIR, else /dev/shm, else /tmp) and
 * returns its path; the file is removed at exit. Aborts when the file cannot be written. */
const char *fuzz_write_tmp(const uint8_t *data, size_t size);
/* data as a NUL-terminated string in its own allocation, so that ASan sees reads past it;
 * NULL when data holds a NUL byte (the C APIs under test take C strings). Caller frees. */
char *fuzz_strdup(const uint8_t *data, size_t size);

#endif
