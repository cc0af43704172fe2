package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// parseError is a task's error type, for errors.As.
type parseError struct{ index int }

func (e *parseError) Error() string { return fmt.Sprintf("bad input at %d", e.index) }

var errLeaf = errors.New("leaf failed")

// errTwins submits n counting tasks, failing at index fail (none if fail
// < 0), through each error twin. Each returns the future and the count of
// every index's runs.
var errTwins = []struct {
	name   string
	submit func(p *zeropool.Pool, runs []atomic.Int32, fail int) *zeropool.TaskFuture
}{
	{"SubmitErr", func(p *zeropool.Pool, runs []atomic.Int32, fail int) *zeropool.TaskFuture {
		return zeropool.SubmitErr(p, func(r *atomic.Int32) error { return countFail(r, runs, fail) }, &runs[0])
	}},
	{"SubmitBatchErr", func(p *zeropool.Pool, runs []atomic.Int32, fail int) *zeropool.TaskFuture {
		return zeropool.SubmitBatchErr(p, func(r *atomic.Int32) error { return countFail(r, runs, fail) }, runs)
	}},
	{"SubmitRangeErr", func(p *zeropool.Pool, runs []atomic.Int32, fail int) *zeropool.TaskFuture {
		return zeropool.SubmitRangeErr(p, len(runs), func(lo, hi int) error {
			var err error
			for i := lo; i < hi; i++ {
				if e := countFail(&runs[i], runs, fail); e != nil {
					err = e
				}
			}
			return err
		})
	}},
	{"GoErr", func(p *zeropool.Pool, runs []atomic.Int32, fail int) *zeropool.TaskFuture {
		return p.GoErr(func() error { return countFail(&runs[0], runs, fail) })
	}},
}

// countFail counts a run of the task whose tally is r, and fails if its
// index in runs is fail.
func countFail(r *atomic.Int32, runs []atomic.Int32, fail int) error {
	r.Add(1)
	if fail >= 0 && r == &runs[fail] {
		return &parseError{fail}
	}
	return nil
}

func twinSize(name string) int {
	if name == "SubmitErr" || name == "GoErr" {
		return 1
	}
	return 1000
}

func TestErrTwinsWithoutErrors(t *testing.T) {
	p := newPool(t)
	for _, tw := range errTwins {
		t.Run(tw.name, func(t *testing.T) {
			runs := make([]atomic.Int32, twinSize(tw.name))
			v, err := waitErrBounded(t, tw.submit(p, runs, -1))
			if err != nil || v != nil {
				t.Fatalf("Wait = %v, panicked with %v; want nil", err, v)
			}
			for i := range runs {
				if c := runs[i].Load(); c != 1 {
					t.Fatalf("task %d ran %d times; want 1", i, c)
				}
			}
		})
	}
	if f := zeropool.SubmitBatchErr[int](p, func(*int) error { return errLeaf }, nil); !f.IsComplete() || f.Wait() != nil {
		t.Fatal("an empty SubmitBatchErr is not a completed future with no error")
	}
	if f := zeropool.SubmitRangeErr(p, 0, func(int, int) error { return errLeaf }); !f.IsComplete() || f.Wait() != nil {
		t.Fatal("an empty SubmitRangeErr is not a completed future with no error")
	}
}

