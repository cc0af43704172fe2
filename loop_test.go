package zeropool_test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// loopModes sets how a loop body's next call runs: wholly inline (an
// estimate too small to be worth a wake-up), handed to the pool before its
// first index (an estimate far above it), or measured from scratch.
var loopModes = []struct {
	name string
	set  func(fn any)
}{
	{"inline", func(fn any) { setEstimate(fn, 1e-6) }},
	{"handoff", func(fn any) { setEstimate(fn, 1e6) }},
	{"measured", func(fn any) { forgetEstimate(fn) }},
	// 3 ns an index: loops of 333 to 6666 indices take the ladder (timed
	// chunks, then the rest inline or handed out), longer ones go out at
	// once, shorter ones run inline.
	{"ladder", func(fn any) { setEstimate(fn, 3) }},
}

func setEstimate(fn any, ns float64) {
	switch f := fn.(type) {
	case func(lo, hi int):
		zeropool.SetLoopEstimate(f, ns)
	case func(lo, hi int) error:
		zeropool.SetLoopEstimate(f, ns)
	case func(*tally):
		zeropool.SetLoopEstimate(f, ns)
	case func(*int) int:
		zeropool.SetLoopEstimate(f, ns)
	case func(*int) (int, error):
		zeropool.SetLoopEstimate(f, ns)
	case func(lo, hi int) string:
		zeropool.SetLoopEstimate(f, ns)
	default:
		panic(fmt.Sprintf("setEstimate: %T", fn))
	}
}

func forgetEstimate(fn any) {
	switch f := fn.(type) {
	case func(lo, hi int):
		zeropool.ForgetLoopEstimate(f)
	case func(lo, hi int) error:
		zeropool.ForgetLoopEstimate(f)
	case func(*tally):
		zeropool.ForgetLoopEstimate(f)
	case func(*int) int:
		zeropool.ForgetLoopEstimate(f)
	case func(*int) (int, error):
		zeropool.ForgetLoopEstimate(f)
	case func(lo, hi int) string:
		zeropool.ForgetLoopEstimate(f)
	default:
		panic(fmt.Sprintf("forgetEstimate: %T", fn))
	}
}

// callBounded runs fn on another goroutine and returns what it panicked
// with, reporting a lost task or wake-up if it does not return within
// bound: a loop's caller waits like Wait does.
func callBounded(t testing.TB, fn func()) (panicked any) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		var v any
		defer func() { done <- v }()
		defer func() { v = recover() }()
		fn()
	}()
	select {
	case v := <-done:
		return v
	case <-time.After(bound):
		lost(t, "a loop did not return: a task or a wake-up was lost")
		return nil
	}
}

var loopLens = []int{0, 1, 2, 15, 16, 17, 1000, 1 << 20}

// Every index of [0, n) runs exactly once, for each call and mode.
func TestLoopCoverage(t *testing.T) {
	p := newPool(t)
	for _, m := range loopModes {
		for _, n := range loopLens {
			if testing.Short() && n > 1000 {
				continue
			}
			t.Run(fmt.Sprintf("%s/n=%d", m.name, n), func(t *testing.T) {
				ts := make([]tally, n)
				body := func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ts[i].runs.Add(1)
					}
				}
				m.set(body)
				callBounded(t, func() { zeropool.For(p, n, body) })
				checkOnce(t, "For", ts)

				ts = make([]tally, n)
				bodyErr := func(lo, hi int) error {
					for i := lo; i < hi; i++ {
						ts[i].runs.Add(1)
					}
					return nil
				}
				m.set(bodyErr)
				callBounded(t, func() {
					if err := zeropool.ForErr(p, n, bodyErr); err != nil {
						t.Errorf("ForErr = %v", err)
					}
				})
				checkOnce(t, "ForErr", ts)

				ts = make([]tally, n)
				m.set(count)
				callBounded(t, func() { zeropool.ForEach(p, ts, count) })
				checkOnce(t, "ForEach", ts)

				ts = make([]tally, n)
				in := make([]int, n)
				for i := range in {
					in[i] = i
				}
				var sq func(*int) int = func(x *int) int { ts[*x].runs.Add(1); return *x * 3 }
				m.set(sq)
				var out []int
				callBounded(t, func() { out = zeropool.Map(p, in, sq) })
				checkOnce(t, "Map", ts)
				if len(out) != n {
					t.Fatalf("Map returned %d results; want %d", len(out), n)
				}
				for i, v := range out {
					if v != 3*i {
						t.Fatalf("Map: out[%d] = %d; want %d", i, v, 3*i)
					}
				}

				ts = make([]tally, n)
				var sqErr func(*int) (int, error) = func(x *int) (int, error) { ts[*x].runs.Add(1); return *x + 1, nil }
				m.set(sqErr)
				callBounded(t, func() {
					out, err := zeropool.MapErr(p, in, sqErr)
					if err != nil || len(out) != n {
						t.Errorf("MapErr = %d results, %v; want %d, nil", len(out), err, n)
					}
					for i, v := range out {
						if v != i+1 {
							t.Fatalf("MapErr: out[%d] = %d; want %d", i, v, i+1)
						}
					}
				})
				checkOnce(t, "MapErr", ts)

				ts = make([]tally, n)
				sum := func(lo, hi int) int {
					s := 0
					for i := lo; i < hi; i++ {
						ts[i].runs.Add(1)
						s += i
					}
					return s
				}
				zeropool.SetLoopEstimate(sum, 1e6)
				if m.name == "inline" {
					zeropool.SetLoopEstimate(sum, 1e-6)
				}
				var got int
				callBounded(t, func() { got = zeropool.Reduce(p, n, sum, func(a, b int) int { return a + b }) })
				checkOnce(t, "Reduce", ts)
				if want := n * (n - 1) / 2; got != want {
					t.Fatalf("Reduce = %d; want %d", got, want)
				}
			})
		}
	}
}

