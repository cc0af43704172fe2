package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/zeropool/zeropool"
)

// The workloads are upstream zero-pool's (benches/comparison.rs), 1000
// tasks each, run on zeropool (workers pinned or not) and on the stdlib
// baselines a Go programmer would otherwise write: a serial loop, a
// goroutine per task with a sync.WaitGroup, and a channel-fed pool of
// GOMAXPROCS workers. Compare them with benchstat, pivoting on /pool.

const taskCount = 1000

// chanPool is the baseline hand-written pool: GOMAXPROCS workers reading
// jobs from one buffered channel.
type chanPool struct {
	jobs chan chanJob
	wg   sync.WaitGroup
}

type chanJob struct {
	fn   func(unsafe.Pointer)
	arg  unsafe.Pointer
	done *sync.WaitGroup
}

func newChanPool() *chanPool {
	c := &chanPool{jobs: make(chan chanJob, 256)}
	for range runtime.GOMAXPROCS(0) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for j := range c.jobs {
				j.fn(j.arg)
				j.done.Done()
			}
		}()
	}
	return c
}

func (c *chanPool) close() { close(c.jobs); c.wg.Wait() }

// runBatch runs fn on each of n params stride bytes apart and waits.
func (c *chanPool) runBatch(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		c.jobs <- chanJob{fn, unsafe.Add(base, uintptr(i)*stride), &wg}
	}
	wg.Wait()
}

func goroutinesBatch[T any](fn func(*T), params []T) {
	var wg sync.WaitGroup
	wg.Add(len(params))
	for i := range params {
		go func() { defer wg.Done(); fn(&params[i]) }()
	}
	wg.Wait()
}

// runZeropool runs bench on a fresh pool as pool=zeropool and, with
// workers pinned, pool=zeropool-locked.
func runZeropool(b *testing.B, bench func(b *testing.B, p *zeropool.Pool)) {
	for _, lock := range []bool{false, true} {
		name := "pool=zeropool"
		if lock {
			name = "pool=zeropool-locked"
		}
		b.Run(name, func(b *testing.B) {
			p := zeropool.New(zeropool.WithLockOSThread(lock))
			defer p.Close()
			bench(b, p)
		})
	}
}

// inlinePool returns a pool whose workers are all blocked until b ends, so
// that waiters run every task themselves: a diagnostic baseline for the
// single-task benchmarks, which shows what the record path costs when no
// cache line crosses to a worker.
func inlinePool(b *testing.B) *zeropool.Pool {
	p := zeropool.New()
	b.Cleanup(p.Close) // runs after blockWorkers' release
	blockWorkers(b, p)
	return p
}

// submitEachAndWait submits one task per result, then waits on each
// future; futures is scratch space of len(results).
func submitEachAndWait(p *zeropool.Pool, results []uint64, futures []*zeropool.TaskFuture) {
	for i := range results {
		futures[i] = zeropool.Submit(p, individualFn, &results[i])
	}
	for _, f := range futures {
		f.Wait()
	}
}

// forEachPool runs bench with a batch runner for every implementation.
func forEachPool(b *testing.B, bench func(b *testing.B, runBatch func(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int))) {
	runZeropool(b, func(b *testing.B, p *zeropool.Pool) {
		bench(b, func(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) {
			p.SubmitRawBatch(fn, base, stride, n).Wait()
		})
	})
	b.Run("pool=channel", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		bench(b, c.runBatch)
	})
	b.Run("pool=goroutines", func(b *testing.B) {
		bench(b, func(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) {
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				go func() { defer wg.Done(); fn(unsafe.Add(base, uintptr(i)*stride)) }()
			}
			wg.Wait()
		})
	})
	b.Run("pool=serial", func(b *testing.B) {
		bench(b, func(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) {
			for i := range n {
				fn(unsafe.Add(base, uintptr(i)*stride))
			}
		})
	})
}

type emptyTask struct{ result *uint64 }

func emptyTaskFn(p unsafe.Pointer) { *(*emptyTask)(p).result = 42 }

// newEmptyTasks builds B1's params: taskCount tasks, each pointing to its
// own result.
func newEmptyTasks() []emptyTask {
	results := make([]uint64, taskCount)
	tasks := make([]emptyTask, taskCount)
	for i := range tasks {
		tasks[i].result = &results[i]
	}
	return tasks
}

