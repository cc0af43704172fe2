package zeropool_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// Failures inside failures: a panic handler that ends its goroutine, a
// panic(nil) that recovers as nil, and the counts after a Goexit.

// goexitHandler is a panic handler that ends its goroutine, as t.Fatal in
// a handler does, counting the calls.
func goexitHandler(calls *atomic.Int64) zeropool.Option {
	return zeropool.WithPanicHandler(func(*zeropool.PanicError) {
		calls.Add(1)
		runtime.Goexit()
	})
}

// runTally counts runs per index and reports every index not run exactly once.
type runTally []atomic.Int32

func (ty runTally) check(t *testing.T, what string) {
	t.Helper()
	for i := range ty {
		if n := ty[i].Load(); n != 1 {
			t.Errorf("%s: task %d ran %d times; want 1", what, i, n)
		}
	}
}

// total is how many runs the tally counted, over every index.
func (ty runTally) total() int {
	n := 0
	for i := range ty {
		n += int(ty[i].Load())
	}
	return n
}

// failAt makes task i of a batch panic, panic(nil) or call Goexit.
func failAt(i int) {
	switch i % 3 {
	case 0:
		panic("boom")
	case 1:
		panic(nil)
	default:
		runtime.Goexit()
	}
}

func TestHandlerGoexit(t *testing.T) {
	var calls atomic.Int64
	p := newPool(t, zeropool.WithWorkers(1), goexitHandler(&calls))

	// Singles: each failure costs the only worker its goroutine, and the
	// next task must still run.
	for i, fail := range []func(){func() { panic("boom") }, func() { runtime.Goexit() }} {
		f := p.Go(fail)
		var pe *zeropool.PanicError
		if err := f.WaitContext(boundCtx(t)); !errors.As(err, &pe) {
			t.Fatalf("single %d: WaitContext = %v; want a *PanicError", i, err)
		}
		mustComplete(t, p.Go(func() {}))
	}

	// A batch run by the worker (WaitContext runs nothing): every task,
	// failing or not, runs exactly once.
	ty := make(runTally, 64)
	idx := indices(64)
	g := zeropool.SubmitBatchUniform(p, func(i *int) {
		ty[*i].Add(1)
		if *i%16 == 5 {
			failAt(*i / 16)
		}
	}, idx)
	if err := g.WaitContext(boundCtx(t)); err == nil {
		t.Fatal("WaitContext = nil; want the first failure")
	}
	ty.check(t, "failing batch on the worker")
	if got := calls.Load(); got != 2+4 {
		t.Errorf("handler called %d times; want 6", got)
	}

	// The same batch run by a waiter, who ends at the handler's first
	// Goexit; a new goroutine finishes its chunk.
	ty = make(runTally, 64)
	release := blockWorkers(t, p)
	g = zeropool.SubmitBatchUniform(p, func(i *int) {
		ty[*i].Add(1)
		if *i%16 == 5 {
			failAt(*i / 16)
		}
	}, idx)
	ended := make(chan struct{})
	go func() { defer close(ended); g.Wait() }()
	select {
	case <-ended:
	case <-time.After(bound):
		lost(t, "the waiter neither returned nor ended")
	}
	release() // the worker runs what the waiter left
	if err := g.WaitContext(boundCtx(t)); err == nil {
		t.Fatal("WaitContext = nil; want the first failure")
	}
	ty.check(t, "failing batch in a waiter")

	// The worker is still there, and Close waits for what it accepted.
	last := p.Go(func() { time.Sleep(time.Millisecond) })
	closeBounded(t, p)
	if !last.IsComplete() {
		t.Fatal("Close returned before an accepted task completed")
	}
}

// TestPanicNil runs nil panics with GODEBUG=panicnil=1, where recover
// returns nil for them as it does for runtime.Goexit, and without it.
func TestPanicNil(t *testing.T) {
	for _, godebug := range []string{"panicnil=1", "panicnil=0"} {
		t.Run(godebug, func(t *testing.T) {
			t.Setenv("GODEBUG", godebug)
			if v := recoverOf(func() { panic(nil) }); (v == nil) != (godebug == "panicnil=1") {
				t.Fatalf("recover of panic(nil) = %v: GODEBUG=%s not in effect", v, godebug)
			}
			p := newPool(t, zeropool.WithWorkers(2))

			var pe *zeropool.PanicError
			single := p.Go(func() { panic(nil) })
			if v := waitBounded(t, single); !errors.As(asError(v), &pe) || errors.Is(pe, zeropool.ErrGoexit) {
				t.Fatalf("Wait panicked with %v; want a *PanicError of a panic, not a Goexit", v)
			}

			for _, c := range []struct{ n, every int }{{8, 1 << 30}, {64, 16}} {
				ty := make(runTally, c.n)
				f := zeropool.SubmitBatchUniform(p, func(i *int) {
					ty[*i].Add(1)
					if *i == 3 || *i%c.every == c.every-1 {
						panic(nil)
					}
				}, indices(c.n))
				v := waitBounded(t, f)
				if !errors.As(asError(v), &pe) || errors.Is(pe, zeropool.ErrGoexit) {
					t.Fatalf("batch of %d: Wait panicked with %v; want a *PanicError of a panic", c.n, v)
				}
				ty.check(t, "batch with nil panics")
			}
			// The loops that wait, inline and handed out.
			for _, n := range []int{8, 1 << 16} {
				v := recoverOf(func() {
					zeropool.For(p, n, func(lo, hi int) {
						if lo == 0 {
							panic(nil)
						}
					})
				})
				if !errors.As(asError(v), &pe) || errors.Is(pe, zeropool.ErrGoexit) {
					t.Fatalf("For over %d panicked with %v; want a *PanicError of a panic, not a Goexit", n, v)
				}
				ty := make(runTally, n)
				v = recoverOf(func() {
					zeropool.ForEach(p, indices(n), func(i *int) {
						ty[*i].Add(1)
						if *i%1000 == 3 {
							panic(nil)
						}
					})
				})
				if !errors.As(asError(v), &pe) || errors.Is(pe, zeropool.ErrGoexit) {
					t.Fatalf("ForEach over %d panicked with %v; want a *PanicError of a panic", n, v)
				}
				ty.check(t, "ForEach with nil panics")
			}
			mustComplete(t, p.Go(func() {}))
		})
	}
}

