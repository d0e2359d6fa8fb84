// SPDX-License-Identifier: MIT

// A small HTTP service for overhead measurements under a load generator: GET / builds a JSON
// document of 32 records (about 4 KiB, a few dozen allocations per request) and returns it. It
// imports net/http/pprof, as production services commonly do, so its runtime samples at the
// default MemProfileRate. It listens on loopback only, prints "listening on ADDR" once ready, and
// exits when -seconds elapse (a bound, in case the script that started it dies) or on SIGTERM.
//
// Usage: httpsvc [-addr 127.0.0.1:0] [-seconds N]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

type item struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

func handle(w http.ResponseWriter, r *http.Request) {
	items := make([]item, 32)
	for i := range items {
		items[i] = item{
			ID:    i,
			Name:  "item-" + strconv.Itoa(i),
			Tags:  []string{"a", "b", strconv.Itoa(i * 7)},
			Attrs: map[string]string{"path": r.URL.Path, "n": strconv.Itoa(i)},
		}
	}
	body, err := json.Marshal(items)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	seconds := flag.Float64("seconds", 600, "exit after this long")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "httpsvc: -addr must be a loopback address")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.HandleFunc("/", handle)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-sig:
		case <-time.After(time.Duration(*seconds * float64(time.Second))):
		}
		os.Exit(0)
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
