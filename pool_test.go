package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/zeropool/zeropool"
)

// bound is how long any test waits for something that should happen
// promptly; reaching it means a lost task or wake-up.
const bound = 20 * time.Second

// lockModes runs a test on pools with workers pinned and not.
var lockModes = []struct {
	name string
	on   bool
}{{"lock=false", false}, {"lock=true", true}}

func newPool(t testing.TB, opts ...zeropool.Option) *zeropool.Pool {
	t.Helper()
	p := zeropool.New(opts...)
	t.Cleanup(func() { closeBounded(t, p) })
	return p
}

// waitErrBounded calls f.Wait on another goroutine and returns what it
// panicked with and its error, failing the test past bound.
func waitErrBounded(t testing.TB, f *zeropool.TaskFuture) (panicked any, err error) {
	t.Helper()
	type result struct {
		err error
		v   any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { r.v = recover(); done <- r }()
		r.err = f.Wait()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(bound):
		lost(t, "Wait did not return: a task or a wake-up was lost")
		return nil, nil
	}
}

// waitBounded calls f.Wait on another goroutine and returns what it
// panicked with, reporting a lost task or wake-up if it does not return
// within bound (see waitErrBounded).
func waitBounded(t testing.TB, f *zeropool.TaskFuture) (panicked any) {
	t.Helper()
	v, _ := waitErrBounded(t, f)
	return v
}

func mustComplete(t testing.TB, f *zeropool.TaskFuture) {
	t.Helper()
	if !f.WaitTimeout(bound) {
		lost(t, "future did not complete: a task or a wake-up was lost")
	}
}

// boundCtx returns a context that ends after bound, for WaitContext calls
// that would otherwise wait forever on a lost task or wake-up. Its end is
// reported as lost, so the first one ends the run.
func boundCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	context.AfterFunc(ctx, func() {
		if ctx.Err() == context.DeadlineExceeded {
			lost(t, "WaitContext reached the bound: a task or a wake-up was lost")
		}
	})
	t.Cleanup(cancel)
	return ctx
}

// lost ends the whole test binary, with every goroutine's stack: a wait
// reached its bound, so a task or a wake-up was lost. Failing only the
// test (t.Fatal) would let every later test that meets the same bug wait
// out its own bound too, and a broken wake-up would cost minutes, not one
// bound. Every bounded wait in the suite reports here.
func lost(t testing.TB, format string, args ...any) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	panic(fmt.Sprintf("%s: %s\n\nevery goroutine:\n%s", t.Name(), fmt.Sprintf(format, args...), buf))
}

// waitGroupBounded waits for wg, failing the test if that takes past bound.
func waitGroupBounded(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		lost(t, "%s did not finish: a task or a wake-up was lost", what)
	}
}

// watchdog bounds a test whose waits run on the test goroutine and cannot
// each be bounded cheaply (Wait in a loop of thousands): if the test is
// still running after limit, the binary dies with every goroutine's stack
// instead of hanging until go test's -timeout.
func watchdog(t testing.TB, limit time.Duration) {
	timer := time.AfterFunc(limit, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("%s still running after %v: a task or a wake-up was lost\n%s", t.Name(), limit, buf[:runtime.Stack(buf, true)]))
	})
	t.Cleanup(func() { timer.Stop() })
}

// mustPanic runs fn and returns the value it panicked with.
func mustPanic(t testing.TB, fn func()) (v any) {
	t.Helper()
	defer func() { v = recover() }()
	fn()
	t.Fatal("did not panic")
	return nil
}

// blockWorkers occupies every worker of p until release is called.
func blockWorkers(t testing.TB, p *zeropool.Pool) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	// Registered before anything can fail: a test that fails below must
	// still open the gate, or the pool's Close waits on blocked workers.
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	started := make(chan struct{}, p.Workers())
	for range p.Workers() {
		zeropool.Submit(p, func(*int) { started <- struct{}{}; <-gate }, new(int))
	}
	for range p.Workers() {
		select {
		case <-started:
		case <-time.After(bound):
			lost(t, "workers did not start")
		}
	}
	return release
}