// Reduce combines in index order: a combine that is associative but not
// commutative (string concatenation) gives the serial result.
func TestReduceOrder(t *testing.T) {
	p := newPool(t)
	for _, m := range loopModes {
		for _, n := range []int{0, 1, 2, 17, 1000, 20000} {
			t.Run(fmt.Sprintf("%s/n=%d", m.name, n), func(t *testing.T) {
				var want strings.Builder
				for i := range n {
					want.WriteString(strconv.Itoa(i % 10))
				}
				chunk := func(lo, hi int) string {
					var b strings.Builder
					for i := lo; i < hi; i++ {
						b.WriteString(strconv.Itoa(i % 10))
					}
					return b.String()
				}
				m.set(chunk)
				var got string
				callBounded(t, func() {
					got = zeropool.Reduce(p, n, chunk, func(a, b string) string { return a + b })
				})
				if got != want.String() {
					t.Fatalf("Reduce built %q...; want %q...", got[:min(len(got), 40)], want.String()[:min(want.Len(), 40)])
				}
			})
		}
	}
	called := false
	if got := zeropool.Reduce(p, 0, func(lo, hi int) int { called = true; return 7 }, func(a, b int) int { return a + b }); got != 0 || called {
		t.Fatalf("Reduce over 0 indices = %d, fn called %v; want 0, false", got, called)
	}
}

// With one runner, the first error stops the loop: exactly the prefix up
// to the failing chunk ran, and the error is what the call returns.
func TestLoopErrorStopsOneRunner(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	blockWorkers(t, p) // the caller is the only runner
	errStop := errors.New("stop")
	for _, m := range loopModes {
		for _, c := range []struct{ n, fail int }{{5000, 0}, {5000, 1}, {5000, 15}, {5000, 999}, {5000, 4321}, {500, 0}, {500, 7}, {500, 250}, {500, 499}} {
			n, fail := c.n, c.fail
			t.Run(fmt.Sprintf("%s/n=%d/fail=%d", m.name, n, fail), func(t *testing.T) {
				ts := make([]tally, n)
				end := -1 // the end of the failing chunk
				body := func(lo, hi int) error {
					for i := lo; i < hi; i++ {
						ts[i].runs.Add(1)
					}
					if lo <= fail && fail < hi {
						end = hi
						return errStop
					}
					return nil
				}
				m.set(body)
				var err error
				callBounded(t, func() { err = zeropool.ForErr(p, n, body) })
				if err != errStop {
					t.Fatalf("ForErr = %v; want errStop", err)
				}
				for i := range ts {
					if got, want := ts[i].runs.Load(), int32(min(1, max(0, end-i))); got != want {
						t.Fatalf("ForErr failing in the chunk ending at %d: index %d ran %d times; want %d", end, i, got, want)
					}
				}

				ts = make([]tally, n)
				in := make([]int, n)
				for i := range in {
					in[i] = i
				}
				fn := func(x *int) (int, error) {
					ts[*x].runs.Add(1)
					if *x == fail {
						return 0, errStop
					}
					return *x, nil
				}
				m.set(fn)
				var out []int
				callBounded(t, func() { out, err = zeropool.MapErr(p, in, fn) })
				if err != errStop || out != nil {
					t.Fatalf("MapErr = %d results, %v; want nil, errStop", len(out), err)
				}
				for i := range ts {
					if got, want := ts[i].runs.Load(), int32(min(1, max(0, fail+1-i))); got != want {
						t.Fatalf("MapErr failing at %d: element %d ran %d times; want %d", fail, i, got, want)
					}
				}
			})
		}
	}
}

