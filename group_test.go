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

	"github.com/zeropool/zeropool"
)

// groupWaitBounded calls g.Wait on another goroutine and returns what it
// panicked with and its error, reporting a lost task or wake-up past bound.
func groupWaitBounded(t testing.TB, g *zeropool.Group) (panicked any, err error) {
	t.Helper()
	type result struct {
		err error
		v   any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { r.v = recover(); done <- r }()
		r.err = g.Wait()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(bound):
		lost(t, "Group.Wait did not return: a task or a wake-up was lost")
		return nil, nil
	}
}

func TestGroupRunsEveryTask(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(workers))
			g := p.NewGroup()
			ty := make(runTally, 5000)
			for i := range ty {
				g.Go(func() error { ty[i].Add(1); return nil })
			}
			if v, err := groupWaitBounded(t, g); v != nil || err != nil {
				t.Fatalf("Wait = %v, panicked %v; want nil", err, v)
			}
			ty.check(t, "group")
		})
	}
}

func TestGroupZeroValueOnGlobal(t *testing.T) {
	var g zeropool.Group
	var n atomic.Int64
	for range 100 {
		g.Go(func() error { n.Add(1); return nil })
	}
	if _, err := groupWaitBounded(t, &g); err != nil || n.Load() != 100 {
		t.Fatalf("Wait = %v after %d of 100 tasks", err, n.Load())
	}
}

// TestGroupStopsAtFirstFailure: with the only worker held, Wait runs the
// queued tasks in order on its own goroutine; after the first fails, none
// of the other 99 starts, and a later Go never runs.
func TestGroupStopsAtFirstFailure(t *testing.T) {
	errFirst := errors.New("first")
	for _, c := range []struct {
		name string
		fail func() error
	}{
		{"error", func() error { return errFirst }},
		{"panic", func() error { panic(errFirst) }},
		{"goexit", func() error { runtime.Goexit(); return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(1))
			release := blockWorkers(t, p)
			g := p.NewGroup()
			var started atomic.Int64
			g.Go(func() error { started.Add(1); return c.fail() })
			for range 99 {
				g.Go(func() error { started.Add(1); return nil })
			}
			if c.name == "goexit" {
				// The Wait that runs the Goexit ends with it.
				ended := make(chan struct{})
				go func() { defer close(ended); g.Wait() }()
				select {
				case <-ended:
				case <-time.After(bound):
					lost(t, "the waiter neither returned nor ended")
				}
			}
			v, err := groupWaitBounded(t, g)
			release()
			if got := started.Load(); got != 1 {
				t.Fatalf("%d tasks started; want only the failing one", got)
			}
			var pe *zeropool.PanicError
			switch c.name {
			case "error":
				if err != errFirst || v != nil {
					t.Fatalf("Wait = %v, panicked %v; want the task's error itself", err, v)
				}
			case "panic":
				if !errors.As(asError(v), &pe) || !errors.Is(pe, errFirst) {
					t.Fatalf("Wait panicked with %v; want a *PanicError wrapping the panic", v)
				}
			case "goexit":
				if !errors.As(asError(v), &pe) || !errors.Is(pe, zeropool.ErrGoexit) {
					t.Fatalf("Wait panicked with %v; want a *PanicError of ErrGoexit", v)
				}
			}
			g.Go(func() error { started.Add(1); return nil })
			if !g.TryGo(func() error { started.Add(1); return nil }) {
				t.Fatal("TryGo on a stopped group = false; want true (taken and skipped)")
			}
			groupWaitBounded(t, g)
			mustComplete(t, p.Go(func() {})) // every queued task is behind us
			if got := started.Load(); got != 1 {
				t.Fatalf("Go after the failure ran: %d tasks started", got)
			}
			if c.name == "error" {
				if _, again := groupWaitBounded(t, g); again != errFirst {
					t.Fatalf("Wait again = %v; the first failure stays", again)
				}
			}
		})
	}
}