// The seed README's first example: one task writes a sum through its params.
type calcParams struct {
	iterations uint64
	result     *uint64
}

func calculate(p *calcParams) {
	var sum uint64
	for i := range p.iterations {
		sum += i
	}
	*p.result = sum
}

func TestSubmitSingle(t *testing.T) {
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithLockOSThread(m.on))
			var result uint64
			f := zeropool.Submit(p, calculate, &calcParams{iterations: 1000, result: &result})
			if v := waitBounded(t, f); v != nil {
				t.Fatalf("Wait panicked: %v", v)
			}
			if result != 499500 {
				t.Fatalf("result = %d; want 499500", result)
			}
			if !f.IsComplete() || f.Err() != nil {
				t.Fatalf("IsComplete = %v, Err = %v; want true, nil", f.IsComplete(), f.Err())
			}
		})
	}
}

func sumBelow(n uint64) uint64 { return n * (n - 1) / 2 }

func TestSubmitBatchUniform(t *testing.T) {
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithLockOSThread(m.on))
			for _, n := range []int{1, 2, 3, 7, 100, 1000, 100000} {
				results := make([]uint64, n)
				params := make([]calcParams, n)
				for i := range params {
					params[i] = calcParams{iterations: uint64(i % 1000), result: &results[i]}
				}
				waitBounded(t, zeropool.SubmitBatchUniform(p, calculate, params))
				for i, r := range results {
					if want := sumBelow(uint64(i % 1000)); r != want {
						t.Fatalf("n=%d: results[%d] = %d; want %d", n, i, r, want)
					}
				}
			}
		})
	}
}

// The seed's third example: a single task and a batch in flight at once.
func TestMixedSubmissions(t *testing.T) {
	p := newPool(t)
	var single uint64
	batch := make([]uint64, 50)
	params := make([]calcParams, len(batch))
	for i := range params {
		params[i] = calcParams{iterations: uint64(500 + i), result: &batch[i]}
	}
	f1 := zeropool.Submit(p, calculate, &calcParams{iterations: 1000, result: &single})
	f2 := zeropool.SubmitBatchUniform(p, calculate, params)
	waitBounded(t, f2)
	waitBounded(t, f1)
	if single != 499500 {
		t.Fatalf("single = %d; want 499500", single)
	}
	for i, r := range batch {
		if want := sumBelow(uint64(500 + i)); r != want {
			t.Fatalf("batch[%d] = %d; want %d", i, r, want)
		}
	}
}

// zp_write_indexed! from the seed: each task writes its own slot of a shared slice.
type indexedParams struct {
	index, workSize int
	results         []uint64
}

func TestIndexedWrites(t *testing.T) {
	p := newPool(t)
	results := make([]uint64, 100)
	params := make([]indexedParams, len(results))
	for i := range params {
		params[i] = indexedParams{index: i, workSize: 10 * i, results: results}
	}
	waitBounded(t, zeropool.SubmitBatchUniform(p, func(p *indexedParams) {
		var sum uint64
		for i := range p.workSize {
			sum += uint64(i)
		}
		p.results[p.index] = sum
	}, params))
	for i, r := range results {
		if want := sumBelow(uint64(10 * i)); r != want {
			t.Fatalf("results[%d] = %d; want %d", i, r, want)
		}
	}
}

func TestSubmitRaw(t *testing.T) {
	p := newPool(t)
	x := 20
	waitBounded(t, p.SubmitRaw(func(v unsafe.Pointer) { *(*int)(v) *= 2 }, unsafe.Pointer(&x)))
	if x != 40 {
		t.Fatalf("x = %d; want 40", x)
	}

	// Every third int of a buffer, through an explicit stride.
	buf := make([]int64, 30)
	stride := 3 * unsafe.Sizeof(buf[0])
	waitBounded(t, p.SubmitRawBatch(func(v unsafe.Pointer) { *(*int64)(v) = 1 }, unsafe.Pointer(&buf[0]), stride, 10))
	for i, v := range buf {
		if want := int64(0); i%3 == 0 {
			want = 1
			if v != want {
				t.Fatalf("buf[%d] = %d; want %d", i, v, want)
			}
		} else if v != want {
			t.Fatalf("buf[%d] = %d; want %d", i, v, want)
		}
	}
}

