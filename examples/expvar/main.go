// Command expvar shows how a service exports a pool's Stats with the
// standard library's expvar: the snapshot is published as one JSON
// variable, read at each scrape of /debug/vars, and costs the pool's hot
// path nothing. It runs some work, prints what a scrape would return, and
// exits; with -serve it also listens on localhost:8123 until stopped.
package main

import (
	"errors"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/zeropool/zeropool"
)

func main() {
	serve := flag.Bool("serve", false, "serve /debug/vars on localhost:8123 after the demo")
	flag.Parse()

	pool := zeropool.New()
	defer pool.Close()
	// The pool's Stats, read at each scrape.
	expvar.Publish("zeropool", expvar.Func(func() any { return pool.Stats() }))

	// Some work: a range, singles, and a batch that stops at a bad record.
	out := make([]int, 100_000)
	zeropool.SubmitRange(pool, len(out), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = i * i
		}
	}).Wait()
	for i := range 1000 {
		zeropool.Submit(pool, func(p *int) { *p++ }, &out[i]).Wait()
	}
	errBad := errors.New("bad record")
	err := zeropool.SubmitBatchErr(pool, func(p *int) error {
		if *p > 250_000 { // from record 500 on
			return errBad
		}
		return nil
	}, out[:10_000]).Wait()
	fmt.Println("batch:", err)

	// What a scrape of /debug/vars would show for the pool.
	fmt.Println("zeropool =", expvar.Get("zeropool").String())

	if *serve {
		log.Printf("serving http://localhost:8123/debug/vars")
		srv := &http.Server{Addr: "localhost:8123", ReadHeaderTimeout: 5 * time.Second}
		log.Fatal(srv.ListenAndServe())
	}
}