func TestGroupContext(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	errFirst := errors.New("first")

	g, ctx := p.NewGroupContext(context.Background())
	g.Go(func() error { return errFirst })
	select {
	case <-ctx.Done():
	case <-time.After(bound):
		lost(t, "the group's context did not end at its first failure")
	}
	if cause := context.Cause(ctx); cause != errFirst {
		t.Fatalf("Cause = %v; want the first failure", cause)
	}
	if _, err := groupWaitBounded(t, g); err != errFirst {
		t.Fatalf("Wait = %v; want %v", err, errFirst)
	}

	g, ctx = zeropool.WithContext(context.Background())
	g.Go(func() error { return nil })
	if ctx.Err() != nil && g == nil {
		t.Fatal("unreachable")
	}
	if _, err := groupWaitBounded(t, g); err != nil {
		t.Fatalf("Wait = %v; want nil", err)
	}
	if ctx.Err() == nil || context.Cause(ctx) != context.Canceled {
		t.Fatalf("after Wait: ctx.Err() = %v, Cause = %v; want context.Canceled", ctx.Err(), context.Cause(ctx))
	}
}

// TestGroupParentEnds: the end of the parent context skips the queued
// tasks, and Wait returns its cause.
func TestGroupParentEnds(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	parent, cancel := context.WithCancelCause(context.Background())
	errParent := errors.New("request abandoned")
	g, ctx := p.NewGroupContext(parent)
	var started atomic.Int64
	for range 50 {
		g.Go(func() error { started.Add(1); return nil })
	}
	cancel(errParent)
	release()
	if _, err := groupWaitBounded(t, g); err != errParent {
		t.Fatalf("Wait = %v; want the parent's cause", err)
	}
	if n := started.Load(); n != 0 {
		t.Fatalf("%d queued tasks started after the parent ended", n)
	}
	if context.Cause(ctx) != errParent {
		t.Fatalf("Cause(ctx) = %v; want the parent's cause", context.Cause(ctx))
	}
}

// TestGroupCancelFromTask: a search that found its answer cancels the rest.
func TestGroupCancelFromTask(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	g, ctx := p.NewGroupContext(context.Background())
	var started atomic.Int64
	for i := range 100 {
		g.Go(func() error {
			started.Add(1)
			if i == 10 {
				g.Cancel()
			}
			return nil
		})
	}
	_, err := groupWaitBounded(t, g)
	release()
	if !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("Wait = %v; want ErrCanceled", err)
	}
	if n := started.Load(); n != 11 {
		t.Fatalf("%d tasks started; want 11 (0..10, in order on the waiter)", n)
	}
	if context.Cause(ctx) != zeropool.ErrCanceled {
		t.Fatalf("Cause(ctx) = %v; want ErrCanceled", context.Cause(ctx))
	}
	// A failure after Cancel does not replace it.
	g.Go(func() error { return errors.New("late") })
	if _, err := groupWaitBounded(t, g); !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("Wait = %v; want ErrCanceled still", err)
	}
}

func TestGroupReuse(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	g := p.NewGroup()
	var n atomic.Int64
	for round := range 5 {
		for range 100 {
			g.Go(func() error { n.Add(1); return nil })
		}
		if _, err := groupWaitBounded(t, g); err != nil {
			t.Fatalf("round %d: Wait = %v", round, err)
		}
		if got := n.Load(); got != int64(100*(round+1)) {
			t.Fatalf("round %d: %d tasks ran", round, got)
		}
	}
}

func TestGroupLimit(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(4))
	g := p.NewGroup()
	g.SetLimit(1)
	var running, most, n atomic.Int64
	for range 200 {
		g.Go(func() error {
			r := running.Add(1)
			for {
				m := most.Load()
				if r <= m || most.CompareAndSwap(m, r) {
					break
				}
			}
			n.Add(1)
			time.Sleep(10 * time.Microsecond)
			running.Add(-1)
			return nil
		})
	}
	if _, err := groupWaitBounded(t, g); err != nil || n.Load() != 200 {
		t.Fatalf("Wait = %v after %d of 200 tasks", err, n.Load())
	}
	if m := most.Load(); m != 1 {
		t.Fatalf("SetLimit(1): %d tasks ran at once", m)
	}

	// TryGo at and under the limit; SetLimit(0) admits none.
	g = p.NewGroup()
	g.SetLimit(1)
	gate := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	if !g.TryGo(func() error { <-gate; return nil }) {
		t.Fatal("TryGo under the limit = false")
	}
	if g.TryGo(func() error { return nil }) {
		t.Fatal("TryGo at the limit = true")
	}
	close(gate)
	groupWaitBounded(t, g)
	if !g.TryGo(func() error { return nil }) {
		t.Fatal("TryGo after Wait = false")
	}
	groupWaitBounded(t, g)
	g.SetLimit(0)
	if g.TryGo(func() error { return nil }) {
		t.Fatal("TryGo with SetLimit(0) = true")
	}
	if v := mustPanic(t, func() { g.Go(func() error { return nil }) }); !strings.HasPrefix(fmt.Sprint(v), "zeropool: ") {
		t.Fatalf("Go with SetLimit(0) panicked with %v", v)
	}
}