func TestEmptyBatch(t *testing.T) {
	p := newPool(t)
	fn := func(*int) { t.Error("task of an empty batch ran") }
	f := zeropool.SubmitBatchUniform(p, fn, nil)
	if !f.IsComplete() || f.Err() != nil || !f.WaitTimeout(0) {
		t.Fatal("empty batch future is not complete at once")
	}
	f.Wait()
	if err := f.WaitContext(boundCtx(t)); err != nil {
		t.Fatalf("WaitContext = %v; want nil", err)
	}
	if raw := p.SubmitRawBatch(func(unsafe.Pointer) {}, nil, 8, 0); !raw.IsComplete() {
		t.Fatal("empty raw batch not complete")
	}
	if n := testing.AllocsPerRun(100, func() { zeropool.SubmitBatchUniform(p, fn, []int{}) }); n != 0 {
		t.Fatalf("empty batch allocates %v times; want 0", n)
	}
}

func TestZeroSizedBatch(t *testing.T) {
	p := newPool(t)
	var runs atomic.Int64
	for _, n := range []int{1, 5, 1000} {
		runs.Store(0)
		waitBounded(t, zeropool.SubmitBatchUniform(p, func(*struct{}) { runs.Add(1) }, make([]struct{}, n)))
		if got := runs.Load(); got != int64(n) {
			t.Fatalf("zero-sized batch of %d ran %d times", n, got)
		}
	}
	runs.Store(0)
	var z struct{}
	waitBounded(t, p.SubmitRawBatch(func(unsafe.Pointer) { runs.Add(1) }, unsafe.Pointer(&z), 0, 7))
	if got := runs.Load(); got != 7 {
		t.Fatalf("raw zero-stride batch of 7 ran %d times", got)
	}
}

func TestWaitFromManyGoroutines(t *testing.T) {
	p := newPool(t)
	release := blockWorkers(t, p)
	results := make([]int, 1000)
	f := zeropool.SubmitBatchUniform(p, func(v *int) { *v = 1 }, results)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch g % 3 {
			case 0:
				f.Wait()
			case 1:
				if !f.WaitTimeout(bound) {
					lost(t, "WaitTimeout timed out: a task or a wake-up was lost")
				}
			case 2:
				if err := f.WaitContext(boundCtx(t)); err != nil {
					errs <- err.Error()
					return
				}
			}
			// Each waiter reads the results with no synchronization
			// of its own: -race checks the memory-model promise.
			for i, v := range results {
				if v != 1 {
					errs <- fmt.Sprintf("results[%d] = %d after wait", i, v)
					return
				}
			}
		}()
	}
	release()
	waitGroupBounded(t, &wg, "waiters")
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestWaitRunsOwnTasks(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	blockWorkers(t, p)
	// The only worker is busy: Wait completes only by running the tasks.
	results := make([]int, 100)
	if v := waitBounded(t, zeropool.SubmitBatchUniform(p, func(v *int) { *v = 3 }, results)); v != nil {
		t.Fatal(v)
	}
	for i, v := range results {
		if v != 3 {
			t.Fatalf("results[%d] = %d; want 3", i, v)
		}
	}
}

