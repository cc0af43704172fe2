package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// fuzzFuture is one submission made by FuzzPool and what it must show.
type fuzzFuture struct {
	f       *zeropool.TaskFuture
	tallies []tally // each task's run count; every one must end at 1
	failing bool    // a task panics or calls Goexit: Err must be set
	goexit  bool    // a task calls Goexit: never Wait on it here
	nilPan  bool    // the failing task panics with nil
	loose   bool    // tasks may have been skipped (canceled, a range chunk that failed, an error): at most once
	cancel  bool    // Cancel was called: Err may be ErrCanceled
	errs    bool    // a task returns errFuzz: Err must be it, unless Cancel came first
}

// errFuzz is what FuzzPool's failing error tasks return.
var errFuzz = errors.New("fuzz error")

// Submission kinds FuzzPool makes.
const (
	kindTasks    = iota // Submit for one task, else SubmitBatchUniform
	kindRange           // SubmitRange, a tally per index
	kindGo              // Pool.Go, one closure
	kindTasksErr        // SubmitErr for one task, else SubmitBatchErr
	kindRangeErr        // SubmitRangeErr
	kindGoErr           // Pool.GoErr
)

// fuzzLoop runs one of the loops that wait (For, ForErr, ForEach, Map,
// MapErr, Reduce; by arg) over up to 3000 indices, from the fuzz goroutine
// or, when arg is odd, from inside a task of p, and checks it at once:
// every index ran exactly once (at most once after an error), the panic,
// error or ErrClosed it must report, Map's order and Reduce's sum.
//
// With quiet, nothing fails: a panic handler that ends its goroutine (op
// 15) would end the one that runs a loop's chunk inline, the fuzz
// goroutine itself, as it may end any goroutine in Wait.
func fuzzLoop(t *testing.T, p *zeropool.Pool, arg int, handOff, closed, quiet bool) {
	n := arg * 29 % 3000
	failing := arg%3 == 0 && n > 0 && !quiet
	bad := 0
	if n > 0 {
		bad = arg * 7 % n
	}
	ts := make([]tally, n)
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	hit := func(i int) bool { ts[i].runs.Add(1); return failing && i == bad }
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if hit(i) {
				panic("fuzz")
			}
		}
	}
	bodyErr := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			if hit(i) {
				return errFuzz
			}
		}
		return nil
	}
	each := func(tl *tally) { body(indexOf(ts, tl), indexOf(ts, tl)+1) }
	mapFn := func(x *int) int { body(*x, *x+1); return *x * 2 }
	mapErrFn := func(x *int) (int, error) { return *x * 2, bodyErr(*x, *x+1) }
	sum := func(lo, hi int) int {
		body(lo, hi)
		return (lo + hi - 1) * (hi - lo) / 2
	}
	est := 1e-6
	if handOff {
		est = 1e6
	}
	for _, fn := range []any{body, bodyErr, each, mapFn, mapErrFn, sum} {
		switch f := fn.(type) {
		case func(lo, hi int):
			zeropool.SetLoopEstimate(f, est)
		case func(lo, hi int) error:
			zeropool.SetLoopEstimate(f, est)
		case func(*tally):
			zeropool.SetLoopEstimate(f, est)
		case func(*int) int:
			zeropool.SetLoopEstimate(f, est)
		case func(*int) (int, error):
			zeropool.SetLoopEstimate(f, est)
		case func(lo, hi int) int:
			zeropool.SetLoopEstimate(f, est)
		}
	}
	kind := arg % 6
	var err error
	run := func() {
		switch kind {
		case 0:
			zeropool.For(p, n, body)
		case 1:
			err = zeropool.ForErr(p, n, bodyErr)
		case 2:
			zeropool.ForEach(p, ts, each)
		case 3:
			out := zeropool.Map(p, in, mapFn)
			for i, v := range out {
				if v != 2*i {
					t.Errorf("Map: out[%d] = %d; want %d", i, v, 2*i)
				}
			}
		case 4:
			var out []int
			out, err = zeropool.MapErr(p, in, mapErrFn)
			if err == nil && len(out) != n || err != nil && out != nil {
				t.Errorf("MapErr returned %d results with %v", len(out), err)
			}
		case 5:
			if got := zeropool.Reduce(p, n, sum, func(a, b int) int { return a + b }); got != n*(n-1)/2 {
				t.Errorf("Reduce = %d; want %d", got, n*(n-1)/2)
			}
		}
	}
	var v any
	if arg%2 == 1 && !closed {
		f := p.Go(run)
		v, _ = waitErrBounded(t, f)
		if pe, ok := v.(*zeropool.PanicError); ok {
			v = pe.Value // the loop's own panic, carried by the task's
		}
	} else {
		v = callBounded(t, run)
	}
	if closed {
		if e, ok := v.(error); !ok || !errors.Is(e, zeropool.ErrClosed) {
			t.Fatalf("loop %d on a closed pool panicked with %v; want ErrClosed", kind, v)
		}
		return
	}
	errKind := kind == 1 || kind == 4
	if pe, ok := v.(*zeropool.PanicError); failing && !errKind && (!ok || pe.Value != "fuzz") || (!failing || errKind) && v != nil {
		t.Fatalf("loop %d (failing=%v) panicked with %v", kind, failing, v)
	}
	if failing && errKind != (err == errFuzz) || !failing && err != nil {
		t.Fatalf("loop %d (failing=%v) returned %v", kind, failing, err)
	}
	for i := range ts {
		c := ts[i].runs.Load()
		switch {
		case c > 1:
			t.Fatalf("loop %d: index %d ran %d times", kind, i, c)
		case c == 0 && !(failing && (errKind || kind == 0 || kind == 5)):
			t.Fatalf("loop %d: index %d never ran", kind, i)
		}
	}
}