// B1: one batch of 1000 tasks that each write 42; params built per iteration.
func BenchmarkTaskOverhead(b *testing.B) {
	forEachPool(b, func(b *testing.B, runBatch func(func(unsafe.Pointer), unsafe.Pointer, uintptr, int)) {
		b.ReportAllocs()
		for b.Loop() {
			tasks := newEmptyTasks()
			runBatch(emptyTaskFn, unsafe.Pointer(&tasks[0]), unsafe.Sizeof(tasks[0]), len(tasks))
		}
	})
}

type heavyTask struct {
	seed   uint64
	result *uint64
}

func heavyCompute(p *heavyTask) {
	var sum uint64
	x := p.seed
	for range 30000 {
		x = x*1664525 + 1013904223
		sum += x
		if x%3 == 0 {
			sum *= 17
		} else if x%7 == 0 {
			sum += x >> 8
		}
	}
	*p.result = sum
}

func heavyComputeRaw(p unsafe.Pointer) { heavyCompute((*heavyTask)(p)) }

// B3: 1000 tasks of 30000 LCG steps each.
func BenchmarkHeavyCompute(b *testing.B) {
	seeds := make([]uint64, taskCount)
	for i := range seeds {
		seeds[i] = uint64(i)*1103515245 + 12345
	}
	forEachPool(b, func(b *testing.B, runBatch func(func(unsafe.Pointer), unsafe.Pointer, uintptr, int)) {
		b.ReportAllocs()
		for b.Loop() {
			results := make([]uint64, taskCount)
			tasks := make([]heavyTask, taskCount)
			for i := range tasks {
				tasks[i] = heavyTask{seeds[i], &results[i]}
			}
			runBatch(heavyComputeRaw, unsafe.Pointer(&tasks[0]), unsafe.Sizeof(tasks[0]), len(tasks))
		}
	})
}

func individualFn(p *uint64) { *p = 42 }

func individualRaw(p unsafe.Pointer) { individualFn((*uint64)(p)) }

// B2: 1000 single submissions, then a wait on each. The channel pool and
// goroutine baselines wait on one WaitGroup for all 1000, which is the
// cheapest wait they have; channel-futures gives the channel pool what
// zeropool provides, a wait per task (a WaitGroup each). Each contender's
// per-task wait handles (futures, WaitGroups) are scratch allocated once,
// outside the timed loop; the results are allocated per op by all.
func BenchmarkIndividualTasks(b *testing.B) {
	bench := func(b *testing.B, p *zeropool.Pool) {
		futures := make([]*zeropool.TaskFuture, taskCount)
		b.ReportAllocs()
		for b.Loop() {
			submitEachAndWait(p, make([]uint64, taskCount), futures)
		}
	}
	runZeropool(b, bench)
	b.Run("pool=zeropool-inline", func(b *testing.B) { bench(b, inlinePool(b)) })
	b.Run("pool=channel", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		b.ReportAllocs()
		for b.Loop() {
			c.submitEachWaitOnce(make([]uint64, taskCount))
		}
	})
	b.Run("pool=channel-futures", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		wgs := make([]sync.WaitGroup, taskCount)
		b.ReportAllocs()
		for b.Loop() {
			c.submitEachAndWait(make([]uint64, taskCount), wgs)
		}
	})
	b.Run("pool=goroutines", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			goroutinesBatch(individualFn, make([]uint64, taskCount))
		}
	})
}

// submitEachWaitOnce sends one job per result and waits for all on one
// WaitGroup.
func (c *chanPool) submitEachWaitOnce(results []uint64) {
	var wg sync.WaitGroup
	wg.Add(len(results))
	for i := range results {
		c.jobs <- chanJob{individualRaw, unsafe.Pointer(&results[i]), &wg}
	}
	wg.Wait()
}

// submitEachAndWait sends one job per result, each with its own WaitGroup
// from wgs (scratch of len(results)), then waits on each.
func (c *chanPool) submitEachAndWait(results []uint64, wgs []sync.WaitGroup) {
	for i := range results {
		wgs[i].Add(1)
		c.jobs <- chanJob{individualRaw, unsafe.Pointer(&results[i]), &wgs[i]}
	}
	for i := range wgs {
		wgs[i].Wait()
	}
}

func trivialFn(p unsafe.Pointer) { *(*uint64)(p)++ }

