// SPDX-License-Identifier: MIT
/* Helper threads with every signal blocked (see thread.h). */
#include <signal.h>

#include "util/thread.h"

int thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	/* The new thread inherits the creator's mask: block everything around the create. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}