// FuzzPool decodes bytes into a sequence of operations on a pool (submit a
// task, a batch, a range or a closure, or their error twins, with or
// without a failing task; run a loop that waits, inline or handed out;
// wait in each way; cancel; nest; close) and checks the invariants
// afterwards: every accepted task ran exactly once (at most once where
// Cancel or a failing range chunk skipped some), every future completed,
// every panic, Goexit and error reached its future, a submit after Close panicked
// with ErrClosed, and no goroutine was left behind.
func FuzzPool(f *testing.F) {
	f.Add([]byte{0, 0, 1, 10, 2, 3, 4})
	f.Add([]byte{1, 5, 1, 200, 6, 2, 7, 3, 8, 0})
	f.Add([]byte{2, 7, 7, 7, 1, 0, 1, 1, 2, 4, 5})
	f.Add([]byte{0, 6, 6, 1, 255, 3, 8, 1, 3})
	f.Add([]byte{1, 9, 40, 2, 9, 41, 10, 11, 2, 9, 99, 11, 4, 8})
	f.Add([]byte{2, 1, 120, 11, 10, 11, 9, 7, 3, 2, 8, 10})
	f.Add([]byte{1, 12, 41, 2, 12, 40, 13, 0, 2, 13, 5, 11, 13, 7, 12, 9, 8, 12})
	f.Add([]byte{0, 14, 9, 2, 15, 5, 3, 2, 6, 4, 2, 14, 30, 15, 14, 7, 2, 8})
	f.Add([]byte{2, 15, 6, 9, 4, 14, 1, 0, 6, 9, 7, 3, 11, 2})
	f.Add([]byte{1, 16, 40, 16, 7, 17, 33, 17, 8, 5, 3, 8, 16, 1})
	f.Add([]byte{1, 18, 0, 18, 7, 19, 18, 9, 18, 10, 18, 33, 0, 18, 4, 8, 18, 5})
	f.Add([]byte{0, 19, 18, 3, 18, 1, 18, 2, 19, 18, 5, 18, 30, 18, 31, 18, 11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		base := runtime.NumGoroutine()
		// Op 15 turns on a panic handler that ends its goroutine, as
		// t.Fatal in a handler would.
		var handlerExits atomic.Bool
		p := zeropool.New(zeropool.WithWorkers(1+int(ops[0])%3), zeropool.WithPanicHandler(func(*zeropool.PanicError) {
			if handlerExits.Load() {
				runtime.Goexit()
			}
		}))
		var subs []*fuzzFuture
		var submitHow func(kind, n int, special func(i int) bool, goexit, nilPan bool)
		closed := false
		last := func() *fuzzFuture {
			if len(subs) == 0 {
				return nil
			}
			return subs[len(subs)-1]
		}
		submit := func(kind, n int, special func(i int) bool, goexit bool) {
			submitHow(kind, n, special, goexit, false)
		}
		submitHow = func(kind, n int, special func(i int) bool, goexit, nilPan bool) {
			s := &fuzzFuture{tallies: make([]tally, n), goexit: goexit, nilPan: nilPan}
			errKind := kind >= kindTasksErr
			run := func(i int) error {
				s.tallies[i].runs.Add(1)
				if special != nil && special(i) {
					if errKind {
						return errFuzz
					}
					if goexit {
						runtime.Goexit()
					}
					if nilPan {
						panic(nil)
					}
					panic("fuzz")
				}
				return nil
			}
			runRange := func(lo, hi int) error {
				for i := lo; i < hi; i++ {
					if err := run(i); err != nil {
						return err
					}
				}
				return nil
			}
			fn := func(tl *tally) { _ = run(indexOf(s.tallies, tl)) }
			fnErr := func(tl *tally) error { return run(indexOf(s.tallies, tl)) }
			failing := special != nil && n > 0
			s.failing = failing && !errKind
			s.errs = failing && errKind
			s.loose = s.failing && kind == kindRange || s.errs
			defer func() {
				if v := recover(); v != nil {
					err, ok := v.(error)
					if !closed || !ok || !errors.Is(err, zeropool.ErrClosed) {
						t.Fatalf("submit panicked with %v (closed=%v)", v, closed)
					}
				}
			}()
			switch {
			case kind == kindRange:
				s.f = zeropool.SubmitRange(p, n, func(lo, hi int) { _ = runRange(lo, hi) })
			case kind == kindRangeErr:
				s.f = zeropool.SubmitRangeErr(p, n, runRange)
			case kind == kindGo:
				s.f = p.Go(func() { _ = run(0) })
			case kind == kindGoErr:
				s.f = p.GoErr(func() error { return run(0) })
			case kind == kindTasksErr && n == 1:
				s.f = zeropool.SubmitErr(p, fnErr, &s.tallies[0])
			case kind == kindTasksErr:
				s.f = zeropool.SubmitBatchErr(p, fnErr, s.tallies)
			case n == 1:
				s.f = zeropool.Submit(p, fn, &s.tallies[0])
			default:
				s.f = zeropool.SubmitBatchUniform(p, fn, s.tallies)
			}
			if closed {
				t.Fatal("submit after Close did not panic")
			}
			subs = append(subs, s)
		}
		handOff := false // loops of op 18 are handed out before their first index
		for i := 1; i < len(ops); i++ {
			op := ops[i] % 20
			arg := 0
			if i+1 < len(ops) {
				arg = int(ops[i+1])
			}
			switch op {
			case 0:
				submit(kindTasks, 1, nil, false)
			case 1:
				submit(kindTasks, arg*37%2000, nil, false)
				i++
			case 2: // Wait, or WaitContext where Wait could run a Goexit here
				if s := last(); s != nil {
					if s.goexit || s.failing && handlerExits.Load() {
						_ = s.f.WaitContext(boundCtx(t)) // its end is reported as lost
					} else {
						v := waitBounded(t, s.f)
						if (v != nil) != s.failing && !s.cancel {
							t.Fatalf("Wait panicked with %v; failing=%v", v, s.failing)
						}
					}
				}
			case 3:
				if s := last(); s != nil {
					s.f.WaitTimeout(time.Duration(arg) * time.Microsecond)
				}
			case 4:
				if s := last(); s != nil {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					if err := s.f.WaitContext(ctx); err != nil && !errors.Is(err, context.Canceled) && !s.failing && !s.cancel && !s.errs {
						t.Fatalf("WaitContext = %v", err)
					}
				}
			case 5:
				k := 1 + arg%50
				submit(kindTasks, k, func(i int) bool { return i == arg%k }, false)
				i++
			case 6:
				k := 1 + arg%50
				submit(kindTasks, k, func(i int) bool { return i == arg%k }, true)
				i++
			case 7: // nested: a task submits to the pool and waits
				if closed {
					submit(kindTasks, 1, nil, false)
					break
				}
				child := make([]tally, 1+arg%20)
				s := &fuzzFuture{tallies: make([]tally, 1)}
				s.f = zeropool.Submit(p, func(tl *tally) {
					zeropool.SubmitBatchUniform(p, count, child).Wait()
					tl.runs.Add(1)
				}, &s.tallies[0])
				subs = append(subs, s, &fuzzFuture{f: s.f, tallies: child})
				// Let it finish before any Close: a nested submit during
				// Close panics with ErrClosed, as it should, and that is
				// not what this op is here to check.
				mustComplete(t, s.f)
				i++
			case 8:
				closeBounded(t, p)
				closed = true
			case 9: // a range, failing at one index when arg is odd
				n := arg * 53 % 5000
				var special func(int) bool
				if arg%2 == 1 && n > 0 {
					special = func(i int) bool { return i == arg%n }
				}
				submit(kindRange, n, special, false)
				i++
			case 10:
				submit(kindGo, 1, nil, false)
			case 11:
				if s := last(); s != nil {
					s.f.Cancel()
					s.cancel, s.loose = true, true
				}
			case 12: // error tasks, one failing when arg is odd
				k := 1 + arg%50
				var special func(int) bool
				if arg%2 == 1 {
					special = func(i int) bool { return i == arg/2%k }
				}
				submit(kindTasksErr, k, special, false)
				i++
			case 13: // an error range, or an error closure; failing when arg%4 < 2
				var special func(int) bool
				if arg%2 == 0 {
					if arg%4 == 0 {
						special = func(int) bool { return true }
					}
					submit(kindGoErr, 1, special, false)
				} else {
					n := arg * 53 % 5000
					if arg%4 == 1 && n > 0 {
						special = func(i int) bool { return i == arg%n }
					}
					submit(kindRangeErr, n, special, false)
				}
				i++
			case 14: // a batch whose task panics with nil: with
				// GODEBUG=panicnil=1, recover returns nil as for a Goexit
				k := 1 + arg%50
				submitHow(kindTasks, k, func(i int) bool { return i%4 == arg%min(k, 4) }, false, true)
				i++
			case 15:
				handlerExits.Store(true)
			case 16, 17: // a group of k tasks, one failing when arg is odd;
				// 17 runs it inside a task of the pool, which waits
				k := 1 + arg%40
				fail := -1
				if arg%2 == 1 {
					fail = arg / 2 % k
				}
				if op == 17 && !closed {
					var inner error
					mustComplete(t, p.Go(func() { inner = fuzzGroup(t, p, k, fail, true) }))
					if inner != nil {
						t.Fatal(inner)
					}
				} else if closed {
					v := mustPanic(t, func() { p.NewGroup().Go(func() error { return nil }) })
					if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
						t.Fatalf("Group.Go on a closed pool panicked with %v", v)
					}
				} else if err := fuzzGroup(t, p, k, fail, false); err != nil {
					t.Fatal(err)
				}
				i++
			case 18: // a loop that waits, from here or from a task; failing when arg%3 == 0
				fuzzLoop(t, p, arg, handOff, closed, handlerExits.Load())
				i++
			case 19:
				handOff = !handOff
			}
		}
		closeBounded(t, p)
		for _, s := range subs {
			if !s.f.IsComplete() {
				t.Fatal("a future is not complete after Close")
			}
			if s.loose {
				for i := range s.tallies {
					if c := s.tallies[i].runs.Load(); c > 1 {
						t.Fatalf("fuzz: task %d ran %d times", i, c)
					}
				}
			} else {
				checkOnce(t, "fuzz", s.tallies)
			}
			switch err := s.f.Err(); {
			case s.cancel && errors.Is(err, zeropool.ErrCanceled):
				// Cancel skipped tasks before any failed.
			case s.errs:
				if err != errFuzz {
					t.Fatalf("Err = %v on a future whose task returned errFuzz", err)
				}
			case s.failing:
				var pe *zeropool.PanicError
				if !errors.As(err, &pe) {
					t.Fatalf("failing future has Err %v", s.f.Err())
				}
				if s.goexit != errors.Is(pe, zeropool.ErrGoexit) {
					t.Fatalf("Err = %v; goexit=%v", pe.Value, s.goexit)
				}
			case err != nil:
				t.Fatalf("Err = %v on a future with no failing task", err)
			}
		}
		v := mustPanic(t, func() { zeropool.Submit(p, count, new(tally)) })
		if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
			t.Fatalf("submit after Close panicked with %v; want an error wrapping ErrClosed", v)
		}
		goroutinesBackTo(t, base)
	})
}