func TestErrReported(t *testing.T) {
	var handled atomic.Int32
	p := newPool(t, zeropool.WithPanicHandler(func(*zeropool.PanicError) { handled.Add(1) }))
	for _, tw := range errTwins {
		t.Run(tw.name, func(t *testing.T) {
			runs := make([]atomic.Int32, twinSize(tw.name))
			fail := len(runs) / 2
			f := tw.submit(p, runs, fail)
			v, err := waitErrBounded(t, f)
			if v != nil {
				t.Fatalf("Wait panicked with %v; want it to return the error", v)
			}
			for what, e := range map[string]error{"Wait": err, "Err": f.Err(), "WaitContext": f.WaitContext(boundCtx(t))} {
				var pe *parseError
				if !errors.As(e, &pe) || pe.index != fail {
					t.Fatalf("%s = %v; want the task's *parseError at %d", what, e, fail)
				}
				if !errors.Is(e, pe) {
					t.Fatalf("%s = %v: errors.Is does not reach the task's error", what, e)
				}
			}
		})
	}
	wrapped := fmt.Errorf("parsing: %w", errLeaf)
	f := p.GoErr(func() error { return wrapped })
	if _, err := waitErrBounded(t, f); err != wrapped || !errors.Is(f.Err(), errLeaf) {
		t.Fatalf("Wait = %v; want the task's own error, which wraps errLeaf", err)
	}
	if n := handled.Load(); n != 0 {
		t.Fatalf("the panic handler was called %d times for errors; want 0", n)
	}
}

// TestBatchErrStopsAtK: with the only worker held, the waiter runs the
// batch alone and in order, so a failure at task k leaves exactly tasks
// 0..k run.
func TestBatchErrStopsAtK(t *testing.T) {
	const n = 1000
	for _, k := range []int{0, 1, 499, n - 1} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(1))
			blockWorkers(t, p)
			var order []int // only the waiter runs tasks: no race
			params := make([]int, n)
			for i := range params {
				params[i] = i
			}
			f := zeropool.SubmitBatchErr(p, func(i *int) error {
				order = append(order, *i)
				if *i == k {
					return &parseError{k}
				}
				return nil
			}, params)
			v, err := waitErrBounded(t, f)
			var pe *parseError
			if v != nil || !errors.As(err, &pe) || pe.index != k {
				t.Fatalf("Wait = %v, panicked with %v; want the error of task %d", err, v, k)
			}
			if len(order) != k+1 {
				t.Fatalf("%d tasks ran; want exactly %d (0..%d)", len(order), k+1, k)
			}
			for i, got := range order {
				if got != i {
					t.Fatalf("task %d ran in place %d; want order 0..%d", got, i, k)
				}
			}
		})
	}
}

// TestRangeErrStopsAtFailingChunk: no chunk starts after a chunk failed.
// With the only worker held, the waiter runs the chunks in order, so the
// failing chunk is the last one called.
func TestRangeErrStopsAtFailingChunk(t *testing.T) {
	const n = 1 << 16
	for _, bad := range []int{0, n / 3, n - 1} {
		p := newPool(t, zeropool.WithWorkers(1))
		blockWorkers(t, p)
		var chunks [][2]int
		f := zeropool.SubmitRangeErr(p, n, func(lo, hi int) error {
			chunks = append(chunks, [2]int{lo, hi})
			if lo <= bad && bad < hi {
				return &parseError{bad}
			}
			return nil
		})
		_, err := waitErrBounded(t, f)
		if !errors.As(err, new(*parseError)) {
			t.Fatalf("bad=%d: Wait = %v; want the chunk's error", bad, err)
		}
		last := chunks[len(chunks)-1]
		if !(last[0] <= bad && bad < last[1]) {
			t.Fatalf("bad=%d: chunks %v ran after the failing one", bad, chunks)
		}
		for i, c := range chunks[:len(chunks)-1] {
			if c[0] <= bad && bad < c[1] || c[1] != chunks[i+1][0] {
				t.Fatalf("bad=%d: chunks %v are not the prefix up to the failing one", bad, chunks)
			}
		}
	}
}