func TestTimedWaitsNeverRunTasks(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var ran atomic.Bool
	f := zeropool.Submit(p, func(*int) { ran.Store(true) }, new(int))
	start := time.Now()
	if f.WaitTimeout(30 * time.Millisecond) {
		t.Fatal("WaitTimeout reported completion while the only worker is blocked")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("WaitTimeout returned before its timeout")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := f.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext = %v; want context.DeadlineExceeded", err)
	}
	if ran.Load() || f.IsComplete() {
		t.Fatal("a timed wait ran the task")
	}
	release()
	if err := f.WaitContext(boundCtx(t)); err != nil {
		t.Fatalf("WaitContext after release = %v; want nil", err)
	}
	if !ran.Load() {
		t.Fatal("task did not run")
	}
}

func TestWaitContextCancelled(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	f := zeropool.Submit(p, func(*int) {}, new(int))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.WaitContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext = %v; want context.Canceled", err)
	}
	release()
	mustComplete(t, f)
	// Complete wins over a cancelled context.
	if err := f.WaitContext(ctx); err != nil {
		t.Fatalf("WaitContext on a complete future = %v; want nil", err)
	}
}

// fib submits its two halves to its own pool and waits on them: nesting.
type fibParams struct {
	p      *zeropool.Pool
	n      int
	result int
}

func fib(f *fibParams) {
	if f.n < 2 {
		f.result = f.n
		return
	}
	a := fibParams{p: f.p, n: f.n - 1}
	b := fibParams{p: f.p, n: f.n - 2}
	fa := zeropool.Submit(f.p, fib, &a)
	fb := zeropool.Submit(f.p, fib, &b)
	fb.Wait()
	fa.Wait()
	f.result = a.result + b.result
}

func TestNestedWaitDoesNotDeadlock(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(workers))
			top := fibParams{p: p, n: 16}
			// Waited on by WaitTimeout, so only workers can run the top
			// task: every nested Wait happens on a worker.
			mustComplete(t, zeropool.Submit(p, fib, &top))
			if top.result != 987 {
				t.Fatalf("fib(16) = %d; want 987", top.result)
			}
		})
	}
}

func TestNestedDeepRecursion(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	var depth func(n *int)
	depth = func(n *int) {
		if *n == 0 {
			return
		}
		m := *n - 1
		zeropool.Submit(p, depth, &m).Wait()
		*n = m + 1
	}
	n := 500
	mustComplete(t, zeropool.Submit(p, depth, &n))
	if n != 500 {
		t.Fatalf("n = %d; want 500", n)
	}
}

func TestPanicIsCarried(t *testing.T) {
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithLockOSThread(m.on))
			// With every worker occupied, the waiter claims the chunks in
			// index order and runs them itself: the first panic is task 7's.
			release := blockWorkers(t, p)
			var ran atomic.Int64
			params := make([]int, 100)
			for i := range params {
				params[i] = i
			}
			f := zeropool.SubmitBatchUniform(p, func(v *int) {
				ran.Add(1)
				if *v%10 == 7 {
					panic(fmt.Sprintf("boom %d", *v))
				}
			}, params)
			v := waitBounded(t, f)
			pe, ok := v.(*zeropool.PanicError)
			if !ok {
				t.Fatalf("Wait panicked with %T %v; want *PanicError", v, v)
			}
			if pe.Value != "boom 7" {
				t.Fatalf("PanicError.Value = %v; want the first panic, boom 7", pe.Value)
			}
			if !strings.Contains(string(pe.Stack), "zeropool_test.TestPanicIsCarried") {
				t.Errorf("PanicError.Stack does not show the task:\n%s", pe.Stack)
			}
			if got := ran.Load(); got != 100 {
				t.Fatalf("%d of 100 tasks ran; want all, panics included", got)
			}
			if f.Err() != pe {
				t.Fatalf("Err = %v; want the PanicError Wait panicked with", f.Err())
			}
			if err := f.WaitContext(boundCtx(t)); err != pe {
				t.Fatalf("WaitContext = %v; want the PanicError", err)
			}
			// Still serving, with every worker alive.
			release()
			waitBounded(t, zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 1000)))
			blockWorkers(t, p)()
		})
	}
}

