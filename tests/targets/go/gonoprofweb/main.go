// gonoprofweb: a small net/http service as most are written: it never imports runtime/pprof or
// net/http/pprof, so the linker leaves runtime.MemProfile out and the runtime sets
// MemProfileRate to 0 at start: its own sampler records nothing until someone writes the rate.
// Built stripped too (-ldflags='-s -w'), as services are shipped.
//
//	/report  renders a report of n rows into a fresh buffer per row: nearly all the bytes
//	/ok      a health check: next to nothing
//
// Usage: gonoprofweb [-port N]; prints "gonoprofweb: listening on 127.0.0.1:N". It listens on
// loopback only and exits when stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

var keep [][]byte

// handleReport builds n rows of 8 KiB each, keeps the last few, and writes a checksum.
func handleReport(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("rows"))
	if err != nil || n <= 0 || n > 10000 {
		n = 64
	}
	var sum byte
	for i := 0; i < n; i++ {
		row := make([]byte, 8<<10)
		for j := range row {
			row[j] = byte(i + j)
		}
		sum ^= row[i%len(row)]
		if len(keep) < 16 {
			keep = append(keep, row)
		} else {
			keep[i%16] = row
		}
	}
	fmt.Fprintf(w, "%d rows, checksum %02x\n", n, sum)
}

func handleOK(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "ok\n")
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gonoprofweb: ")

	mux := http.NewServeMux()
	mux.HandleFunc("/report", handleReport)
	mux.HandleFunc("/ok", handleOK)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gonoprofweb: listening on %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	log.Fatal(http.Serve(ln, mux))
}
