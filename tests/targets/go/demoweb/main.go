// demoweb: the small web service of `make demo`. Each handler is written the way real services
// often are, and each allocates for a different reason, so allocscope's profile names the
// handler and its cause label says why:
//
//	/box      readings kept in an any-typed ring: interface-boxing
//	/grow     results appended one by one past capacity: slice-growth
//	/closure  a pipeline of closures over per-stage locals: new-object
//	/bytes    a request string copied into []byte per filter: string-bytes-conversion
//	/ok       a health check: next to nothing
//
// It links runtime/pprof (the -heap flag, heap.go), so its runtime samples at MemProfileRate:
// that is what allocscope's Go mode hooks. Built with -tags noprof (demoweb-noprof) it does not
// (heap_noprof.go), as most services do not: its runtime then samples nothing until allocscope
// is asked to set the rate (--go-set-rate). It listens on loopback only.
//
// Usage: demoweb [-port N] [-heap FILE]; prints "demoweb: listening on 127.0.0.1:N".
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// reading is one sensor value as the /box handler receives it.
type reading struct {
	sensor  int64
	at      int64
	celsius float64
	samples [5]float64
}

// recent keeps the last values any handler reported, for debugging. It is any-typed because it
// also holds strings and errors, so every reading stored in it is boxed: copied to the heap.
var recent struct {
	sync.Mutex
	items [4096]interface{}
	next  int
}

func remember(v interface{}) {
	recent.Lock()
	recent.items[recent.next%len(recent.items)] = v
	recent.next++
	recent.Unlock()
}

func intParam(q url.Values, name string, def, max int) int {
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n <= 0 {
		return def
	}
	if n > max {
		return max
	}
	return n
}

// handleBox ingests n readings and remembers each one.
func handleBox(w http.ResponseWriter, r *http.Request) {
	n := intParam(r.URL.Query(), "n", 1000, 10000)
	base := time.Now().UnixNano()
	var sum float64
	for i := 0; i < n; i++ {
		rd := reading{sensor: int64(i % 97), at: base + int64(i), celsius: 20 + float64(i%13)}
		for j := range rd.samples {
			rd.samples[j] = rd.celsius + float64(j)/10
		}
		sum += rd.celsius
		remember(rd)
	}
	fmt.Fprintf(w, "stored %d readings, mean %.2f\n", n, sum/float64(n))
}

// match is one search hit.
type match struct {
	id    int64
	score float64
	shard int32
	flags uint32
}

// handleGrow searches a synthetic catalogue and collects the hits without knowing their
// number in advance: each append past capacity copies the slice into a larger one.
func handleGrow(w http.ResponseWriter, r *http.Request) {
	n := intParam(r.URL.Query(), "n", 1500, 100000)
	var hits []match
	for id := int64(0); id < int64(n)*2; id++ {
		if id%2 == 0 {
			hits = append(hits, match{id: id, score: float64(id%1000) / 1000, shard: int32(id % 8)})
		}
	}
	var best match
	for _, h := range hits {
		if h.score > best.score {
			best = h
		}
	}
	fmt.Fprintf(w, "%d hits, best %d (%.3f)\n", len(hits), best.id, best.score)
}

// stageStats is what each pipeline stage counts as it runs.
type stageStats struct {
	name    string
	seen    int
	dropped int
	hist    [32]int
}

// handleClosure builds a pipeline of stages, each a closure that updates its own stats local:
// the closures outlive the loop iteration that made them, so every captured stats moves to the
// heap (the runtime's newobject, cause new-object).
func handleClosure(w http.ResponseWriter, r *http.Request) {
	stages := intParam(r.URL.Query(), "stages", 200, 5000)
	pipeline := make([]func(int) bool, 0, stages)
	for s := 0; s < stages; s++ {
		stats := stageStats{name: "stage"}
		limit := 1000 - s
		pipeline = append(pipeline, func(v int) bool {
			stats.seen++
			stats.hist[v%len(stats.hist)]++
			if v > limit {
				stats.dropped++
				return false
			}
			return true
		})
	}
	passed := 0
	for v := 0; v < 100; v++ {
		ok := true
		for _, stage := range pipeline {
			ok = stage(v*7) && ok
		}
		if ok {
			passed++
		}
	}
	fmt.Fprintf(w, "%d stages, %d of 100 values passed\n", stages, passed)
}

// filters rewrite a byte slice in place.
var filters = []func([]byte){
	func(b []byte) { // upper case
		for i, c := range b {
			if c >= 'a' && c <= 'z' {
				b[i] = c - 'a' + 'A'
			}
		}
	},
	func(b []byte) { // reverse
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	},
	func(b []byte) { // rot13
		for i, c := range b {
			switch {
			case c >= 'a' && c <= 'z':
				b[i] = 'a' + (c-'a'+13)%26
			case c >= 'A' && c <= 'Z':
				b[i] = 'A' + (c-'A'+13)%26
			}
		}
	},
	func(b []byte) { // spaces to underscores
		for i, c := range b {
			if c == ' ' {
				b[i] = '_'
			}
		}
	},
}

// handleBytes runs the request's text through each filter, rounds times: every filter gets a
// fresh copy of the string as a []byte.
func handleBytes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	text := q.Get("text")
	rounds := intParam(q, "rounds", 8, 100)
	var sum uint32
	for i := 0; i < rounds; i++ {
		for _, f := range filters {
			buf := []byte(text)
			f(buf)
			sum ^= crc32.ChecksumIEEE(buf)
		}
	}
	fmt.Fprintf(w, "%d bytes, checksum %08x\n", len(text), sum)
}

var okBody = []byte("ok\n")

// handleOK is a health check: it writes a constant.
func handleOK(w http.ResponseWriter, r *http.Request) {
	w.Write(okBody)
}

func main() {
	port := flag.Int("port", 8086, "TCP port on 127.0.0.1 (0: any free port)")
	heap := flag.String("heap", "", "write the runtime's own heap profile here at exit")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("demoweb: ")

	mux := http.NewServeMux()
	mux.HandleFunc("/box", handleBox)
	mux.HandleFunc("/grow", handleGrow)
	mux.HandleFunc("/closure", handleClosure)
	mux.HandleFunc("/bytes", handleBytes)
	mux.HandleFunc("/ok", handleOK)

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("demoweb: listening on %s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	if *heap != "" {
		if err := writeHeapProfile(*heap); err != nil {
			log.Fatal(err)
		}
	}
}