// TestWaitRunsOnlyItsOwnTasks: Wait may run unclaimed tasks of its own
// future, never another's. A goroutine that waits while it holds a lock
// would otherwise deadlock on someone else's task that takes the lock.
func TestWaitRunsOnlyItsOwnTasks(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var otherRan, mineRan atomic.Bool
	other := zeropool.Submit(p, func(*int) { otherRan.Store(true) }, new(int))
	otherBatch := zeropool.SubmitBatchUniform(p, func(*int) { otherRan.Store(true) }, make([]int, 10))
	mine := zeropool.Submit(p, func(*int) { mineRan.Store(true) }, new(int))
	if v := waitBounded(t, mine); v != nil {
		t.Fatalf("Wait panicked: %v", v)
	}
	if !mineRan.Load() {
		t.Fatal("Wait returned before its task ran")
	}
	if otherRan.Load() || other.IsComplete() || otherBatch.IsComplete() {
		t.Fatal("Wait ran a task of another future")
	}
	release()
	mustComplete(t, other)
	mustComplete(t, otherBatch)
}

// TestCloseWaitsForWaiterChunks: a task claimed by a goroutine in Wait,
// not by a worker, is accepted work too, and Close must not return before
// it has finished: a single task; the first task of a batch whose last one
// the worker takes (and so moves the queue past the batch); and a single
// task while later submits fill blocks (each new block sweeps the queue's
// finished front, which must stop at the running task).
func TestCloseWaitsForWaiterChunks(t *testing.T) {
	for _, tc := range []struct{ size, later int }{{1, 0}, {2, 0}, {1, 3 * zeropool.BlockSlots}} {
		size := tc.size
		t.Run(fmt.Sprintf("batch=%d/later=%d", tc.size, tc.later), func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(1))
			release := blockWorkers(t, p)
			gate := make(chan struct{})
			var gateOnce sync.Once
			openGate := func() { gateOnce.Do(func() { close(gate) }) }
			t.Cleanup(openGate)
			started := make(chan struct{})
			var finished atomic.Bool
			f := zeropool.SubmitBatchUniform(p, func(i *int) {
				if *i == 0 {
					close(started)
					<-gate
					finished.Store(true)
				}
			}, []int{0, 1}[:size])
			go func() { defer func() { _ = recover() }(); f.Wait() }() // the worker is busy: this waiter claims task 0
			select {
			case <-started:
			case <-time.After(bound):
				lost(t, "the waiter did not start the task")
			}
			for range tc.later {
				zeropool.Submit(p, func(*int) {}, new(int))
			}
			release() // the worker is free; only the waiter's task is left running
			closed := make(chan struct{})
			go func() { defer close(closed); p.Close() }()
			select {
			case <-closed:
				t.Fatal("Close returned while a waiter was still running a task it claimed")
			case <-time.After(50 * time.Millisecond):
			}
			openGate()
			select {
			case <-closed:
			case <-time.After(bound):
				lost(t, "Close did not return after the waiter's task finished: %s", p.DebugState())
			}
			if !finished.Load() {
				t.Fatal("Close returned before the waiter's task finished")
			}
		})
	}
}

func TestPanicErrorUnwrap(t *testing.T) {
	p := newPool(t)
	sentinel := errors.New("sentinel")
	f := zeropool.Submit(p, func(*int) { panic(sentinel) }, new(int))
	mustComplete(t, f)
	if !errors.Is(f.Err(), sentinel) {
		t.Fatalf("Err = %v; want it to wrap the panic's error", f.Err())
	}
	if !strings.Contains(f.Err().Error(), "sentinel") {
		t.Fatalf("Error() = %q; want it to name the panic value", f.Err().Error())
	}
	f = zeropool.Submit(p, func(*int) { panic(42) }, new(int))
	mustComplete(t, f)
	var pe *zeropool.PanicError
	if !errors.As(f.Err(), &pe) || pe.Value != 42 || pe.Unwrap() != nil {
		t.Fatalf("Err = %v; want a PanicError with Value 42 and no Unwrap", f.Err())
	}
}

