// Command validate parses a million "name=value" records in parallel and
// stops at the first bad one, the way errgroup code is written, but with
// one record for the whole loop: SubmitRangeErr calls the parser on chunks
// of the input, and once a chunk has returned an error no other chunk
// starts. Then it gives a second, slow pass a deadline with the
// context.AfterFunc recipe.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zeropool/zeropool"
)

// A lineError says which record failed and why.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line+1, e.err) }
func (e *lineError) Unwrap() error { return e.err }

var errNoEquals = errors.New("no '='")

// parse parses records[lo:hi] into values[lo:hi], stopping at the first
// bad record of the chunk.
func parse(records []string, values []int, lo, hi int) error {
	for i := lo; i < hi; i++ {
		_, v, ok := strings.Cut(records[i], "=")
		if !ok {
			return &lineError{i, errNoEquals}
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return &lineError{i, err}
		}
		values[i] = n
	}
	return nil
}

func main() {
	pool := zeropool.New()
	defer pool.Close()

	const n = 1_000_000
	records := make([]string, n)
	for i := range records {
		records[i] = "k" + strconv.Itoa(i) + "=" + strconv.Itoa(i%1000)
	}
	values := make([]int, n)

	// All good: Wait returns nil and every value is parsed.
	if err := zeropool.SubmitRangeErr(pool, n, func(lo, hi int) error { return parse(records, values, lo, hi) }).Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "unexpected:", err)
		os.Exit(1)
	}
	fmt.Println("clean input: ok, values[999999] =", values[n-1])

	// One bad record near the start: the chunks not yet started never
	// run, and Wait returns the error as the parser made it.
	records[1234] = "k1234=12x"
	var chunks atomic.Int64
	err := zeropool.SubmitRangeErr(pool, n, func(lo, hi int) error {
		chunks.Add(1)
		return parse(records, values, lo, hi)
	}).Wait()
	var le *lineError
	var ne *strconv.NumError
	fmt.Println("bad input:", err)
	fmt.Println("  a *lineError:", errors.As(err, &le), "at line", le.line+1, "| a *strconv.NumError:", errors.As(err, &ne))
	fmt.Println("  chunks started:", chunks.Load(), "(the range would take many more to cover a million records)")

	// A deadline: a slow check of every record, canceled when ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var checked atomic.Int64
	slow := zeropool.SubmitBatchErr(pool, func(r *string) error {
		time.Sleep(100 * time.Microsecond) // a lookup elsewhere
		checked.Add(1)
		return nil
	}, records[:100_000])
	stop := context.AfterFunc(ctx, slow.Cancel)
	defer stop()
	start := time.Now()
	err = slow.Wait()
	fmt.Printf("deadline: %v after %v; %d of %d records checked before it\n",
		err, time.Since(start).Round(10*time.Millisecond), checked.Load(), 100_000)
	if !errors.Is(err, zeropool.ErrCanceled) {
		os.Exit(1)
	}
}