func recoverOf(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return "returned"
}

func asError(v any) error {
	err, _ := v.(error)
	return err
}

// TestStatsRanAfterGoexit: Ran is exact once the pool is idle, when a
// task called Goexit in a worker's chunk and in a waiter's.
func TestStatsRanAfterGoexit(t *testing.T) {
	t.Run("worker", func(t *testing.T) {
		p := newPool(t, zeropool.WithWorkers(1))
		f := zeropool.SubmitBatchUniform(p, func(i *int) {
			if *i == 500 {
				runtime.Goexit()
			}
		}, indices(1000))
		if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrGoexit) {
			t.Fatalf("WaitContext = %v; want ErrGoexit", err)
		}
		waitIdle(t, p)
		if st := p.Stats(); st.Ran != 1000 || st.Panicked != 1 {
			t.Fatalf("Stats = %+v; want Ran 1000, Panicked 1", st)
		}
	})
	t.Run("waiter", func(t *testing.T) {
		p := newPool(t, zeropool.WithWorkers(1))
		release := blockWorkers(t, p)
		f := zeropool.SubmitBatchUniform(p, func(i *int) {
			if *i == 50 {
				runtime.Goexit()
			}
		}, indices(101))
		ended := make(chan struct{})
		go func() { defer close(ended); f.Wait() }()
		select {
		case <-ended:
		case <-time.After(bound):
			lost(t, "the waiter neither returned nor ended")
		}
		release() // the worker runs what the waiter left
		if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrGoexit) {
			t.Fatalf("WaitContext = %v; want ErrGoexit", err)
		}
		waitIdle(t, p)
		// The blocking task counts as one more.
		if st := p.Stats(); st.Ran != 101+1 || st.Panicked != 1 {
			t.Fatalf("Stats = %+v; want Ran 102, Panicked 1", st)
		}
	})
	t.Run("waiter single", func(t *testing.T) {
		p := newPool(t, zeropool.WithWorkers(1))
		release := blockWorkers(t, p)
		f := p.Go(func() { runtime.Goexit() })
		ended := make(chan struct{})
		go func() { defer close(ended); f.Wait() }()
		select {
		case <-ended:
		case <-time.After(bound):
			lost(t, "the waiter neither returned nor ended")
		}
		release()
		if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrGoexit) {
			t.Fatalf("WaitContext = %v; want ErrGoexit", err)
		}
		waitIdle(t, p)
		if st := p.Stats(); st.Ran != 1+1 || st.Panicked != 1 {
			t.Fatalf("Stats = %+v; want Ran 2, Panicked 1", st)
		}
	})
}

// TestStatsNeverAhead: a waiter's single counts in Ran once it has run,
// not while it runs.
func TestStatsNeverAhead(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	gate, started := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(gate) })
	f := p.Go(func() { close(started); <-gate })
	go f.Wait() // claims f and runs it here, as the worker is held
	select {
	case <-started:
	case <-time.After(bound):
		lost(t, "the waiter did not start its task")
	}
	if st := p.Stats(); st.Ran != 0 {
		t.Fatalf("Stats.Ran = %d while the only tasks are still running; want 0", st.Ran)
	}
	release()
}

// TestStatsNeverAheadWhenPassed: a worker that moves the queue past a
// single its waiter is still running leaves the count to the waiter.
func TestStatsNeverAheadWhenPassed(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	gate, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	f := p.Go(func() { close(started); <-gate })
	waited := make(chan struct{})
	go func() { defer close(waited); f.Wait() }()
	select {
	case <-started:
	case <-time.After(bound):
		lost(t, "the waiter did not start its task")
	}
	release() // the worker finishes its blocker, passes f, and sleeps
	waitIdle(t, p)
	if st := p.Stats(); st.Ran != 1 {
		t.Fatalf("Stats.Ran = %d with the waiter's task still running; want 1 (the blocker)", st.Ran)
	}
	open()
	select {
	case <-waited:
	case <-time.After(bound):
		lost(t, "the waiter did not return")
	}
	if st := p.Stats(); st.Ran != 2 {
		t.Fatalf("Stats.Ran = %d once idle; want 2", st.Ran)
	}
}