func indexOf(ts []tally, t *tally) int {
	for i := range ts {
		if &ts[i] == t {
			return i
		}
	}
	return -1
}

// fuzzGroup runs k tasks in a group of p, task fail returning errFuzz
// (none if fail < 0), and reports what broke the group's contract: a task
// run twice, one not run without a failure, or the wrong error from Wait.
// inTask: it runs in a task of p, which calls Wait itself (the caller's
// wait on that task is bounded).
func fuzzGroup(t *testing.T, p *zeropool.Pool, k, fail int, inTask bool) error {
	g := p.NewGroup()
	ts := make([]tally, k)
	for i := range ts {
		g.Go(func() error {
			ts[i].runs.Add(1)
			if i == fail {
				return errFuzz
			}
			return nil
		})
	}
	var err error
	if inTask {
		err = g.Wait()
	} else {
		_, err = groupWaitBounded(t, g)
	}
	switch {
	case fail >= 0 && err != errFuzz:
		return fmt.Errorf("group Wait = %v; want errFuzz", err)
	case fail < 0 && err != nil:
		return fmt.Errorf("group Wait = %v; want nil", err)
	}
	for i := range ts {
		if n := ts[i].runs.Load(); n > 1 || n == 0 && fail < 0 {
			return fmt.Errorf("group task %d ran %d times", i, n)
		}
	}
	return nil
}
