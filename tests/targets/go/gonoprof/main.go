// A Go program that never links runtime.MemProfile: its runtime sets MemProfileRate to 0 at
// start and samples nothing. It allocates 256 KiB buffers from one function until stdin closes
// or -seconds elapse.
package main

import (
	"flag"
	"fmt"
	"time"
)

var sink [][]byte

//go:noinline
func allocate(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 256<<10)
		sink = append(sink, b)
		if len(sink) > 64 {
			sink = sink[:0]
		}
	}
}

func main() {
	seconds := flag.Float64("seconds", 1, "how long to allocate")
	flag.Parse()
	fmt.Println("ready")
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	total := 0
	for time.Now().Before(deadline) {
		allocate(100)
		total += 100
		time.Sleep(time.Millisecond)
	}
	fmt.Println("allocated", total)
}
