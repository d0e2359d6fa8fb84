// A Go program that stresses what a profiler can break: goroutine stacks that grow and move
// (deep recursion), panics and recovers, many OS threads, and constant allocation. It prints
// a checksum that does not depend on scheduling, so a probed run must print the same.
//
// Usage: gostress [-batches N] [-rate BYTES]
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
)

// Keeps allocations alive; one slot per worker (n in main).
var sinks [32][][]byte

// Deep enough to grow a goroutine's stack from 8 KiB several times over.
//
//go:noinline
func deep(n int, buf []byte) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	if n == 0 {
		return int(pad[0]) + len(buf)
	}
	b := make([]byte, 32+n%200)
	return deep(n-1, b) + int(pad[n%64]) + len(b)
}

//go:noinline
func mayPanic(i int) (r int) {
	defer func() {
		if recover() != nil {
			r = -i
		}
	}()
	if i%7 == 0 {
		panic(fmt.Sprintf("boom %d", i))
	}
	return i
}

func worker(id int, rounds int, lock bool, wg *sync.WaitGroup, out []int) {
	defer wg.Done()
	if lock {
		runtime.LockOSThread() // a goroutine on its own thread
		defer runtime.UnlockOSThread()
	}
	sum := 0
	for r := 0; r < rounds; r++ {
		sum += deep(300+id%50, nil)
		sum += mayPanic(r + id)
		if r%16 == 0 {
			// Each worker its own slot: 32 goroutines appending to one slice header race,
			// and a torn header can crash the program with no profiler in sight.
			sinks[id] = append(sinks[id][:0], make([]byte, 4096))
		}
	}
	out[id] = sum
}

func main() {
	batches := flag.Int("batches", 5, "batches of 32 goroutines")
	rate := flag.Int("rate", 0, "set runtime.MemProfileRate (0: leave it)")
	flag.Parse()
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	runtime.MemProfile(nil, false) // link the heap profiler
	runtime.GOMAXPROCS(8)
	total := 0
	// A fixed amount of work: the checksum must not depend on speed.
	for batch := 0; batch < *batches; batch++ {
		const n = 32
		var wg sync.WaitGroup
		out := make([]int, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go worker(i, 20, i%4 == 0, &wg, out)
		}
		wg.Wait()
		for _, v := range out {
			total += v
		}
	}
	fmt.Println("checksum", total)
}