// TestBatchErrStopsUnderLoad: once an error is recorded, a million-task
// batch starts at most one more task per other runner (the one it had
// already looked for), though the first chunks claimed hold a tenth of the
// batch each: the runners look before every task, not only before every
// claim. The error comes late enough (some milliseconds in) for every
// runner to be inside a chunk by then.
//
// The count is of tasks that see the error at their start, not of all
// tasks started: the goroutine that returned the error may be preempted
// before it stops the batch, and the others run on meanwhile.
func TestBatchErrStopsUnderLoad(t *testing.T) {
	const n, failAt, workers, waiters = 1 << 20, 1 << 17, 4, 2
	p := newPool(t, zeropool.WithWorkers(workers))
	var self atomic.Pointer[zeropool.TaskFuture]
	var started, late atomic.Int64
	errAt := &parseError{failAt} // made here: an allocation in the task could yield
	f := zeropool.SubmitBatchErr(p, func(*struct{}) error {
		if f := self.Load(); f != nil && f.Err() != nil {
			late.Add(1)
		}
		if started.Add(1) == failAt {
			return errAt
		}
		spin(20) // a little work, so that runners overlap
		return nil
	}, make([]struct{}, n))
	self.Store(f)
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() { defer wg.Done(); _ = f.Wait() }()
	}
	waitGroupBounded(t, &wg, "waiters")
	if f.Err() != errAt {
		t.Fatalf("Err = %v; want the task's error", f.Err())
	}
	if got, most := late.Load(), int64(workers+waiters-1); got > most {
		t.Fatalf("%d tasks started after the error was recorded; want at most %d, one per other runner", got, most)
	}
	t.Logf("%d tasks started of %d, the error at the %dth; %d saw it at their start", started.Load(), n, failAt, late.Load())
}

// twoRunning submits a batch of two tasks on two workers, each task
// started before either goes on: first(f) and second(f) run in parallel.
func twoRunning(t *testing.T, p *zeropool.Pool, first, second func(f *zeropool.TaskFuture) error) *zeropool.TaskFuture {
	var self atomic.Pointer[zeropool.TaskFuture]
	var both sync.WaitGroup
	both.Add(2)
	ready := make(chan struct{})
	f := zeropool.SubmitBatchErr(p, func(i *int) error {
		both.Done()
		both.Wait()
		<-ready
		if *i == 0 {
			return first(self.Load())
		}
		return second(self.Load())
	}, []int{0, 1})
	self.Store(f)
	close(ready)
	if err := f.WaitContext(boundCtx(t)); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the two tasks did not finish")
	}
	return f
}

// failedAfter waits, inside a task, until f has a failure, then returns
// fail's result; past bound it returns errLate, which the test reports.
func failedAfter(f *zeropool.TaskFuture, fail func() error) error {
	deadline := time.Now().Add(bound)
	for f.Err() == nil {
		if time.Now().After(deadline) {
			return errLate
		}
		runtime.Gosched()
	}
	return fail()
}

var errLate = errors.New("the other task never failed")

func TestFirstFailureStands(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	t.Run("error-then-panic", func(t *testing.T) {
		f := twoRunning(t, p,
			func(*zeropool.TaskFuture) error { return errLeaf },
			func(f *zeropool.TaskFuture) error { return failedAfter(f, func() error { panic("late") }) })
		if v, err := waitErrBounded(t, f); err != errLeaf || v != nil {
			t.Fatalf("Wait = %v, panicked with %v; want errLeaf, the first failure", err, v)
		}
	})
	t.Run("panic-then-error", func(t *testing.T) {
		f := twoRunning(t, p,
			func(*zeropool.TaskFuture) error { panic("first") },
			func(f *zeropool.TaskFuture) error { return failedAfter(f, func() error { return errLeaf }) })
		v, _ := waitErrBounded(t, f)
		if pe, ok := v.(*zeropool.PanicError); !ok || pe.Value != "first" {
			t.Fatalf("Wait panicked with %v; want the panic, the first failure", v)
		}
		if err := f.WaitContext(boundCtx(t)); errors.Is(err, errLeaf) || !errors.As(err, new(*zeropool.PanicError)) {
			t.Fatalf("WaitContext = %v; want the panic", err)
		}
	})
	t.Run("error-then-Cancel", func(t *testing.T) {
		f := twoRunning(t, p,
			func(*zeropool.TaskFuture) error { return errLeaf },
			func(f *zeropool.TaskFuture) error { return failedAfter(f, func() error { f.Cancel(); return nil }) })
		f.Cancel()
		if _, err := waitErrBounded(t, f); err != errLeaf {
			t.Fatalf("Wait = %v; want errLeaf, the first failure", err)
		}
	})
	t.Run("Cancel-then-error", func(t *testing.T) {
		q := newPool(t, zeropool.WithWorkers(1))
		running, canceled := make(chan struct{}), make(chan struct{})
		var ran atomic.Int32
		f := zeropool.SubmitBatchErr(q, func(i *int) error {
			ran.Add(1)
			if *i == 0 {
				close(running)
				<-canceled
			}
			return errLeaf
		}, make([]int, 100))
		select {
		case <-running:
		case <-time.After(bound):
			close(canceled)
			lost(t, "task 0 did not start")
		}
		f.Cancel() // skips the tasks no one claimed
		close(canceled)
		if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrCanceled) {
			t.Fatalf("Wait = %v; want ErrCanceled, the first failure", err)
		}
		// The worker's chunk holds more than task 0; Cancel stopped those
		// too, since the runner of an error batch looks before each task.
		if n := ran.Load(); n != 1 {
			t.Fatalf("%d tasks ran; want 1 (task 0, running at the Cancel)", n)
		}
	})
}

