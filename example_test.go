package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/zeropool/zeropool"
)

// SumParams carries a task's input and where to put its result, like the
// seed's zp_define_task_fn! structs: the task writes *Result itself.
type SumParams struct {
	Iterations uint64
	Result     *uint64
}

func Sum(p *SumParams) {
	var sum uint64
	for i := range p.Iterations {
		sum += i
	}
	*p.Result = sum // zp_write!(params.result, sum)
}

func ExampleNew() {
	pool := zeropool.New(zeropool.WithWorkers(2))
	defer pool.Close()
	fmt.Println("workers:", pool.Workers())
	// Output: workers: 2
}

func ExampleSubmit() {
	pool := zeropool.New()
	defer pool.Close()

	var result uint64
	future := zeropool.Submit(pool, Sum, &SumParams{Iterations: 1000, Result: &result})
	future.Wait()
	fmt.Println("Result:", result)
	// Output: Result: 499500
}

func ExampleSubmitBatchUniform() {
	pool := zeropool.New()
	defer pool.Close()

	results := make([]uint64, 100)
	params := make([]SumParams, len(results))
	for i := range params {
		params[i] = SumParams{Iterations: 1000, Result: &results[i]}
	}
	zeropool.SubmitBatchUniform(pool, Sum, params).Wait()
	fmt.Println("First result:", results[0])
	fmt.Println("Last result:", results[99])
	// Output:
	// First result: 499500
	// Last result: 499500
}

// Each task writes its own slot of a shared slice: zp_write_indexed!.
func ExampleSubmitBatchUniform_indexed() {
	type BatchParams struct {
		Index, WorkSize int
		Results         []uint64
	}
	results := make([]uint64, 4)
	params := make([]BatchParams, len(results))
	for i := range params {
		params[i] = BatchParams{Index: i, WorkSize: 10 * (i + 1), Results: results}
	}
	zeropool.SubmitBatchUniform(zeropool.Global(), func(p *BatchParams) {
		var sum uint64
		for i := range p.WorkSize {
			sum += uint64(i)
		}
		p.Results[p.Index] = sum // zp_write_indexed!(params.results, params.index, sum)
	}, params).Wait()
	fmt.Println(results)
	// Output: [45 190 435 780]
}

func ExampleTaskFuture_WaitTimeout() {
	pool := zeropool.New(zeropool.WithWorkers(1))
	defer pool.Close()

	gate := make(chan struct{})
	var n int
	future := zeropool.Submit(pool, func(p *int) { <-gate; *p = 7 }, &n)
	// WaitTimeout never runs the task itself, so a blocked task shows.
	fmt.Println("done in 10ms:", future.WaitTimeout(10*time.Millisecond))
	close(gate)
	fmt.Println("done in 10s:", future.WaitTimeout(10*time.Second), n)
	// Output:
	// done in 10ms: false
	// done in 10s: true 7
}

func ExampleTaskFuture_Err() {
	pool := zeropool.New()
	defer pool.Close()

	future := zeropool.Submit(pool, func(*int) { panic("bad input") }, new(int))
	func() {
		defer func() { fmt.Println("Wait panicked:", recover().(*zeropool.PanicError).Value) }()
		future.Wait()
	}()
	fmt.Println("Err:", future.Err().(*zeropool.PanicError).Value)
	// Output:
	// Wait panicked: bad input
	// Err: bad input
}

func ExampleSubmitRange() {
	pool := zeropool.New()
	defer pool.Close()

	// A parallel loop: fn gets disjoint chunks [lo, hi) covering [0, n).
	squares := make([]int, 1000)
	zeropool.SubmitRange(pool, len(squares), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	}).Wait()
	fmt.Println("squares[999]:", squares[999])

	// A minimum chunk (rayon's with_min_len): loop over blocks of g
	// indices, so that no chunk is smaller than g (but the last).
	const g = 64
	n := len(squares)
	var small atomic.Int64 // chunks of fewer than g indices, the last aside
	zeropool.SubmitRange(pool, (n+g-1)/g, func(lo, hi int) {
		lo, hi = lo*g, min(hi*g, n)
		for i := lo; i < hi; i++ {
			squares[i] = -squares[i]
		}
		if hi < n && hi-lo < g {
			small.Add(1)
		}
	}).Wait()
	fmt.Println("squares[999]:", squares[999])
	fmt.Println("chunks under g:", small.Load())
	// Output:
	// squares[999]: 998001
	// squares[999]: -998001
	// chunks under g: 0
}

