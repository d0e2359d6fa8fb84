//go:build !noprof

package main

import (
	"os"
	"runtime/pprof"
)

// writeHeapProfile writes the runtime's own heap profile to path. Linking runtime/pprof links
// runtime.MemProfile, which keeps the runtime's sampler on (MemProfileRate 512 KiB).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
