// Allocation patterns whose causes are known, each in its own function, for allocscope's Go
// tests. It links runtime/pprof, so its runtime samples at MemProfileRate, and it writes its own
// heap profile at exit so the tests compare allocscope's profile with the runtime's.
//
// Usage: goalloc [-rounds N] [-heap FILE]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

type record struct {
	id    int
	name  string
	data  [200]byte
	other *record
}

var (
	keep    []*record
	keepBuf [][]byte
	sink    interface{}
	sinkStr string
	sinkMap map[int]string
	sinkFn  func() int
	// Slices are stored here, not through sink: &b would move b's header to the heap too.
	sinkBytes []byte
	sinkInts  []int64
)

// A value whose address escapes: new-object.
//
//go:noinline
func newRecords(n int) {
	for i := 0; i < n; i++ {
		r := &record{id: i}
		if i%64 == 0 {
			keep = append(keep, r)
		}
		sink = r
	}
}

// make with a size known only at run time: make-slice.
//
//go:noinline
func makeBuffers(n, size int) {
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		if i%64 == 0 {
			keepBuf = append(keepBuf, b)
		}
		sinkBytes = b
	}
}

// append past capacity: slice-growth.
//
//go:noinline
func growSlices(n int) {
	for i := 0; i < n; i++ {
		var s []int64
		for j := 0; j < 300; j++ {
			s = append(s, int64(j))
		}
		sinkInts = s
	}
}

// A non-pointer value stored in an interface: interface-boxing.
//
//go:noinline
func boxValues(n int) {
	for i := 0; i < n; i++ {
		var v [64]int64
		v[0] = int64(i)
		sink = v
	}
}

// Strings joined at run time: string-concat.
//
//go:noinline
func concatStrings(n int, a, b string) {
	for i := 0; i < n; i++ {
		sinkStr = a + b + a
	}
}

// A string copied into a byte slice: string-bytes-conversion.
//
//go:noinline
func stringToBytes(n int, s string) {
	for i := 0; i < n; i++ {
		sinkBytes = []byte(s)
	}
}

// Maps grown by inserts: map-growth.
//
//go:noinline
func growMaps(n int) {
	for i := 0; i < n; i++ {
		m := make(map[int]string)
		for j := 0; j < 64; j++ {
			m[j] = "v"
		}
		sinkMap = m
	}
}

// A closure capturing a local: the local moves to the heap.
//
//go:noinline
func makeClosures(n int) {
	for i := 0; i < n; i++ {
		counter := [32]int{i}
		sinkFn = func() int { counter[0]++; return counter[0] }
	}
}

func main() {
	rounds := flag.Int("rounds", 1, "repeat the patterns")
	heap := flag.String("heap", "", "write the runtime's own heap profile here at exit")
	flag.Parse()
	long := strconv.Itoa(1 << 40)
	for r := 0; r < *rounds; r++ {
		newRecords(40000)
		makeBuffers(4000, 2048)
		growSlices(2000)
		boxValues(20000)
		concatStrings(40000, "allocation-"+long, "profile-"+long)
		stringToBytes(40000, "a string that is copied into a byte slice every time "+long)
		growMaps(1500)
		makeClosures(20000)
	}
	// The heap profile is as of the last completed GC, and a sample reaches it only two cycles
	// after it was taken (mprof.go: future[(cycle+2)%3], flushed when the cycle gets there):
	// three GCs publish every sample, so the profile holds all of them, whatever the pacer did.
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	if *heap != "" {
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
	fmt.Println(len(keep), len(keepBuf))
}