// A panic is re-panicked in the caller as a *PanicError carrying the
// value, after every other chunk (and every other element) has run.
func TestLoopPanics(t *testing.T) {
	var handled atomic.Int32
	p := newPool(t, zeropool.WithPanicHandler(func(*zeropool.PanicError) { handled.Add(1) }))
	const n, bad = 3000, 1234
	check := func(t *testing.T, what string, v any, ts []tally, chunked bool) {
		t.Helper()
		pe, ok := v.(*zeropool.PanicError)
		if !ok || pe.Value != "boom" || len(pe.Stack) == 0 {
			t.Fatalf("%s panicked with %v (%T); want a *PanicError of boom", what, v, v)
		}
		for i := range ts {
			c := ts[i].runs.Load()
			if c != 1 && !(chunked && c == 0 && i > bad) {
				t.Fatalf("%s: index %d ran %d times", what, i, c)
			}
		}
	}
	for _, m := range loopModes {
		t.Run(m.name, func(t *testing.T) {
			ts := make([]tally, n)
			body := func(lo, hi int) {
				for i := lo; i < hi; i++ {
					ts[i].runs.Add(1)
					if i == bad {
						panic("boom")
					}
				}
			}
			m.set(body)
			check(t, "For", callBounded(t, func() { zeropool.For(p, n, body) }), ts, true)

			ts = make([]tally, n)
			bodyErr := func(lo, hi int) error { body(lo, hi); return nil }
			m.set(bodyErr)
			check(t, "ForErr", callBounded(t, func() { _ = zeropool.ForErr(p, n, bodyErr) }), ts, true)

			ts = make([]tally, n)
			each := func(tl *tally) {
				tl.runs.Add(1)
				if tl == &ts[bad] {
					panic("boom")
				}
			}
			m.set(each)
			check(t, "ForEach", callBounded(t, func() { zeropool.ForEach(p, ts, each) }), ts, false)

			ts = make([]tally, n)
			in := make([]int, n)
			for i := range in {
				in[i] = i
			}
			fn := func(x *int) int {
				ts[*x].runs.Add(1)
				if *x == bad {
					panic("boom")
				}
				return *x
			}
			m.set(fn)
			check(t, "Map", callBounded(t, func() { zeropool.Map(p, in, fn) }), ts, false)

			ts = make([]tally, n)
			sum := func(lo, hi int) string { body(lo, hi); return "" }
			m.set(sum)
			check(t, "Reduce", callBounded(t, func() {
				zeropool.Reduce(p, n, sum, func(a, b string) string { return a + b })
			}), ts, true)
		})
	}
	if handled.Load() < 5*int32(len(loopModes)) {
		t.Fatalf("panic handler called %d times; want at least %d", handled.Load(), 5*len(loopModes))
	}
	// The pool still works.
	mustComplete(t, zeropool.SubmitRange(p, 100, func(int, int) {}))
}

