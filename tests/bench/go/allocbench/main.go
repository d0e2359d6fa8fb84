// SPDX-License-Identifier: MIT

// An allocation-heavy Go program for overhead measurements: a fixed amount of work (-n
// allocations, spread over four patterns of known sizes), timed inside the program. It links
// runtime/pprof, as a service exposing /debug/pprof does, so its runtime samples at the default
// MemProfileRate and allocscope's default Go mode has samples to read.
//
// Prints "allocs N seconds S allocs_per_s R ns_per_alloc X" on one line.
// Usage: allocbench [-n N] [-heap FILE]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

type node struct {
	id   int
	next *node
	pad  [48]byte
}

var (
	sinkNode  *node
	sinkBytes []byte
	sinkStr   string
	sinkIface interface{}
	keep      []*node
)

// 64-byte objects, one in 256 kept until the end.
//
//go:noinline
func newNodes(n int) {
	for i := 0; i < n; i++ {
		p := &node{id: i, next: sinkNode}
		if i%256 == 0 {
			keep = append(keep, p)
		}
		sinkNode = p
	}
}

// 1 KiB buffers.
//
//go:noinline
func makeBuffers(n int) {
	for i := 0; i < n; i++ {
		sinkBytes = make([]byte, 1024)
	}
}

// Short strings built at run time.
//
//go:noinline
func concat(n int, a, b string) {
	for i := 0; i < n; i++ {
		sinkStr = a + b
	}
}

// A 128-byte value boxed in an interface.
//
//go:noinline
func box(n int) {
	for i := 0; i < n; i++ {
		var v [16]int64
		v[0] = int64(i)
		sinkIface = v
	}
}

func main() {
	n := flag.Int("n", 2000000, "allocations to make")
	heap := flag.String("heap", "", "write the runtime's own heap profile here at exit")
	flag.Parse()
	a, b := "allocation-", fmt.Sprint(time.Now().Year())
	const chunk = 10000
	start := time.Now()
	done := 0
	for done < *n {
		k := chunk
		if *n-done < k {
			k = *n - done
		}
		// Shares: nodes 1/2, strings 1/4, boxes 1/8, buffers 1/8.
		newNodes(k / 2)
		concat(k/4, a, b)
		box(k / 8)
		makeBuffers(k - k/2 - k/4 - k/8)
		done += k
	}
	secs := time.Since(start).Seconds()
	runtime.KeepAlive(keep)
	if *heap != "" {
		runtime.GC()
		f, err := os.Create(*heap)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f.Close()
	}
	fmt.Printf("allocs %d seconds %.4f allocs_per_s %.0f ns_per_alloc %.1f\n", done, secs,
		float64(done)/secs, secs*1e9/float64(done))
}