func ExamplePool_Go() {
	pool := zeropool.New()
	defer pool.Close()

	// Closures, as with ants, pond or errgroup; each returns its own future.
	words := []string{"zero", "copy", "pool"}
	lengths := make([]int, len(words))
	futures := make([]*zeropool.TaskFuture, len(words))
	for i, w := range words {
		futures[i] = pool.Go(func() { lengths[i] = len(w) })
	}
	for _, f := range futures {
		f.Wait()
	}
	fmt.Println(lengths)
	// Output: [4 4 4]
}

func ExampleTaskFuture_Cancel() {
	pool := zeropool.New()
	defer pool.Close()

	// Search a range for the first multiple of 7919 above a million; the
	// chunk that finds one cancels the chunks not yet started.
	const n = 1 << 24
	var found atomic.Int64
	found.Store(-1)
	var search *zeropool.TaskFuture
	ready := make(chan struct{})
	search = zeropool.SubmitRange(pool, n, func(lo, hi int) {
		<-ready // search is assigned
		for i := lo; i < hi; i++ {
			if i > 1_000_000 && i%7919 == 0 {
				found.CompareAndSwap(-1, int64(i))
				search.Cancel()
				return
			}
		}
	})
	close(ready)
	err := search.WaitContext(context.Background())
	fmt.Println("canceled:", errors.Is(err, zeropool.ErrCanceled))
	fmt.Println("found a multiple:", found.Load() > 1_000_000 && found.Load()%7919 == 0)
	// Output:
	// canceled: true
	// found a multiple: true
}

func ExampleSubmitBatchErr() {
	pool := zeropool.New()
	defer pool.Close()

	// Parse in parallel and stop at the first bad input: no task starts
	// after one has returned an error, and Wait returns that error.
	type parse struct {
		in  string
		out int
	}
	inputs := []parse{{in: "12"}, {in: "7"}, {in: "x9"}, {in: "40"}}
	err := zeropool.SubmitBatchErr(pool, func(p *parse) error {
		n, err := strconv.Atoi(p.in)
		p.out = n
		return err
	}, inputs).Wait()
	var numErr *strconv.NumError
	fmt.Println("bad input:", errors.As(err, &numErr), numErr.Num)
	// Output: bad input: true x9
}

func ExamplePool_GoErr() {
	pool := zeropool.New()
	defer pool.Close()

	// errgroup's Go, one future per closure.
	errMissing := errors.New("missing")
	f := pool.GoErr(func() error { return fmt.Errorf("config: %w", errMissing) })
	err := f.Wait()
	fmt.Println(err, errors.Is(err, errMissing))
	// Output: config: missing true
}

func ExampleTaskFuture_Cancel_context() {
	pool := zeropool.New()
	defer pool.Close()

	// Give a batch a deadline: when ctx ends, Cancel skips the tasks not
	// yet started, and Wait still waits for those running.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var ran atomic.Int64
	f := zeropool.SubmitBatchErr(pool, func(*struct{}) error {
		ran.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}, make([]struct{}, 1000))
	stop := context.AfterFunc(ctx, f.Cancel)
	defer stop()
	err := f.Wait()
	fmt.Println("canceled:", errors.Is(err, zeropool.ErrCanceled))
	fmt.Println("some skipped:", ran.Load() < 1000)
	// Output:
	// canceled: true
	// some skipped: true
}

func ExamplePool_Stats() {
	pool := zeropool.New(zeropool.WithWorkers(2))
	defer pool.Close()

	_ = zeropool.SubmitBatchErr(pool, func(i *int) error {
		if *i == 3 {
			return errors.New("bad input")
		}
		return nil
	}, []int{0, 1, 2, 3}).Wait()
	zeropool.SubmitRange(pool, 100, func(lo, hi int) {}).Wait()

	// Counts are exact once the futures have completed; a service
	// exports them as they are (see examples/expvar).
	st := pool.Stats()
	fmt.Println("workers:", st.Workers, "failed:", st.Failed)
	fmt.Println("ran or skipped:", st.Ran+st.Skipped)
	// Output:
	// workers: 2 failed: 1
	// ran or skipped: 104
}
