//go:build noprof

package main

import "errors"

// writeHeapProfile: this build links no runtime/pprof, so that its runtime samples nothing,
// as in most services.
func writeHeapProfile(path string) error {
	return errors.New("-heap needs a build without -tags noprof (runtime/pprof)")
}
