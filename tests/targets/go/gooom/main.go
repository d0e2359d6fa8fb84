// Leaks from one known function until the kernel OOM-kills it, for the snapshot tests: run in a
// memory cgroup with a limit. Prints "ready" and waits for a line on stdin (so that allocscoped
// has attached), then leakSite allocates and touches 1 MiB blocks and keeps them all.
//
// Usage: gooom
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
)

const blockBytes = 1 << 20

var keep [][]byte

//go:noinline
func leakSite() {
	b := make([]byte, blockBytes)
	// Touched: charged to the cgroup, as a real leak's pages are.
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0x5a
	}
	keep = append(keep, b)
}

func main() {
	// Nothing here links runtime.MemProfile, so the runtime would not sample: ask it to, at a
	// rate far below the blocks (each is sampled).
	runtime.MemProfileRate = 64 * 1024
	// Room for every block up front: a slice growth inside leakSite would be an allocation of
	// another size there (sampled now and then), and its bytes are asserted to be whole blocks.
	keep = make([][]byte, 0, 4096)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(1)
	}
	for {
		leakSite()
	}
}
