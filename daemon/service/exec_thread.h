/* SPDX-License-Identifier: MIT */
/* The exec thread: it alone reads the exec/fork ring, and puts a matched process's malloc probes
 * in place without the global lock (plans cached per file), so that no drain, request or
 * teardown delays them; the target's bookkeeping follows under the lock. */
#ifndef ALLOCSCOPE_EXEC_THREAD_H
#define ALLOCSCOPE_EXEC_THREAD_H

struct scoped;

/* Start it (the signals the main loop waits for must be blocked already). 0 or -errno. */
int exec_thread__start(struct scoped *d);
/* Stop and join it, without the lock held; nothing when it did not start. */
void exec_thread__stop(struct scoped *d);

#endif
