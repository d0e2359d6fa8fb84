/* SPDX-License-Identifier: MIT */
/* Call stacks as the daemon keeps them: reference-counted, their frames interned in one
 * process-wide table so that a frame shared by many stacks is stored once and each stack holds
 * 4-byte frame indices instead of 8-byte addresses. */
#ifndef ALLOCSCOPE_STACK_H
#define ALLOCSCOPE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* The last frame of a stack that could not be unwound to the thread's first frame. */
#define STACK_IP_TRUNCATED ((__u64)-2)

struct stack {
	__u32 refs;
	__u32 nr;
	__u32 frames[]; /* leaf first; indices into the frame table (stack__ip) */
};

/* A stack of nr addresses, leaf first, with one reference; NULL and errno on failure. */
struct stack *stack__new(const __u64 *ips, __u32 nr);
struct stack *stack__get(struct stack *s); /* accepts NULL */
void stack__put(struct stack *s);	   /* accepts NULL */
/* Address of frame i (< s->nr). */
__u64 stack__ip(const struct stack *s, __u32 i);
/* All nr addresses of s into out, leaf first. */
void stack__ips(const struct stack *s, __u64 *out);
/* Whether s is the stack ips[0..nr). */
bool stack__equal(const struct stack *s, const __u64 *ips, __u32 nr);
/* Distinct frames interned so far (they are never released: a program has finitely many). */
size_t stack__frame_count(void);

#endif
