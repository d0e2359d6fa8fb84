// A Go program that calls C through cgo: Go allocations (seen through the runtime's sampler)
// and C mallocs (seen through the malloc family) in one process.
package main

/*
#cgo CFLAGS: -O1 -fno-omit-frame-pointer
#include <stdlib.h>

__attribute__((noinline)) void *c_alloc_block(size_t n)
{
	return malloc(n);
}

__attribute__((noinline)) void c_alloc_many(int n)
{
	for (int i = 0; i < n; i++)
		free(c_alloc_block(4096));
}
*/
import "C"

import (
	"fmt"
	"runtime"
)

var sink []byte

//go:noinline
func goAllocs(n int) {
	for i := 0; i < n; i++ {
		sink = make([]byte, 64<<10)
	}
}

func main() {
	runtime.MemProfile(nil, false) // link the heap profiler: the runtime samples
	goAllocs(2000)
	C.c_alloc_many(10000)
	fmt.Println("done")
}
