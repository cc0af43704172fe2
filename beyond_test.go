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

// Tests of what the library offers beyond the seed: SubmitRange, Pool.Go,
// TaskFuture.Cancel and WithPanicHandler.

func TestSubmitRangeCoversEachIndexOnce(t *testing.T) {
	p := newPool(t)
	for _, n := range []int{1, 2, 3, 7, 64, 1000, 4097, 1 << 16, 1 << 20} {
		// Plain writes: under -race, two chunks that overlap are a race.
		hits := make([]uint8, n)
		var mu sync.Mutex
		var chunks [][2]int
		f := zeropool.SubmitRange(p, n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
			mu.Lock()
			chunks = append(chunks, [2]int{lo, hi})
			mu.Unlock()
		})
		if v := waitBounded(t, f); v != nil {
			t.Fatalf("n=%d: Wait panicked: %v", n, v)
		}
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d covered %d times; want once", n, i, h)
			}
		}
		for _, c := range chunks {
			if c[0] < 0 || c[0] >= c[1] || c[1] > n {
				t.Fatalf("n=%d: chunk [%d, %d) is empty or outside [0, n)", n, c[0], c[1])
			}
		}
		if n >= 1000 && len(chunks) < 2 {
			t.Fatalf("n=%d: one chunk for the whole range; want it split", n)
		}
	}
}

func TestSubmitRangeEmpty(t *testing.T) {
	p := newPool(t)
	f := zeropool.SubmitRange(p, 0, func(lo, hi int) { t.Error("fn called for n == 0") })
	if !f.IsComplete() || f.Err() != nil {
		t.Fatal("SubmitRange(p, 0, fn) is not a completed future")
	}
	if n := testing.AllocsPerRun(100, func() { zeropool.SubmitRange(p, 0, func(int, int) {}) }); n != 0 {
		t.Fatalf("empty range allocates %v times; want 0", n)
	}
}

// TestSubmitRangeSpreads checks that chunks really run on several
// goroutines at once: each chunk waits, bounded, until two are running.
func TestSubmitRangeSpreads(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	var running, most atomic.Int32
	f := zeropool.SubmitRange(p, 1000, func(lo, hi int) {
		r := running.Add(1)
		for {
			m := most.Load()
			if r <= m || most.CompareAndSwap(m, r) {
				break
			}
		}
		deadline := time.Now().Add(time.Second)
		for most.Load() < 2 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		running.Add(-1)
	})
	mustComplete(t, f) // never runs chunks itself: the workers must
	if most.Load() < 2 {
		t.Fatal("no two chunks ever ran at once: the range was not spread over the workers")
	}
}

func TestSubmitRangePanic(t *testing.T) {
	p := newPool(t)
	const n, bad = 10000, 5000
	hits := make([]uint8, n)
	var mu sync.Mutex
	var badChunk [2]int
	f := zeropool.SubmitRange(p, n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if i == bad {
				mu.Lock()
				badChunk = [2]int{lo, hi}
				mu.Unlock()
				panic("range boom")
			}
			hits[i]++
		}
	})
	v := waitBounded(t, f)
	pe, ok := v.(*zeropool.PanicError)
	if !ok || pe.Value != "range boom" {
		t.Fatalf("Wait panicked with %v; want the chunk's PanicError", v)
	}
	for i, h := range hits {
		inBad := i >= badChunk[0] && i < badChunk[1]
		switch {
		case inBad && i < bad && h != 1, inBad && i >= bad && h != 0:
			t.Fatalf("index %d of the panicking chunk [%d, %d) ran %d times", i, badChunk[0], badChunk[1], h)
		case !inBad && h != 1:
			t.Fatalf("index %d outside the panicking chunk ran %d times; want once", i, h)
		}
	}
	// The pool still serves.
	mustComplete(t, zeropool.SubmitRange(p, 100, func(int, int) {}))
}

func TestSubmitRangeNestedOnOneWorker(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	const outer, inner = 50, 200
	sums := make([]int64, outer)
	f := zeropool.SubmitRange(p, outer, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s atomic.Int64
			zeropool.SubmitRange(p, inner, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					s.Add(int64(j))
				}
			}).Wait()
			sums[i] = s.Load()
		}
	})
	mustComplete(t, f) // only the one worker runs the outer range
	for i, s := range sums {
		if want := int64(inner * (inner - 1) / 2); s != want {
			t.Fatalf("sums[%d] = %d; want %d", i, s, want)
		}
	}
}

