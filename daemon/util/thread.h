/* SPDX-License-Identifier: MIT */
/* Helper threads that never take a signal: the commands and the daemon read SIGINT, SIGTERM,
 * SIGHUP and SIGCHLD from a signalfd on the main thread, which works only while no other thread
 * leaves them unblocked (a process-directed signal goes to any thread that does, and is lost
 * there: ignored, as a background job's SIGINT is, or killing the process). */
#ifndef ALLOCSCOPE_THREAD_H
#define ALLOCSCOPE_THREAD_H

#include <pthread.h>

/* pthread_create() with every signal blocked in the new thread. 0 or a positive error number,
 * as pthread_create() returns. */
int thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

#endif
