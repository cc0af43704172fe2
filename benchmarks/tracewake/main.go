// Command tracewake shows, with the execution tracer, when the worker that
// a loop's wake-up readies starts to run: B16's loop (100 indices of about
// 1.2 µs), 20 times, each after the workers have parked.
//
//	go run ./tracewake -mode range -o range.out        # SubmitRange(...).Wait()
//	go tool trace -d=parsed range.out | go run ./tracewake -summarize
//
// Modes: range (SubmitRange then Wait) and for (For). The summary gives,
// for each loop, when its caller readied a worker and when and on which P
// that worker next ran, against the loop's end.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"runtime"
	"runtime/trace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zeropool/zeropool"
)

var sink atomic.Uint64

// body is one index of the loop: about 1.2 µs of LCG steps.
func body(i int) {
	x := uint64(i)
	for range 600 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink.Add(x & 1)
}

func main() {
	mode := flag.String("mode", "range", "range or for")
	out := flag.String("o", "trace.out", "the trace file to write")
	gap := flag.Duration("gap", 2*time.Millisecond, "the pause before each traced loop, in which the workers park; 0 runs the loops back to back, as a benchmark does")
	summarize := flag.Bool("summarize", false, "read `go tool trace -d=parsed` output on stdin and summarize it")
	flag.Parse()
	if *summarize {
		summary()
		return
	}
	p := zeropool.New(zeropool.WithWorkers(runtime.GOMAXPROCS(0)))
	defer p.Close()
	loop := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			body(i)
		}
	}
	run := func() {
		switch *mode {
		case "range":
			zeropool.SubmitRange(p, 100, loop).Wait()
		case "for":
			zeropool.For(p, 100, loop)
		default:
			log.Fatalf("unknown mode %q", *mode)
		}
	}
	for range 200 { // warm up: the loop body's estimate, the heap
		run()
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := trace.Start(f); err != nil {
		log.Fatal(err)
	}
	for r := range 20 {
		if *gap > 0 {
			time.Sleep(*gap) // the workers park
		}
		trace.WithRegion(context.Background(), fmt.Sprintf("loop%d", r), run)
	}
	trace.Stop()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

type event struct {
	p, g int
	kind string
	t    int64
	rest string
}

var (
	eventLine = regexp.MustCompile(`^M=-?\d+ P=(-?\d+) G=(-?\d+) (\w+) Time=(\d+)(.*)`)
	goID      = regexp.MustCompile(`GoID=(\d+)`)
)

// summary reads the parsed trace and prints a line per region of the main
// goroutine (G1).
func summary() {
	var evs []event
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := eventLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p, _ := strconv.Atoi(m[1])
		g, _ := strconv.Atoi(m[2])
		t, _ := strconv.ParseInt(m[4], 10, 64)
		evs = append(evs, event{p, g, m[3], t, m[5]})
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	var begin, woken int64
	wokenG, beginP := -1, -1
	late, loops := 0, 0
	for _, e := range evs {
		switch {
		case e.kind == "RegionBegin" && e.g == 1:
			begin, beginP, wokenG = e.t, e.p, -1
		case e.kind == "StateTransition" && e.g == 1 && begin != 0 && wokenG < 0 && strings.Contains(e.rest, "Waiting->Runnable"):
			wokenG, _ = strconv.Atoi(goID.FindStringSubmatch(e.rest)[1])
			woken = e.t
		case e.kind == "RegionEnd" && e.g == 1 && begin != 0:
			loops++
			if wokenG < 0 {
				fmt.Printf("loop %6.1f µs on P%d: no worker woken\n", us(e.t-begin), beginP)
				begin = 0
				continue
			}
			run := regexp.MustCompile(fmt.Sprintf(`GoID=%d Runnable->Running`, wokenG))
			var ran *event
			for j := range evs {
				if f := &evs[j]; f.t > woken && f.kind == "StateTransition" && run.MatchString(f.rest) {
					ran = f
					break
				}
			}
			when := "before"
			if ran == nil || ran.t > e.t {
				when = "after"
				late++
			}
			if ran == nil {
				fmt.Printf("loop %6.1f µs on P%d: worker G%d readied at +%.1f µs, never ran in the trace\n", us(e.t-begin), beginP, wokenG, us(woken-begin))
			} else {
				fmt.Printf("loop %6.1f µs on P%d: worker G%d readied at +%5.1f µs, running at +%6.1f µs on P%d (%s the loop ended)\n",
					us(e.t-begin), beginP, wokenG, us(woken-begin), us(ran.t-begin), ran.p, when)
			}
			begin = 0
		}
	}
	fmt.Printf("%d loops; in %d the woken worker ran only after the loop ended\n", loops, late)
}

func us(ns int64) float64 { return float64(ns) / 1000 }
