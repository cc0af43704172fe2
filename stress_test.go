package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// tally is a task's params: it counts its own runs.
type tally struct{ runs atomic.Int32 }

func count(t *tally) { t.runs.Add(1) }

func checkOnce(t testing.TB, what string, ts []tally) {
	t.Helper()
	for i := range ts {
		if n := ts[i].runs.Load(); n != 1 {
			t.Fatalf("%s: task %d ran %d times; want exactly once", what, i, n)
		}
	}
}

// TestExactlyOnceStress is modelled on testPoolDequeue in sync/pool_test.go:
// many goroutines submit singles and batches of mixed sizes at once, each
// task counts its runs, and every task must have run exactly once.
func TestExactlyOnceStress(t *testing.T) {
	submitters, rounds := 8, 300
	if testing.Short() {
		submitters, rounds = 4, 40
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(workers))
			var wg sync.WaitGroup
			errs := make(chan error, submitters)
			for g := range submitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					for r := range rounds {
						var n int
						switch rng.IntN(4) {
						case 0:
							n = 0
						case 1:
							n = 1 + rng.IntN(10)
						case 2:
							n = rng.IntN(1000)
						default:
							n = rng.IntN(10001)
						}
						ts := make([]tally, n)
						var f *zeropool.TaskFuture
						if n == 1 && r%2 == 0 {
							f = zeropool.Submit(p, count, &ts[0])
						} else {
							f = zeropool.SubmitBatchUniform(p, count, ts)
						}
						switch r % 3 {
						case 0:
							f.Wait()
						case 1:
							if !f.WaitTimeout(bound) {
								lost(t, "WaitTimeout timed out: a task or a wake-up was lost")
							}
						case 2:
							if err := f.WaitContext(boundCtx(t)); err != nil {
								errs <- err
								return
							}
						}
						for i := range ts {
							if c := ts[i].runs.Load(); c != 1 {
								errs <- fmt.Errorf("batch of %d: task %d ran %d times", n, i, c)
								return
							}
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(4 * bound):
				lost(t, "stress did not finish: a task or wake-up was lost")
			}
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestLostWakeup submits to a pool whose workers are on their way to
// sleep, over and over, and waits in ways that never run the task on the
// caller, so a wake-up that is lost shows as a wait that runs into its
// bound: the test fails rather than hangs. (Wait is no use here: it runs
// the task itself and so hides a worker that never woke.)
//
// To land the submit in the few nanoseconds in which a worker commits to
// sleep, each round first hands the workers a task that announces its end
// and then spins for a varying while; the test goroutine, polling rather
// than blocking (a blocked goroutine would hand its P to the worker and
// the two would take turns instead of racing), submits the probe as soon
// as it sees the announcement. Over the rounds the probe arrives at every
// point of the worker's way from that task to sleep.
func TestLostWakeup(t *testing.T) {
	rounds := 50000
	if testing.Short() {
		rounds = 30000
	}
	for _, workers := range []int{1, 4} {
		for _, size := range []int{1, 64} {
			t.Run(fmt.Sprintf("workers=%d/batch=%d", workers, size), func(t *testing.T) {
				p := newPool(t, zeropool.WithWorkers(workers))
				ts := make([]tally, size)
				for r := range rounds {
					for i := range ts {
						ts[i].runs.Store(0)
					}
					var ending atomic.Bool
					lead := zeropool.Submit(p, func(*int) { ending.Store(true); spin(r % 97 * 3) }, new(int))
					deadline := time.Now().Add(bound)
					pollUntil(t, deadline, ending.Load, func() string { return fmt.Sprintf("round %d: lead task never ran: %s", r, p.DebugState()) })
					f := zeropool.SubmitBatchUniform(p, count, ts)
					switch r % 4 {
					case 0:
						if !f.WaitTimeout(bound) {
							lost(t, "round %d: WaitTimeout timed out: a wake-up was lost: %s", r, p.DebugState())
						}
					case 1:
						// A context per round, ended here: one that lived
						// until the test's end would report a loss once
						// the whole test ran past bound.
						ctx, cancel := context.WithDeadline(context.Background(), deadline)
						err := f.WaitContext(ctx)
						cancel()
						if errors.Is(err, context.DeadlineExceeded) {
							lost(t, "round %d: WaitContext reached the bound: a wake-up was lost: %s", r, p.DebugState())
						}
						if err != nil {
							t.Fatalf("round %d: WaitContext = %v: %s", r, err, p.DebugState())
						}
					default:
						pollUntil(t, deadline, f.IsComplete, func() string {
							return fmt.Sprintf("round %d: never completed: a wake-up was lost: %s", r, p.DebugState())
						})
					}
					mustComplete(t, lead)
					checkOnce(t, fmt.Sprintf("round %d", r), ts)
				}
			})
		}
	}
}

// pollUntil spins until cond holds, failing with msg() past deadline.
func pollUntil(t testing.TB, deadline time.Time, cond func() bool, msg func() string) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i%64 == 63 {
			if time.Now().After(deadline) {
				lost(t, "%s", msg())
			}
			runtime.Gosched()
		}
	}
}