func TestManyWaitersSeeTheError(t *testing.T) {
	p := newPool(t)
	gate := make(chan struct{})
	f := zeropool.SubmitBatchErr(p, func(i *int) error {
		<-gate
		if *i == 7 {
			return &parseError{7}
		}
		return nil
	}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	const waiters = 16
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- f.Wait() }()
	}
	close(gate)
	for range waiters {
		select {
		case err := <-errs:
			if !errors.As(err, new(*parseError)) {
				t.Fatalf("a waiter's Wait = %v; want the task's error", err)
			}
		case <-time.After(bound):
			lost(t, "a waiter did not return")
		}
	}
}

// TestNestedGoErrOnOneWorker: a chain of GoErr, each waiting on the next,
// on one worker; the leaf's error travels up through every Wait.
func TestNestedGoErrOnOneWorker(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	var level func(d int) error
	level = func(d int) error {
		if d == 0 {
			return errLeaf
		}
		if err := p.GoErr(func() error { return level(d - 1) }).Wait(); err != nil {
			return fmt.Errorf("level %d: %w", d, err)
		}
		return nil
	}
	v, err := waitErrBounded(t, p.GoErr(func() error { return level(100) }))
	if v != nil || !errors.Is(err, errLeaf) {
		t.Fatalf("Wait = %v, panicked with %v; want an error wrapping errLeaf", err, v)
	}
}

func TestErrTwinsAllocs(t *testing.T) {
	// With the workers held, every Wait runs its own tasks and never
	// sleeps (a sleeping waiter allocates its channel), so the counts
	// are the submissions' own.
	p := newPool(t)
	blockWorkers(t, p)
	var x uint64
	set := func(p *uint64) { *p = 42 }
	setErr := func(p *uint64) error { *p = 42; return nil }
	// Averages over many runs, so a single task's share of a block shows
	// (AllocsPerRun truncates to whole allocations).
	per := func(fn func()) float64 {
		const runs = 2480
		return testing.AllocsPerRun(1, func() {
			for range runs {
				fn()
			}
		}) / runs
	}
	sub, subErr := per(func() { zeropool.Submit(p, set, &x).Wait() }), per(func() { _ = zeropool.SubmitErr(p, setErr, &x).Wait() })
	if subErr > sub+0.005 {
		t.Fatalf("SubmitErr allocates %.4f per call; Submit %.4f", subErr, sub)
	}
	closure := func() { x = 42 }
	closureErr := func() error { x = 42; return nil }
	goA, goErr := per(func() { p.Go(closure).Wait() }), per(func() { _ = p.GoErr(closureErr).Wait() })
	if goErr > goA+0.005 {
		t.Fatalf("GoErr allocates %.4f per call; Go %.4f", goErr, goA)
	}
	for _, n := range []int{10, 1000, 1 << 20} {
		data := make([]uint64, n)
		a := testing.AllocsPerRun(20, func() { _ = zeropool.SubmitBatchErr(p, setErr, data).Wait() })
		r := testing.AllocsPerRun(20, func() { _ = zeropool.SubmitRangeErr(p, n, func(lo, hi int) error { return nil }).Wait() })
		if a > 3 || r > 3 {
			t.Fatalf("n=%d: SubmitBatchErr allocates %v, SubmitRangeErr %v times; want at most 3", n, a, r)
		}
	}
	t.Logf("per call: Submit %.4f SubmitErr %.4f Go %.4f GoErr %.4f", sub, subErr, goA, goErr)
}