func TestSubmitRangeAllocsConstant(t *testing.T) {
	p := newPool(t)
	body := func(lo, hi int) {}
	var counts []float64
	for _, n := range []int{10, 1000, 1 << 20} {
		a := testing.AllocsPerRun(50, func() { zeropool.SubmitRange(p, n, body).Wait() })
		if a > 3 {
			t.Fatalf("SubmitRange over %d indices allocates %v times; want at most 3", n, a)
		}
		counts = append(counts, a)
	}
	t.Logf("allocs at n = 10, 1000, 2^20: %v", counts)
}

// TestGoKeepsClosureAlive: the pool alone keeps a queued closure (and what
// it captures) reachable until it has run.
func TestGoKeepsClosureAlive(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	out := new(int)
	f, collected := submitTracked(out, func(b *bigParams) *zeropool.TaskFuture {
		return p.Go(func() { writeLen(b) })
	})
	mustNotBeCollected(t, collected, "a queued closure's captures were collected before it ran")
	release()
	mustComplete(t, f)
	if *out != 1<<16 {
		t.Fatalf("closure wrote %d; want %d", *out, 1<<16)
	}
	mustBeCollected(t, collected, "closure still reachable after it ran")
	runtime.KeepAlive(f)
}

var goRuns atomic.Int64

func countGoRun() { goRuns.Add(1) }

func TestGo(t *testing.T) {
	p := newPool(t)
	x := 0
	waitBounded(t, p.Go(func() { x = 7 }))
	if x != 7 {
		t.Fatalf("x = %d; want 7", x)
	}
	goRuns.Store(0)
	// A func with no captures needs no closure: Go allocates nothing.
	if n := testing.AllocsPerRun(1000, func() { p.Go(countGoRun).Wait() }); n != 0 {
		t.Fatalf("Go allocates %v times per call; want 0", n)
	}
	if got := goRuns.Load(); got != 1001 {
		t.Fatalf("%d runs; want 1001", got)
	}
	f := p.Go(func() { panic("go boom") })
	if v, ok := waitBounded(t, f).(*zeropool.PanicError); !ok || v.Value != "go boom" {
		t.Fatalf("Wait panicked with %v; want the closure's panic", v)
	}
}

func TestCancelSkipsUnclaimed(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var ran atomic.Int64
	batch := zeropool.SubmitBatchUniform(p, func(*int) { ran.Add(1) }, make([]int, 100))
	single := zeropool.Submit(p, func(*int) { ran.Add(1) }, new(int))
	rng := zeropool.SubmitRange(p, 1000, func(lo, hi int) { ran.Add(int64(hi - lo)) })
	closure := p.Go(func() { ran.Add(1) })
	for _, f := range []*zeropool.TaskFuture{batch, single, rng, closure} {
		f.Cancel()
		if !f.IsComplete() {
			t.Fatal("a future whose tasks were all skipped is not complete")
		}
		if err := f.Err(); !errors.Is(err, zeropool.ErrCanceled) {
			t.Fatalf("Err = %v; want ErrCanceled", err)
		}
		if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrCanceled) {
			t.Fatalf("WaitContext = %v; want ErrCanceled", err)
		}
		if v := waitBounded(t, f); v != nil {
			t.Fatalf("Wait on a canceled future panicked: %v", v)
		}
		f.Cancel() // twice: nothing changes
		if !errors.Is(f.Err(), zeropool.ErrCanceled) {
			t.Fatal("a second Cancel changed Err")
		}
	}
	release()
	mustComplete(t, p.Go(func() {})) // the worker has passed the canceled records
	if got := ran.Load(); got != 0 {
		t.Fatalf("%d canceled tasks ran", got)
	}
}

func TestCancelOnCompleteAndEmpty(t *testing.T) {
	p := newPool(t)
	f := zeropool.Submit(p, func(*int) {}, new(int))
	mustComplete(t, f)
	f.Cancel()
	if f.Err() != nil {
		t.Fatalf("Cancel on a complete future set Err to %v", f.Err())
	}
	// Empty batches and ranges share one completed future: canceling one
	// must not show on another.
	zeropool.SubmitBatchUniform[int](p, func(*int) {}, nil).Cancel()
	zeropool.SubmitRange(p, 0, func(int, int) {}).Cancel()
	if err := zeropool.SubmitBatchUniform[int](p, func(*int) {}, nil).Err(); err != nil {
		t.Fatalf("an empty batch's Err = %v after another empty future was canceled", err)
	}
	// A panic before the Cancel is the failure that stands.
	p1 := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p1)
	g := zeropool.SubmitBatchUniform(p1, func(v *int) { panic("first") }, make([]int, 10))
	go func() { defer func() { _ = recover() }(); g.Wait() }() // claims and runs them
	deadline := time.Now().Add(bound)
	pollUntil(t, deadline, func() bool { return g.Err() != nil }, func() string { return "no task of g panicked" })
	g.Cancel()
	release()
	mustComplete(t, g)
	var pe *zeropool.PanicError
	if !errors.As(g.Err(), &pe) || pe.Value != "first" {
		t.Fatalf("Err = %v; want the panic, which came before Cancel", g.Err())
	}
}