func TestGoexitIsContained(t *testing.T) {
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(2), zeropool.WithLockOSThread(m.on))
			var ran atomic.Int64
			params := make([]int, 200)
			for i := range params {
				params[i] = i
			}
			f := zeropool.SubmitBatchUniform(p, func(v *int) {
				ran.Add(1)
				if *v%50 == 3 {
					runtime.Goexit()
				}
			}, params)
			// WaitContext never runs tasks: the Goexits all hit workers.
			err := f.WaitContext(boundCtx(t))
			if !errors.Is(err, zeropool.ErrGoexit) {
				t.Fatalf("WaitContext = %v; want an error wrapping ErrGoexit", err)
			}
			if got := ran.Load(); got != 200 {
				t.Fatalf("%d of 200 tasks ran", got)
			}
			// Lost workers were replaced: both can block at once.
			blockWorkers(t, p)()
			mustComplete(t, zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 100)))
		})
	}
}

func TestGoexitInWaiter(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var ran atomic.Int64
	f := zeropool.SubmitBatchUniform(p, func(v *int) {
		ran.Add(1)
		if *v == 0 {
			runtime.Goexit()
		}
	}, make([]int, 1)) // one task: the waiter claims it
	exited := make(chan bool)
	go func() {
		returned := false
		defer func() { exited <- returned }()
		f.Wait()
		returned = true
	}()
	select {
	case returned := <-exited:
		if returned {
			t.Fatal("Wait returned though the task it ran called Goexit")
		}
	case <-time.After(bound):
		lost(t, "waiter did not end")
	}
	release()
	if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrGoexit) {
		t.Fatalf("WaitContext = %v; want ErrGoexit", err)
	}
	mustComplete(t, zeropool.Submit(p, func(*int) {}, new(int)))
}

// closeBounded closes p, failing the test if Close does not return.
func closeBounded(t testing.TB, p *zeropool.Pool) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); p.Close() }()
	select {
	case <-done:
	case <-time.After(bound):
		lost(t, "Close did not return: %s", p.DebugState())
	}
}

// goroutinesBackTo waits for the goroutine count to fall to base.
func goroutinesBackTo(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines; want %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseDrainsAndStops(t *testing.T) {
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			p := zeropool.New(zeropool.WithWorkers(3), zeropool.WithLockOSThread(m.on))
			var ran atomic.Int64
			for range 50 {
				zeropool.Submit(p, func(*int) { time.Sleep(100 * time.Microsecond); ran.Add(1) }, new(int))
				zeropool.SubmitBatchUniform(p, func(*int) { ran.Add(1) }, make([]int, 20))
			}
			closeBounded(t, p)
			if got := ran.Load(); got != 50*21 {
				t.Fatalf("%d of %d accepted tasks ran before Close returned", got, 50*21)
			}
			closeBounded(t, p) // idempotent
			goroutinesBackTo(t, base)
			v := mustPanic(t, func() { zeropool.Submit(p, func(*int) {}, new(int)) })
			if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
				t.Fatalf("Submit after Close panicked with %v; want an error wrapping ErrClosed", v)
			}
			v = mustPanic(t, func() { zeropool.SubmitBatchUniform(p, func(*int) {}, nil) })
			if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
				t.Fatalf("empty batch after Close panicked with %v; want ErrClosed", v)
			}
			v = mustPanic(t, func() { zeropool.SubmitRange(p, 10, func(int, int) {}) })
			if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
				t.Fatalf("SubmitRange after Close panicked with %v; want ErrClosed", v)
			}
			v = mustPanic(t, func() { p.Go(func() {}) })
			if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
				t.Fatalf("Go after Close panicked with %v; want ErrClosed", v)
			}
		})
	}
}