// B4: the cost per task of batches from 1 to 1,000,000 trivial tasks.
func BenchmarkBatchSize(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000, 10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			data := make([]uint64, n)
			forEachPool(b, func(b *testing.B, runBatch func(func(unsafe.Pointer), unsafe.Pointer, uintptr, int)) {
				b.ReportAllocs()
				for b.Loop() {
					runBatch(trivialFn, unsafe.Pointer(&data[0]), 8, n)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
			})
		})
	}
}

// measureIdle runs roundTrip on an idle pool, one whose workers have gone
// back to sleep, and reports the p50 and p99 of its latency. ns/op
// includes the pause between rounds; the percentiles do not.
func measureIdle(b *testing.B, roundTrip func(*uint64)) {
	var x uint64
	samples := make([]time.Duration, 0, 1024)
	for b.Loop() {
		time.Sleep(50 * time.Microsecond) // let the workers park
		start := time.Now()
		roundTrip(&x)
		samples = append(samples, time.Since(start))
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}

// B5: latency of one submit-and-wait on an idle pool.
func BenchmarkIdleRoundTrip(b *testing.B) {
	runZeropool(b, func(b *testing.B, p *zeropool.Pool) {
		measureIdle(b, func(x *uint64) { zeropool.Submit(p, individualFn, x).Wait() })
	})
	b.Run("pool=channel", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		measureIdle(b, func(x *uint64) { c.submitEachWaitOnce(unsafe.Slice(x, 1)) })
	})
}

// IdleWorkerStart is IdleRoundTrip with WaitContext, which never runs the
// task itself: the latency until a sleeping worker has woken and run it.
// It is the cost that IdleRoundTrip's Wait hides by running the task on
// the caller, and where pinned workers pay for their cheaper wake-up. The
// channel pool, whose caller never runs the task either, is the same
// hand-off written by hand.
func BenchmarkIdleWorkerStart(b *testing.B) {
	ctx := context.Background()
	runZeropool(b, func(b *testing.B, p *zeropool.Pool) {
		measureIdle(b, func(x *uint64) {
			if err := zeropool.Submit(p, individualFn, x).WaitContext(ctx); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("pool=channel", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		measureIdle(b, func(x *uint64) { c.submitEachWaitOnce(unsafe.Slice(x, 1)) })
	})
}

// B7: 8 goroutines each submitting 1000 single tasks at once and waiting
// on them. Each submitter allocates its results per op and its per-task
// wait handles once, outside the timed loop, whatever the pool.
func BenchmarkConcurrentSubmitters(b *testing.B) {
	const submitters = 8
	// newSubmitter returns one submitter's op, with its own scratch.
	run := func(b *testing.B, newSubmitter func() func(results []uint64)) {
		ops := make([]func([]uint64), submitters)
		for i := range ops {
			ops[i] = newSubmitter()
		}
		b.ReportAllocs()
		for b.Loop() {
			var wg sync.WaitGroup
			for _, op := range ops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					op(make([]uint64, taskCount))
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(b.N*submitters*taskCount)/b.Elapsed().Seconds(), "tasks/s")
	}
	bench := func(b *testing.B, p *zeropool.Pool) {
		run(b, func() func([]uint64) {
			futures := make([]*zeropool.TaskFuture, taskCount)
			return func(results []uint64) { submitEachAndWait(p, results, futures) }
		})
	}
	runZeropool(b, bench)
	b.Run("pool=zeropool-inline", func(b *testing.B) { bench(b, inlinePool(b)) })
	b.Run("pool=channel", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		run(b, func() func([]uint64) { return c.submitEachWaitOnce })
	})
	b.Run("pool=channel-futures", func(b *testing.B) {
		c := newChanPool()
		defer c.close()
		run(b, func() func([]uint64) {
			wgs := make([]sync.WaitGroup, taskCount)
			return func(results []uint64) { c.submitEachAndWait(results, wgs) }
		})
	})
}

// B6: allocations of one Submit, and of one batch whatever its size.
func BenchmarkAllocs(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	b.Run("op=Submit", func(b *testing.B) {
		var x uint64
		b.ReportAllocs()
		for b.Loop() {
			zeropool.Submit(p, individualFn, &x).Wait()
		}
	})
	for _, n := range []int{10, 10000, 1000000} {
		b.Run(fmt.Sprintf("op=SubmitBatchUniform/batch=%d", n), func(b *testing.B) {
			data := make([]uint64, n)
			b.ReportAllocs()
			for b.Loop() {
				zeropool.SubmitBatchUniform(p, individualFn, data).Wait()
			}
		})
	}
}

// rangeLen is B8's loop length.
const rangeLen = 1 << 20

// hashRange is B8's loop body over out[lo:hi]. Every contender calls this
// one compiled copy: inlined into different callers, copies of a kernel
// can differ by a few percent on their own.
//
//go:noinline
func hashRange(out []uint32, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := uint32(i) * 2654435761
		out[i] = x ^ x>>15
	}
}

// B8: a parallel loop over 1,048,576 elements of a light body: SubmitRange
// against the plain serial loop and the loop split by hand, one goroutine
// per core with one block each.
func BenchmarkRange(b *testing.B) {
	out := make([]uint32, rangeLen)
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rangeLen, "ns/elem")
	}
	runZeropool(b, func(b *testing.B, p *zeropool.Pool) {
		body := func(lo, hi int) { hashRange(out, lo, hi) }
		b.ReportAllocs()
		for b.Loop() {
			zeropool.SubmitRange(p, rangeLen, body).Wait()
		}
		report(b)
	})
	b.Run("pool=serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hashRange(out, 0, rangeLen)
		}
		report(b)
	})
	b.Run("pool=handsplit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handSplit(rangeLen, func(lo, hi int) { hashRange(out, lo, hi) })
		}
		report(b)
	})
}

