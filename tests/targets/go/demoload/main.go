// demoload: the load loop of `make demo`. It sends demoweb a fixed mix of requests for a
// bounded time and count, at a bounded rate, and only ever to a loopback address.
//
// Usage: demoload -addr 127.0.0.1:PORT [-duration 20s] [-rate 400] [-max-requests N]
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// The mix, in the order it is sent: every path once per round, /ok and /box more often.
var mix = []string{"/box", "/grow", "/ok", "/closure", "/bytes", "/ok", "/box", "/grow", "/bytes",
	"/ok"}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "demoload: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8086", "demoweb's address (loopback only)")
	duration := flag.Duration("duration", 20*time.Second, "how long to send requests (at most 1h)")
	rate := flag.Int("rate", 400, "requests per second, at most")
	maxReq := flag.Int("max-requests", 1000000, "stop after this many requests")
	workers := flag.Int("workers", 4, "concurrent connections")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fail("bad -addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fail("-addr must be a loopback address, not %q", host)
	}
	if *duration <= 0 || *duration > time.Hour || *rate <= 0 || *maxReq <= 0 || *workers <= 0 ||
		*workers > 64 {
		fail("-duration must be in (0, 1h], -workers in [1, 64], -rate and -max-requests > 0")
	}

	// A request body the size of a small JSON document, for /bytes.
	text := url.QueryEscape(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 48))
	base := "http://" + *addr
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *workers, Proxy: nil},
	}

	// One token per request, at the rate asked for, until the time or the count runs out.
	tokens := make(chan int)
	go func() {
		tick := time.NewTicker(time.Second / time.Duration(*rate))
		defer tick.Stop()
		deadline := time.After(*duration)
		for i := 0; i < *maxReq; i++ {
			select {
			case <-deadline:
				close(tokens)
				return
			case <-tick.C:
				tokens <- i
			}
		}
		close(tokens)
	}()

	var mu sync.Mutex
	sent := map[string]int{}
	failed := map[string]int{}
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tokens {
				path := mix[i%len(mix)]
				u := base + path
				if path == "/bytes" {
					u += "?text=" + text
				}
				resp, err := client.Get(u)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", path, resp.Status)
					}
				}
				mu.Lock()
				sent[path]++
				if err != nil {
					failed[path]++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	paths := make([]string, 0, len(sent))
	total, bad := 0, 0
	for p, n := range sent {
		paths = append(paths, p)
		total += n
		bad += failed[p]
	}
	sort.Strings(paths)
	fmt.Printf("demoload: %d requests in %.1f s (%.0f/s), %d failed:", total,
		elapsed.Seconds(), float64(total)/elapsed.Seconds(), bad)
	for _, p := range paths {
		fmt.Printf(" %s %d", p, sent[p])
	}
	fmt.Println()
	if firstErr != nil {
		fail("first error: %v", firstErr)
	}
	if total == 0 {
		fail("no request was sent")
	}
}