func TestErrTwinsBadInputAndClosed(t *testing.T) {
	p := newPool(t)
	ok := func(*int) error { return nil }
	cases := []struct {
		want string
		call func()
	}{
		{"zeropool: SubmitErr: nil func", func() { zeropool.SubmitErr[int](p, nil, new(int)) }},
		{"zeropool: SubmitErr: nil params", func() { zeropool.SubmitErr(p, ok, nil) }},
		{"zeropool: SubmitBatchErr: nil func", func() { zeropool.SubmitBatchErr[int](p, nil, make([]int, 3)) }},
		{"zeropool: SubmitRangeErr: nil func", func() { zeropool.SubmitRangeErr(p, 3, nil) }},
		{"zeropool: SubmitRangeErr: negative n (-1)", func() { zeropool.SubmitRangeErr(p, -1, func(int, int) error { return nil }) }},
		{"zeropool: GoErr: nil func", func() { p.GoErr(nil) }},
	}
	for _, c := range cases {
		if v := mustPanic(t, c.call); v != c.want {
			t.Fatalf("panicked with %v; want %q", v, c.want)
		}
	}
	mustComplete(t, zeropool.SubmitErr(p, ok, new(int))) // still serving
	closeBounded(t, p)
	for name, call := range map[string]func(){
		"SubmitErr":      func() { zeropool.SubmitErr(p, ok, new(int)) },
		"SubmitBatchErr": func() { zeropool.SubmitBatchErr(p, ok, make([]int, 3)) },
		"SubmitRangeErr": func() { zeropool.SubmitRangeErr(p, 3, func(int, int) error { return nil }) },
		"GoErr":          func() { p.GoErr(func() error { return nil }) },
	} {
		v := mustPanic(t, call)
		if err, isErr := v.(error); !isErr || !errors.Is(err, zeropool.ErrClosed) {
			t.Fatalf("%s after Close panicked with %v; want an error wrapping ErrClosed", name, v)
		}
	}
}

// TestContextRecipe: context.AfterFunc(ctx, f.Cancel) skips f's unclaimed
// tasks once ctx ends, and Wait still waits for the running ones.
func TestContextRecipe(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan struct{})
	var ran, finished atomic.Int32
	f := zeropool.SubmitBatchErr(p, func(i *int) error {
		if ran.Add(1) == 1 {
			close(running)
			<-ctx.Done() // the running task sees the context end, and finishes
			time.Sleep(time.Millisecond)
		}
		finished.Add(1)
		return nil
	}, make([]int, 100))
	stop := context.AfterFunc(ctx, f.Cancel)
	defer stop()
	select {
	case <-running:
	case <-time.After(bound):
		lost(t, "no task started")
	}
	cancel()
	// AfterFunc calls Cancel on a goroutine of its own: until it has,
	// this goroutine's Wait would run the unclaimed tasks itself.
	pollUntil(t, time.Now().Add(bound), func() bool { return f.Err() != nil }, func() string { return "Cancel did not run when ctx ended" })
	_, err := waitErrBounded(t, f)
	if !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("Wait = %v; want ErrCanceled", err)
	}
	if r, fin := ran.Load(), finished.Load(); r != fin || r >= 100 {
		t.Fatalf("%d tasks started, %d finished, when Wait returned; want every started one finished, and the rest skipped", r, fin)
	}
}