func TestCloseConcurrent(t *testing.T) {
	base := runtime.NumGoroutine()
	p := zeropool.New()
	t.Cleanup(p.Close)
	// The workers are held while the Close calls begin, so any Close that
	// returns without waiting for the drain sees the batch unrun.
	release := blockWorkers(t, p)
	var ran atomic.Int64
	zeropool.SubmitBatchUniform(p, func(*int) { ran.Add(1) }, make([]int, 10000))
	var wg sync.WaitGroup
	early := make(chan int64, 8) // what a Close caller saw run when its Close returned
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
			if got := ran.Load(); got != 10000 {
				early <- got
			}
		}()
	}
	time.Sleep(10 * time.Millisecond) // let the Close calls begin
	release()
	waitGroupBounded(t, &wg, "concurrent Close calls")
	close(early)
	// Every Close returns only after the pool has stopped: each caller
	// checked right after its own Close.
	for got := range early {
		t.Errorf("a Close returned after %d of 10000 tasks had run", got)
	}
	goroutinesBackTo(t, base)
}

func TestSubmitRacingClose(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 30
	}
	base := runtime.NumGoroutine()
	var raced atomic.Int64 // rounds in which some submit was refused
	for range rounds {
		p := zeropool.New(zeropool.WithWorkers(2))
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if v := recover(); v != nil {
						if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
							panic(v)
						}
						raced.Add(1)
					}
				}()
				for range 1000 {
					zeropool.SubmitBatchUniform(p, func(*int) { ran.Add(1) }, make([]int, 3))
					accepted.Add(3) // reached only if the submit was accepted
				}
			}()
		}
		runtime.Gosched()
		closeBounded(t, p)
		waitGroupBounded(t, &wg, "submitters")
		if a, r := accepted.Load(), ran.Load(); a != r {
			t.Fatalf("%d tasks accepted, %d ran: an accepted task was dropped", a, r)
		}
	}
	t.Logf("%d submitters of %d refused by Close", raced.Load(), 4*rounds)
	if raced.Load() == 0 && runtime.GOMAXPROCS(0) > 1 {
		t.Error("no submit ever raced Close: the test tests nothing")
	}
	goroutinesBackTo(t, base)
}

func TestGlobal(t *testing.T) {
	g := zeropool.Global()
	if g != zeropool.Global() {
		t.Fatal("Global returned two pools")
	}
	if g.Workers() < 1 {
		t.Fatalf("Global().Workers() = %d", g.Workers())
	}
	g.Close() // a no-op
	x := 1
	waitBounded(t, zeropool.Submit(g, func(v *int) { *v++ }, &x))
	if x != 2 {
		t.Fatalf("x = %d; want 2", x)
	}
}

func TestWorkers(t *testing.T) {
	if got := newPool(t, zeropool.WithWorkers(3)).Workers(); got != 3 {
		t.Fatalf("Workers() = %d; want 3", got)
	}
	if got := newPool(t).Workers(); got != runtime.GOMAXPROCS(0) {
		t.Fatalf("default Workers() = %d; want GOMAXPROCS %d", got, runtime.GOMAXPROCS(0))
	}
}