func TestCancelFromOwnTask(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	const n = 1 << 20
	var self atomic.Pointer[zeropool.TaskFuture]
	ready := make(chan struct{})
	var covered atomic.Int64
	f := zeropool.SubmitRange(p, n, func(lo, hi int) {
		<-ready
		covered.Add(int64(hi - lo))
		if lo == 0 {
			self.Load().Cancel() // found what we were looking for
		}
	})
	self.Store(f)
	close(ready)
	if err := f.WaitContext(boundCtx(t)); !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("WaitContext = %v; want ErrCanceled (%d of %d indices ran)", err, covered.Load(), n)
	}
	if got := covered.Load(); got >= n {
		t.Fatalf("every index ran (%d) though a chunk canceled the rest", got)
	}
}

// TestCancelRacingWaitersAndClose: Cancel, waiters and Close at once, over
// many rounds: no task runs twice, every future completes, and Err is nil
// or ErrCanceled.
func TestCancelRacingWaitersAndClose(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	base := runtime.NumGoroutine()
	for r := range rounds {
		p := zeropool.New(zeropool.WithWorkers(1 + r%3))
		ts := make([]tally, 500)
		f := zeropool.SubmitBatchUniform(p, count, ts)
		g := p.Go(func() {})
		var wg sync.WaitGroup
		wg.Add(4)
		go func() { defer wg.Done(); f.Wait() }()
		go func() { defer wg.Done(); _ = f.WaitContext(context.Background()) }()
		go func() { defer wg.Done(); f.Cancel(); g.Cancel() }()
		go func() { defer wg.Done(); p.Close() }()
		waitGroupBounded(t, &wg, fmt.Sprintf("round %d", r))
		if !f.IsComplete() || !g.IsComplete() {
			t.Fatalf("round %d: a future is not complete after Close", r)
		}
		ran := 0
		for i := range ts {
			switch c := ts[i].runs.Load(); c {
			case 0:
			case 1:
				ran++
			default:
				t.Fatalf("round %d: task %d ran %d times", r, i, c)
			}
		}
		if err := f.Err(); err != nil && !errors.Is(err, zeropool.ErrCanceled) {
			t.Fatalf("round %d: Err = %v", r, err)
		}
		if ran < len(ts) && !errors.Is(f.Err(), zeropool.ErrCanceled) {
			t.Fatalf("round %d: %d of %d tasks ran but Err = %v; want ErrCanceled", r, ran, len(ts), f.Err())
		}
	}
	goroutinesBackTo(t, base)
}

func TestPanicHandlerSeesUnwaitedPanics(t *testing.T) {
	seen := make(chan *zeropool.PanicError, 16)
	p := newPool(t, zeropool.WithWorkers(2), zeropool.WithPanicHandler(func(pe *zeropool.PanicError) {
		seen <- pe
	}))
	// Nobody waits on any of these.
	p.Go(func() { panic("fire and forget") })
	zeropool.SubmitBatchUniform(p, func(v *int) {
		if *v == 3 {
			panic("batch task")
		}
	}, []int{1, 2, 3, 4})
	zeropool.SubmitRange(p, 100, func(lo, hi int) {
		if lo <= 42 && 42 < hi {
			panic("range chunk")
		}
	})
	p.Go(func() { runtime.Goexit() })
	want := map[any]bool{"fire and forget": true, "batch task": true, "range chunk": true, zeropool.ErrGoexit: true}
	for len(want) > 0 {
		select {
		case pe := <-seen:
			if !want[pe.Value] {
				t.Fatalf("handler saw %v, twice or unexpected", pe.Value)
			}
			if len(pe.Stack) == 0 {
				t.Errorf("handler's PanicError for %v has no stack", pe.Value)
			}
			delete(want, pe.Value)
		case <-time.After(bound):
			lost(t, "handler never saw %v", want)
		}
	}
	// A handler that panics itself does not take the pool down.
	q := newPool(t, zeropool.WithWorkers(1), zeropool.WithPanicHandler(func(*zeropool.PanicError) { panic("handler") }))
	f := q.Go(func() { panic("task") })
	if err := f.WaitContext(boundCtx(t)); err == nil {
		t.Fatal("the task's panic was not recorded")
	}
	mustComplete(t, q.Go(func() {}))
}