func TestLoopBadInput(t *testing.T) {
	p := newPool(t)
	body := func(int, int) {}
	bodyErr := func(int, int) error { return nil }
	sum := func(int, int) int { return 0 }
	add := func(a, b int) int { return a + b }
	id := func(x *int) int { return *x }
	idErr := func(x *int) (int, error) { return *x, nil }
	tests := []struct {
		name, want string
		fn         func()
	}{
		{"For nil fn", "zeropool: For: nil func", func() { zeropool.For(p, 3, nil) }},
		{"For n<0", "zeropool: For: negative n (-1)", func() { zeropool.For(p, -1, body) }},
		{"For nil pool", "zeropool: submit to a nil *Pool", func() { zeropool.For(nil, 3, body) }},
		{"ForErr nil fn", "zeropool: ForErr: nil func", func() { _ = zeropool.ForErr(p, 3, nil) }},
		{"ForErr n<0", "zeropool: ForErr: negative n (-2)", func() { _ = zeropool.ForErr(p, -2, bodyErr) }},
		{"ForEach nil fn", "zeropool: ForEach: nil func", func() { zeropool.ForEach[int](p, []int{1}, nil) }},
		{"Map nil fn", "zeropool: Map: nil func", func() { zeropool.Map[int, int](p, []int{1}, nil) }},
		{"MapErr nil fn", "zeropool: MapErr: nil func", func() { _, _ = zeropool.MapErr[int, int](p, []int{1}, nil) }},
		{"Reduce nil fn", "zeropool: Reduce: nil func", func() { zeropool.Reduce(p, 3, nil, add) }},
		{"Reduce nil combine", "zeropool: Reduce: nil combine", func() { zeropool.Reduce(p, 3, sum, nil) }},
		{"Reduce n<0", "zeropool: Reduce: negative n (-3)", func() { zeropool.Reduce(p, -3, sum, add) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustPanic(t, tt.fn)
			if got := fmt.Sprint(v); got != tt.want {
				t.Fatalf("panic = %q; want %q", got, tt.want)
			}
		})
	}

	// A closed pool: every call panics with ErrClosed, even one so short
	// that it would have run wholly inline, and even over 0 indices.
	zeropool.SetLoopEstimate(body, 1e-6)
	closeBounded(t, p)
	closed := []struct {
		name string
		fn   func()
	}{
		{"For", func() { zeropool.For(p, 3, body) }},
		{"For n=0", func() { zeropool.For(p, 0, body) }},
		{"ForErr", func() { _ = zeropool.ForErr(p, 3, bodyErr) }},
		{"ForEach", func() { zeropool.ForEach(p, []int{1}, func(*int) {}) }},
		{"Map", func() { zeropool.Map(p, []int{1}, id) }},
		{"MapErr", func() { _, _ = zeropool.MapErr(p, []int{1}, idErr) }},
		{"Reduce", func() { zeropool.Reduce(p, 3, sum, add) }},
	}
	for _, tt := range closed {
		t.Run("closed/"+tt.name, func(t *testing.T) {
			v := mustPanic(t, tt.fn)
			err, ok := v.(error)
			if !ok || !errors.Is(err, zeropool.ErrClosed) || err.Error() != "zeropool: pool is closed: cannot submit" {
				t.Fatalf("panic = %v; want an error wrapping ErrClosed", v)
			}
		})
	}
}

// Loops nest to any depth, each level handed out or not, on a pool of one
// worker, from inside a task (so that the only worker is busy).
func TestLoopNesting(t *testing.T) {
	for _, m := range loopModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(1))
			const a, b, c = 7, 9, 11
			ts := make([]tally, a*b*c)
			outer := func(lo, hi int) {
				for i := lo; i < hi; i++ {
					middle := func(lo, hi int) {
						for j := lo; j < hi; j++ {
							inner := func(lo, hi int) {
								for k := lo; k < hi; k++ {
									ts[(i*b+j)*c+k].runs.Add(1)
								}
							}
							m.set(inner)
							zeropool.For(p, c, inner)
						}
					}
					m.set(middle)
					zeropool.For(p, b, middle)
				}
			}
			m.set(outer)
			f := p.Go(func() { zeropool.For(p, a, outer) })
			if v := waitBounded(t, f); v != nil {
				t.Fatalf("nested loops panicked: %v", v)
			}
			checkOnce(t, "nested For", ts)
		})
	}
}

// A small loop never waits for a worker: it completes while every worker
// is held, whether it runs inline or was handed out (its caller runs every
// block then).
func TestLoopWhileWorkersHeld(t *testing.T) {
	p := newPool(t)
	blockWorkers(t, p)
	for _, m := range loopModes {
		t.Run(m.name, func(t *testing.T) {
			ts := make([]tally, 16)
			body := func(lo, hi int) {
				for i := lo; i < hi; i++ {
					ts[i].runs.Add(1)
				}
			}
			m.set(body)
			callBounded(t, func() { zeropool.For(p, len(ts), body) })
			checkOnce(t, "For with every worker held", ts)
		})
	}
}

// goid returns the calling goroutine's id, from its stack's header.
func goid() int {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, _ := strconv.Atoi(s[:strings.IndexByte(s, ' ')])
	return id
}