var spinSink atomic.Int64

// spin busy-waits for about n short steps.
func spin(n int) {
	x := 0
	for i := range n {
		x += i * i
	}
	spinSink.Store(int64(x))
}

// TestCloseUnderFire closes pools while submitters and waiters are busy,
// for hundreds of rounds: every accepted task runs, every refused submit
// panics with ErrClosed, and no goroutine is left behind.
func TestCloseUnderFire(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 40
	}
	base := runtime.NumGoroutine()
	for r := range rounds {
		p := zeropool.New(zeropool.WithWorkers(1 + r%3))
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if v := recover(); v != nil {
						if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
							panic(v)
						}
					}
				}()
				for i := range 200 {
					n := 1 + (i+g)%5
					f := zeropool.SubmitBatchUniform(p, func(*int) { ran.Add(1) }, make([]int, n))
					accepted.Add(int64(n))
					if i%2 == 0 {
						f.Wait() // a waiter that may be running tasks when Close comes
					}
				}
			}()
		}
		if r%2 == 0 {
			runtime.Gosched()
		}
		closeBounded(t, p)
		// Close returned: every task accepted so far must have run.
		// Submitters may still be between accept and their tally, so
		// compare after they stop.
		waitGroupBounded(t, &wg, fmt.Sprintf("round %d: submitters", r))
		if a, n := accepted.Load(), ran.Load(); a != n {
			t.Fatalf("round %d: %d tasks accepted, %d ran", r, a, n)
		}
	}
	goroutinesBackTo(t, base)
}

// TestSoakHeapFlat pushes millions of tasks (singles, batches, panics)
// through a pool from several goroutines and checks that the live heap
// comes back to where it started: spent records and their params are not
// kept alive. With GOMAXPROCS=1 the submitting goroutines run most tasks
// themselves, and they, not the workers, must retire the records.
func TestSoakHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("soak runs millions of tasks")
	}
	for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			p := newPool(t, zeropool.WithWorkers(2))
			var ran atomic.Int64
			inc := func(*[64]byte) { ran.Add(1) }
			// Warm up, so the pool's own steady-state memory is in the baseline.
			zeropool.SubmitBatchUniform(p, inc, make([][64]byte, 1000)).Wait()
			before := liveHeap()
			const goroutines, perG = 4, 1000
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perG {
						switch i % 10 {
						case 0:
							f := zeropool.Submit(p, func(*[64]byte) { panic("soak") }, new([64]byte))
							if !f.WaitTimeout(bound) {
								lost(t, "a panicking task never completed: a task or a wake-up was lost")
							} else if f.Err() == nil {
								t.Error("panic not carried")
							}
						case 1, 2:
							zeropool.SubmitBatchUniform(p, inc, make([][64]byte, 1000+g)).Wait()
						default:
							fs := make([]*zeropool.TaskFuture, 100)
							for j := range fs {
								fs[j] = zeropool.Submit(p, inc, new([64]byte))
							}
							for _, f := range fs {
								f.Wait()
							}
						}
					}
				}()
			}
			waitGroupBounded(t, &wg, "soak")
			after := liveHeap()
			t.Logf("%d tasks run; live heap %d KiB before, %d KiB after", ran.Load(), before>>10, after>>10)
			if after > before+1<<20 {
				t.Fatalf("live heap grew from %d KiB to %d KiB over the soak", before>>10, after>>10)
			}
		})
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSingleTasksExactlyOnce races the two ways a single task is claimed:
// by a worker, in a run of slots it took from the queue, and by its own
// waiter, directly. Goroutines submit singles in bursts and wait on them
// in a varying order; every task must run exactly once.
func TestSingleTasksExactlyOnce(t *testing.T) {
	goroutines, rounds := 8, 400
	if testing.Short() {
		goroutines, rounds = 4, 100
	}
	p := newPool(t, zeropool.WithWorkers(2))
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			ts := make([]tally, 32)
			fs := make([]*zeropool.TaskFuture, len(ts))
			for range rounds {
				for i := range ts {
					ts[i].runs.Store(0)
					fs[i] = zeropool.Submit(p, count, &ts[i])
				}
				for _, i := range rng.Perm(len(fs)) {
					fs[i].Wait()
				}
				for i := range ts {
					if c := ts[i].runs.Load(); c != 1 {
						errs <- fmt.Errorf("task %d ran %d times", i, c)
						return
					}
				}
			}
		}()
	}
	waitGroupBounded(t, &wg, "submitters")
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