// TestGroupLimitInsideTask: Go at the limit, inside a task of a pool of
// one worker, runs the group's queued tasks rather than wait for a worker.
func TestGroupLimitInsideTask(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	var n atomic.Int64
	f := p.GoErr(func() error {
		g := p.NewGroup()
		g.SetLimit(2)
		for range 50 {
			g.Go(func() error { n.Add(1); return nil })
		}
		return g.Wait()
	})
	if _, err := waitErrBounded(t, f); err != nil || n.Load() != 50 {
		t.Fatalf("Wait = %v after %d of 50 tasks", err, n.Load())
	}
}

// TestGroupSetLimitPanics: SetLimit panics while tasks counted against a
// limit are queued or running, as errgroup's does, and not otherwise.
func TestGroupSetLimitPanics(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	g := p.NewGroup()
	g.SetLimit(5) // nothing active: fine
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	g.Go(func() error { <-gate; return nil })
	if v := mustPanic(t, func() { g.SetLimit(3) }); !strings.Contains(fmt.Sprint(v), "zeropool: Group.SetLimit(3) while 1 tasks") {
		t.Fatalf("SetLimit with an active task panicked with %v", v)
	}
	g.SetLimit(-1) // removing the limit never panics, as with errgroup
	open()
	groupWaitBounded(t, g)
	g.SetLimit(3) // the task counted against the old limit is done
	g2 := p.NewGroup()
	g2.Go(func() error { return nil }) // no limit: nothing counted
	g2.SetLimit(2)
	groupWaitBounded(t, g2)
}

func TestGroupNestedOnOneWorker(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	var depth func(d int) error
	var leaves atomic.Int64
	depth = func(d int) error {
		if d == 0 {
			leaves.Add(1)
			return nil
		}
		g := p.NewGroup()
		g.Go(func() error { return depth(d - 1) })
		g.Go(func() error { leaves.Add(1); return nil })
		return g.Wait()
	}
	f := p.GoErr(func() error { return depth(50) })
	if _, err := waitErrBounded(t, f); err != nil || leaves.Load() != 51 {
		t.Fatalf("Wait = %v, %d leaves; want 51", err, leaves.Load())
	}
}