// handSplit is the parallel loop written by hand: one goroutine per core,
// one contiguous block each, and a WaitGroup.
func handSplit(n int, body func(lo, hi int)) {
	k := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	wg.Add(k)
	for g := range k {
		go func() {
			defer wg.Done()
			body(n*g/k, n*(g+1)/k)
		}()
	}
	wg.Wait()
}

// funcPool is the hand-written pool for closures: GOMAXPROCS workers
// calling the funcs sent on one buffered channel, each marking its own
// WaitGroup done. It is chanPool with a func() for a job, on purpose not
// chanPool itself: sending a closure through chanJob would cost the
// baseline a second indirect call per task that a hand-written pool of
// func() does not have.
type funcPool struct {
	jobs chan funcJob
	wg   sync.WaitGroup
}

type funcJob struct {
	fn   func()
	done *sync.WaitGroup
}

func newFuncPool() *funcPool {
	c := &funcPool{jobs: make(chan funcJob, 256)}
	for range runtime.GOMAXPROCS(0) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for j := range c.jobs {
				j.fn()
				j.done.Done()
			}
		}()
	}
	return c
}

func (c *funcPool) close() { close(c.jobs); c.wg.Wait() }

// closureFor is B9's task: the same closure for every contender.
func closureFor(results []uint64, i int) func() {
	return func() { individualFn(&results[i]) }
}

// B9: 1000 closures, then a wait on each: Pool.Go against the channel pool
// of func() given a WaitGroup per task. Each contender allocates the
// closures (one each) and the results per op, and its per-task wait
// handles once, outside the timed loop.
func BenchmarkClosures(b *testing.B) {
	runZeropool(b, func(b *testing.B, p *zeropool.Pool) {
		futures := make([]*zeropool.TaskFuture, taskCount)
		b.ReportAllocs()
		for b.Loop() {
			results := make([]uint64, taskCount)
			for i := range results {
				futures[i] = p.Go(closureFor(results, i))
			}
			for _, f := range futures {
				f.Wait()
			}
		}
	})
	b.Run("pool=channel-futures", func(b *testing.B) {
		c := newFuncPool()
		defer c.close()
		wgs := make([]sync.WaitGroup, taskCount)
		b.ReportAllocs()
		for b.Loop() {
			results := make([]uint64, taskCount)
			for i := range results {
				wgs[i].Add(1)
				c.jobs <- funcJob{closureFor(results, i), &wgs[i]}
			}
			for i := range wgs {
				wgs[i].Wait()
			}
		}
	})
}

// write42 is the task body of B10 and B12, one compiled copy for the
// plain calls and their error twins alike.
//
//go:noinline
func write42(p *uint64) { *p = 42 }

func write42Task(p *emptyTask)          { write42(p.result) }
func write42TaskErr(p *emptyTask) error { write42(p.result); return nil }