// A loop of 20 ms is handed out: it runs on more than one goroutine.
func TestLongLoopRunsInParallel(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	p := newPool(t)
	var mu sync.Mutex
	seen := map[int]bool{}
	body := func(lo, hi int) {
		mu.Lock()
		seen[goid()] = true
		mu.Unlock()
		for range hi - lo {
			for start := time.Now(); time.Since(start) < 200*time.Microsecond; {
			}
		}
	}
	forgetEstimate(body) // measured from the first index, as a new body is
	callBounded(t, func() { zeropool.For(p, 100, body) })
	if len(seen) < 2 {
		t.Fatalf("a 20 ms loop ran on %d goroutine(s); want at least 2", len(seen))
	}
}

// mallocsPer returns the heap allocations per call of fn at the test's
// GOMAXPROCS: testing.AllocsPerRun sets it to 1, where a loop never hands
// out (no core to gain).
func mallocsPer(runs int, fn func()) float64 {
	fn()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range runs {
		fn()
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / float64(runs)
}

// A short loop run inline allocates nothing (its closure hoisted); one
// handed out allocates a fixed few, whatever n (7 as a rule: the record,
// the block body, its timing and the caller's sleep on the record; one
// more when the estimate moves); Map its result and a fixed few; Reduce a
// fixed few.
func TestLoopAllocs(t *testing.T) {
	p := newPool(t)
	out := make([]uint32, 1<<16)
	body := func(lo, hi int) { hashRange(out, lo, hi) }
	sum := func(lo, hi int) int { return lo + hi }
	add := func(a, b int) int { return a + b }
	in := make([]int, 1<<16)
	for _, m := range []struct {
		name string
		ns   float64
		max  [3]float64 // For, Map, Reduce
	}{{"inline", 1e-6, [3]float64{0, 3, 0}}, {"handoff", 1e6, [3]float64{10, 13, 11}}} {
		if m.name == "handoff" && runtime.GOMAXPROCS(0) < 2 {
			continue // nothing is handed out
		}
		setBody := zeropool.LoopEstimateSetter(body, m.ns)
		setMap := zeropool.LoopEstimateSetter(lightFn, m.ns)
		setSum := zeropool.LoopEstimateSetter(sum, m.ns)
		for _, n := range []int{16, 1000, 1 << 16} {
			got := [3]float64{
				mallocsPer(200, func() { setBody(); zeropool.For(p, n, body) }),
				mallocsPer(200, func() { setMap(); zeropool.Map(p, in[:n], lightFn) }),
				mallocsPer(200, func() { setSum(); zeropool.Reduce(p, n, sum, add) }),
			}
			t.Logf("%s n=%d: For %.2f, Map %.2f, Reduce %.2f allocations", m.name, n, got[0], got[1], got[2])
			for i, what := range []string{"For", "Map", "Reduce"} {
				if got[i] > m.max[i]+0.5 { // a GC cycle may allocate on the side
					t.Errorf("%s %s over %d: %.2f allocations; want at most %v", what, m.name, n, got[i], m.max[i])
				}
			}
		}
	}
	// And AllocsPerRun's own count, at GOMAXPROCS 1, for the inline path.
	set := zeropool.LoopEstimateSetter(body, 1e-6)
	if a := testing.AllocsPerRun(100, func() { set(); zeropool.For(p, 1000, body) }); a != 0 {
		t.Errorf("For inline: AllocsPerRun = %v; want 0", a)
	}
}

// Everything the chunks wrote is readable once the call returns, with no
// further synchronization: plain writes and reads, checked by -race.
func TestLoopMemoryModel(t *testing.T) {
	p := newPool(t)
	const n = 4096
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for _, m := range loopModes {
		t.Run(m.name, func(t *testing.T) {
			for r := range rounds {
				plain := make([]int, n)
				body := func(lo, hi int) {
					for i := lo; i < hi; i++ {
						plain[i] = i + r
					}
				}
				m.set(body)
				callBounded(t, func() {
					zeropool.For(p, n, body)
					for i, v := range plain {
						if v != i+r {
							t.Errorf("round %d: plain[%d] = %d after For; want %d", r, i, v, i+r)
							return
						}
					}
					in := plain[:n/2]
					double := func(x *int) int { return *x * 2 }
					m.set(double)
					out := zeropool.Map(p, in, double)
					for i, v := range out {
						if v != 2*(i+r) {
							t.Errorf("round %d: Map out[%d] = %d; want %d", r, i, v, 2*(i+r))
							return
						}
					}
				})
			}
		})
	}
}
