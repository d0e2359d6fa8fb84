// Allocation in known phases for the heap-delta timeline test: quiet, burst (256 MiB kept
// live), forced GCs, release (dropped and collected), quiet again. It calls runtime.MemProfile
// so that its runtime samples.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

var live [][]byte

//go:noinline
func burst() {
	for i := 0; i < 1024; i++ {
		live = append(live, make([]byte, 256<<10))
	}
}

func main() {
	// Link runtime.MemProfile, so the runtime keeps MemProfileRate at its default.
	runtime.MemProfile(nil, false)
	fmt.Println("quiet")
	time.Sleep(300 * time.Millisecond)
	fmt.Println("burst")
	burst()
	runtime.GC()
	runtime.GC()
	time.Sleep(300 * time.Millisecond)
	fmt.Println("release")
	live = nil
	runtime.GC()
	runtime.GC()
	time.Sleep(300 * time.Millisecond)
	// The runtime's own count of completed GC cycles, for the timeline test to compare with.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintln(os.Stderr, "numgc", ms.NumGC)
	fmt.Fprintln(os.Stderr, "done")
}
