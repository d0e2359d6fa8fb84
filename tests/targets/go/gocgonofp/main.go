// A Go program calling C built the way C usually is (-O2, no frame pointers) through cgo, for
// stacks that mix frame-pointer code (Go) and code only CFI can walk (the C, and libc's
// malloc): main.main -> main.cLevels -> (cgo) -> c_outer -> c_middle -> c_leaf -> malloc.
package main

/*
#cgo CFLAGS: -O2 -fomit-frame-pointer
#include <stdlib.h>

__attribute__((noinline)) void *c_leaf(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

__attribute__((noinline)) void *c_middle(size_t n)
{
	void *p = c_leaf(n + 1);

	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

__attribute__((noinline)) void c_outer(int n)
{
	for (int i = 0; i < n; i++)
		free(c_middle(4095));
}
*/
import "C"

import "fmt"

//go:noinline
func cLevels(n int) {
	C.c_outer(C.int(n))
}

func main() {
	cLevels(10000)
	fmt.Println("done")
}
