// SPDX-License-Identifier: MIT
/*
 * In-use that goes up and down on one stack, for the push tests: on each line of stdin, wave_site
 * frees every block of the round before and allocates WAVE_BIG (odd rounds) or WAVE_SMALL (even
 * rounds) blocks of WAVE_SIZE bytes, then prints "ready". So an even round allocates on a stack
 * whose in-use shrinks in the same interval: a push of in-use as a change would be negative
 * there, and Pyroscope would drop the sample with its allocations.
 *
 * Usage: wave   (prints "ready"; each line of stdin runs a round; EOF exits)
 */
#include <stdio.h>
#include <stdlib.h>

#define WAVE_BIG   200
#define WAVE_SMALL 50
#define WAVE_SIZE  1000

static void *held[WAVE_BIG];
static int held_cnt;

__attribute__((noinline)) void wave_site(int cnt)
{
	for (int i = 0; i < held_cnt; i++)
		free(held[i]);
	for (int i = 0; i < cnt; i++) {
		held[i] = malloc(WAVE_SIZE);
		if (!held[i])
			abort();
		__asm__ volatile("" : : "r"(held[i]) : "memory");
	}
	held_cnt = cnt;
}

int main(void)
{
	char line[64];
	int round = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		round++;
		wave_site(round % 2 ? WAVE_BIG : WAVE_SMALL);
		printf("ready\n");
	}
	return 0;
}