// B10: one batch of 1000 error tasks that each write 42 and return nil,
// against the plain batch of the same body; params built per iteration.
func BenchmarkErrBatch(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	bench := func(b *testing.B, run func(tasks []emptyTask)) {
		b.ReportAllocs()
		for b.Loop() {
			run(newEmptyTasks())
		}
	}
	b.Run("op=SubmitBatchUniform", func(b *testing.B) {
		bench(b, func(tasks []emptyTask) { zeropool.SubmitBatchUniform(p, write42Task, tasks).Wait() })
	})
	b.Run("op=SubmitBatchErr", func(b *testing.B) {
		bench(b, func(tasks []emptyTask) {
			if err := zeropool.SubmitBatchErr(p, write42TaskErr, tasks).Wait(); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// failFastN and failFastAt are B11's batch and the start that fails.
const failFastN, failFastAt = 1 << 20, 1000

// lcg20 is B11's task, about 20 LCG steps.
//
//go:noinline
func lcg20(seed uint64) uint64 {
	x := seed
	for range 20 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var errFailFast = errors.New("the 1000th task failed")

// failFastTask counts its start and fails if it is the failAt-th.
type failFastTask struct {
	state *failFastState
	out   uint64
}

type failFastState struct {
	started atomic.Int64
	failAt  int64 // 0: no task fails
}

func (t *failFastTask) run() error {
	if t.state.started.Add(1) == t.state.failAt {
		return errFailFast
	}
	t.out = lcg20(uint64(uintptr(unsafe.Pointer(t))))
	return nil
}

// B11: fail fast. A batch of 2^20 tasks whose 1000th to start fails,
// against the floor: a batch of 1000 tasks that do not fail, from a pool
// parked the same way. Both count their starts the same way; started/op
// is the tasks started per op.
func BenchmarkFailFast(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	var st failFastState
	tasks := make([]failFastTask, failFastN)
	for i := range tasks {
		tasks[i].state = &st
	}
	run := (*failFastTask).run
	bench := func(b *testing.B, n int, failAt int64, want error) {
		st.failAt = failAt
		var total int64
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			parkWorkers()
			st.started.Store(0)
			b.StartTimer()
			if err := zeropool.SubmitBatchErr(p, run, tasks[:n]).Wait(); err != want {
				b.Fatalf("Wait = %v; want %v", err, want)
			}
			total += st.started.Load()
		}
		b.ReportMetric(float64(total)/float64(b.N), "started/op")
	}
	b.Run("op=fail", func(b *testing.B) { bench(b, failFastN, failFastAt, errFailFast) })
	b.Run("op=floor", func(b *testing.B) { bench(b, failFastAt, 0, nil) })
}

// parkWorkers gives the workers time to go back to sleep, as measureIdle
// does between rounds.
func parkWorkers() { time.Sleep(50 * time.Microsecond) }

// B12: 1000 error singles (SubmitErr, then GoErr), a wait on each, against
// 1000 of their plain twins with the same body, waited the same way.
func BenchmarkErrSingles(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	futures := make([]*zeropool.TaskFuture, taskCount)
	bench := func(b *testing.B, submit func(results []uint64, i int) *zeropool.TaskFuture) {
		b.ReportAllocs()
		for b.Loop() {
			results := make([]uint64, taskCount)
			for i := range results {
				futures[i] = submit(results, i)
			}
			for _, f := range futures {
				if err := f.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	write42Err := func(p *uint64) error { write42(p); return nil }
	b.Run("op=Submit", func(b *testing.B) {
		bench(b, func(r []uint64, i int) *zeropool.TaskFuture { return zeropool.Submit(p, write42, &r[i]) })
	})
	b.Run("op=SubmitErr", func(b *testing.B) {
		bench(b, func(r []uint64, i int) *zeropool.TaskFuture { return zeropool.SubmitErr(p, write42Err, &r[i]) })
	})
	b.Run("op=Go", func(b *testing.B) {
		bench(b, func(r []uint64, i int) *zeropool.TaskFuture { return p.Go(func() { write42(&r[i]) }) })
	})
	b.Run("op=GoErr", func(b *testing.B) {
		bench(b, func(r []uint64, i int) *zeropool.TaskFuture {
			return p.GoErr(func() error { write42(&r[i]); return nil })
		})
	})
}