func TestBadInputPanics(t *testing.T) {
	p := newPool(t)
	x := 0
	nop := func(*int) {}
	rawNop := func(unsafe.Pointer) {}
	tests := []struct {
		name, want string
		fn         func()
	}{
		{"WithWorkers(0)", "zeropool: WithWorkers(0): a pool needs at least one worker", func() { zeropool.New(zeropool.WithWorkers(0)) }},
		{"WithWorkers(-3)", "zeropool: WithWorkers(-3): a pool needs at least one worker", func() { zeropool.New(zeropool.WithWorkers(-3)) }},
		{"Submit nil fn", "zeropool: Submit: nil func", func() { zeropool.Submit(p, nil, &x) }},
		{"Submit nil params", "zeropool: Submit: nil params", func() { zeropool.Submit(p, nop, nil) }},
		{"SubmitBatchUniform nil fn", "zeropool: SubmitBatchUniform: nil func", func() { zeropool.SubmitBatchUniform[int](p, nil, []int{1}) }},
		{"SubmitRaw nil fn", "zeropool: SubmitRaw: nil func", func() { p.SubmitRaw(nil, unsafe.Pointer(&x)) }},
		{"SubmitRaw nil params", "zeropool: SubmitRaw: nil params", func() { p.SubmitRaw(rawNop, nil) }},
		{"SubmitRawBatch nil fn", "zeropool: SubmitRawBatch: nil func", func() { p.SubmitRawBatch(nil, unsafe.Pointer(&x), 8, 1) }},
		{"SubmitRawBatch n<0", "zeropool: SubmitRawBatch: negative task count", func() { p.SubmitRawBatch(rawNop, unsafe.Pointer(&x), 8, -1) }},
		{"SubmitRawBatch nil base", "zeropool: SubmitRawBatch: nil base with n > 0", func() { p.SubmitRawBatch(rawNop, nil, 8, 2) }},
		{"nil pool", "zeropool: submit to a nil *Pool", func() { zeropool.Submit((*zeropool.Pool)(nil), nop, &x) }},
		{"SubmitRange nil fn", "zeropool: SubmitRange: nil func", func() { zeropool.SubmitRange(p, 10, nil) }},
		{"SubmitRange n<0", "zeropool: SubmitRange: negative n (-1)", func() { zeropool.SubmitRange(p, -1, func(int, int) {}) }},
		{"Go nil", "zeropool: Go: nil func", func() { p.Go(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustPanic(t, tt.fn)
			if got := fmt.Sprint(v); got != tt.want {
				t.Fatalf("panic = %q; want %q", got, tt.want)
			}
		})
	}
	// The pool still works.
	waitBounded(t, zeropool.Submit(p, func(v *int) { *v = 9 }, &x))
	if x != 9 {
		t.Fatalf("x = %d; want 9", x)
	}
}

func TestFIFOWithOneWorker(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var order []int // written by the only worker, read after its last task
	params := make([]int, 200)
	futures := make([]*zeropool.TaskFuture, len(params))
	for i := range params {
		params[i] = i
		futures[i] = zeropool.Submit(p, func(v *int) { order = append(order, *v) }, &params[i])
	}
	release()
	for _, f := range futures {
		mustComplete(t, f) // never runs tasks, so only the worker does
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("task %d ran in position %d: not FIFO (%v)", v, i, order)
		}
	}
	if len(order) != len(params) {
		t.Fatalf("%d tasks ran; want %d", len(order), len(params))
	}
}

// TestChunksBoundedInTime checks how a batch is cut into chunks: a share
// of what is left (a sixth, with two workers) while the time a task takes
// is unknown, and, once a chunk has measured it, nothing longer than the
// chunk budget; every task is claimed exactly once either way. Then it
// checks that running a batch measures its task time.
func TestChunksBoundedInTime(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	const n = 1000
	for _, ns := range []int64{0, 1, 70_000, int64(10 * zeropool.ChunkBudget)} {
		sizes := p.ChunkSizes(n, ns)
		limit, sum := n, 0
		if ns > 0 {
			limit = max(1, int(int64(zeropool.ChunkBudget)/ns))
		}
		for i, k := range sizes {
			if k < 1 || k > limit {
				t.Fatalf("task time %d ns: chunk %d has %d tasks; want 1 to %d", ns, i, k, limit)
			}
			sum += k
		}
		if sum != n {
			t.Fatalf("task time %d ns: chunks cover %d tasks; want %d", ns, sum, n)
		}
		if want := min(n/6, limit); sizes[0] != want {
			t.Fatalf("task time %d ns: first chunk %d tasks; want %d", ns, sizes[0], want)
		}
	}

	const task = 200 * time.Microsecond
	f := zeropool.SubmitBatchUniform(p, func(*int) { time.Sleep(task) }, make([]int, 64))
	mustComplete(t, f)
	if got := zeropool.TaskTime(f); got < task || got > bound {
		t.Fatalf("measured task time %v; want at least %v", got, task)
	}
}