func TestGroupsFromManyGoroutines(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for k := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 50 {
				g := p.NewGroup()
				ty := make(runTally, 100)
				for i := range ty {
					g.Go(func() error {
						ty[i].Add(1)
						if round%5 == 0 && i == 7 {
							return fmt.Errorf("goroutine %d round %d", k, round)
						}
						return nil
					})
				}
				err := g.Wait()
				if round%5 == 0 {
					if err == nil {
						errs <- fmt.Errorf("goroutine %d round %d: Wait = nil; want the error", k, round)
						return
					}
					continue
				}
				for i := range ty {
					if ty[i].Load() != 1 {
						errs <- fmt.Errorf("goroutine %d round %d: task %d ran %d times", k, round, i, ty[i].Load())
						return
					}
				}
			}
		}()
	}
	waitGroupBounded(t, &wg, "8 goroutines of groups")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestGroupAllocs(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	fn := func() error { return nil }
	g := p.NewGroup()
	// The closure is made once: what is left is the group's own cost.
	allocs := testing.AllocsPerRun(20, func() {
		for range 1000 {
			g.Go(fn)
		}
		g.Wait()
	})
	// A block of records per 124 tasks (as Pool.Go), a channel to sleep
	// on per Wait at most.
	if perGo := allocs / 1000; perGo > 0.02 {
		t.Fatalf("%.1f allocations per 1000 Go; want ~8 (a block per 124)", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { p.NewGroup() }); allocs > 1 {
		t.Fatalf("NewGroup: %.0f allocations; want 1", allocs)
	}
}

func TestGroupBadInputAndClosed(t *testing.T) {
	p := zeropool.New(zeropool.WithWorkers(1))
	g := p.NewGroup()
	for _, c := range []struct {
		fn   func()
		want string
	}{
		{func() { g.Go(nil) }, "zeropool: Group.Go: nil func"},
		{func() { g.TryGo(nil) }, "zeropool: Group.TryGo: nil func"},
		{func() { (*zeropool.Pool)(nil).NewGroup() }, "zeropool: NewGroup on a nil *Pool"},
		//lint:ignore SA1012 the nil context is the test
		{func() { p.NewGroupContext(nil) }, "zeropool: NewGroupContext: nil context"},
	} {
		if v := mustPanic(t, c.fn); fmt.Sprint(v) != c.want {
			t.Errorf("panicked with %q; want %q", v, c.want)
		}
	}
	closeBounded(t, p)
	v := mustPanic(t, func() { g.Go(func() error { return nil }) })
	if err, ok := v.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
		t.Fatalf("Go on a closed pool panicked with %v; want ErrClosed", v)
	}
	if _, err := groupWaitBounded(t, g); err != nil {
		t.Fatalf("Wait on a group whose Go was refused = %v", err)
	}
}

// TestGroupWaitRunsTasks: with every worker held, Wait runs the group's
// tasks itself.
func TestGroupWaitRunsTasks(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	release := blockWorkers(t, p)
	defer release()
	g := p.NewGroup()
	var n atomic.Int64
	for range 300 { // more than a block
		g.Go(func() error { n.Add(1); return nil })
	}
	if _, err := groupWaitBounded(t, g); err != nil || n.Load() != 300 {
		t.Fatalf("Wait = %v after %d of 300 tasks", err, n.Load())
	}
}

// TestGroupMemoryModel: what the tasks wrote is readable once Wait
// returns, with nothing more (-race checks it).
func TestGroupMemoryModel(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2))
	for range 20 {
		g := p.NewGroup()
		out := make([]int, 64)
		for i := range out {
			g.Go(func() error { out[i] = i * i; return nil })
		}
		groupWaitBounded(t, g)
		for i, v := range out {
			if v != i*i {
				t.Fatalf("out[%d] = %d", i, v)
			}
		}
	}
}

// TestGroupGoAtLimitAfterStop: a Go waiting at the limit returns, queueing
// nothing, once the group stops.
func TestGroupGoAtLimitAfterStop(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	g := p.NewGroup()
	g.SetLimit(1)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	errFirst := errors.New("first")
	g.Go(func() error { <-gate; return errFirst })
	var ran atomic.Bool
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		g.Go(func() error { ran.Store(true); return nil }) // at the limit
	}()
	time.Sleep(time.Millisecond)
	open()
	select {
	case <-returned:
	case <-time.After(bound):
		lost(t, "Go at the limit did not return once the group stopped")
	}
	if _, err := groupWaitBounded(t, g); err != errFirst {
		t.Fatalf("Wait = %v; want the first failure", err)
	}
	if ran.Load() {
		t.Fatal("the Go that waited at the limit ran its task after the stop")
	}
}

// TestGroupStats: once idle, Stats counts a stopped group's tasks as run,
// failed and skipped, each once, whoever claimed them.
func TestGroupStats(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	g := p.NewGroup()
	g.Go(func() error { return errors.New("first") })
	for range 99 {
		g.Go(func() error { return nil })
	}
	groupWaitBounded(t, g) // runs the first here, then skips the rest
	release()
	waitIdle(t, p)
	if st := p.Stats(); st.Ran != 2 || st.Failed != 1 || st.Skipped != 99 {
		t.Fatalf("Stats = %+v; want Ran 2 (the task that failed, and the blocker), Failed 1, Skipped 99", st)
	}
}
