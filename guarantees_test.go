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

// raceRounds is how many rounds the two-goroutine races below run: many
// cheap rounds, each with the two sides offset by a different while, in
// the manner of sync's poolqueue tests, so that the narrow windows are hit
// under -short too.
func raceRounds() int {
	if testing.Short() {
		return 20_000
	}
	return 100_000
}

// startTogether spins a and b to a common start, then a for a while and
// b for another (b's longer by lead), and returns once both have run.
func startTogether(t *testing.T, r, lead int, a, b func()) {
	var ready atomic.Int32
	var wg sync.WaitGroup
	wg.Add(2)
	side := func(n int, f func()) {
		defer wg.Done()
		ready.Add(1)
		for ready.Load() < 2 {
			// With one P, the other side runs only if this one yields.
			runtime.Gosched()
		}
		spin(n)
		f()
	}
	go side(r%41*25, a)
	go side(lead+r/41%41*25, b)
	waitGroupBounded(t, &wg, "the racing pair")
}

// TestSubmitRacingCloseExact: a submit racing Close either panics with
// ErrClosed and none of its tasks ran, or returns a future that Close has
// completed by the time it returns, every task run once. Singles and
// batches; the narrow windows are between a submit's publish and its look
// at closed (a worker may begin the batch there) and between Close's
// closed store and its stop record (a submit may be reserved behind it).
func TestSubmitRacingCloseExact(t *testing.T) {
	rounds := raceRounds()
	var refused, accepted int
	for r := range rounds {
		p := zeropool.New(zeropool.WithWorkers(2))
		n := 1 + r%2*7 // a single or a batch of 8
		runs := make([]atomic.Int32, n)
		var f *zeropool.TaskFuture
		var panicked any
		startTogether(t, r, 300, func() {
			defer func() { panicked = recover() }()
			f = zeropool.SubmitBatchUniform(p, func(c *atomic.Int32) { c.Add(1) }, runs)
		}, p.Close)
		if panicked != nil {
			if err, ok := panicked.(error); !ok || !errors.Is(err, zeropool.ErrClosed) {
				t.Fatalf("round %d: submit panicked with %v; want ErrClosed", r, panicked)
			}
			refused++
			for i := range runs {
				if c := runs[i].Load(); c != 0 {
					t.Fatalf("round %d: the submit panicked with ErrClosed, but its task %d of %d ran", r, i, n)
				}
			}
			continue
		}
		accepted++
		if !f.IsComplete() {
			t.Fatalf("round %d: Close returned before an accepted submit of %d tasks completed: %s", r, n, p.DebugState())
		}
		for i := range runs {
			if c := runs[i].Load(); c != 1 {
				t.Fatalf("round %d: accepted task %d of %d ran %d times", r, i, n, c)
			}
		}
	}
	t.Logf("%d rounds: %d submits refused, %d accepted", rounds, refused, accepted)
	if (refused == 0 || accepted == 0) && runtime.GOMAXPROCS(0) > 1 {
		t.Errorf("the race always went one way (%d refused, %d accepted): the test tests nothing", refused, accepted)
	}
}

// TestErrFinalOnceWaitReturns: once any wait on a future has returned, its
// Err is final: ErrCanceled when Cancel skipped a task, read at once by
// the goroutine the completion released. The only worker is held, so
// Cancel skips every task and its finish is the completion: the waiter,
// released by it, races Cancel's record of ErrCanceled.
func TestErrFinalOnceWaitReturns(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	blockWorkers(t, p)
	rounds := raceRounds() / 4
	for r := range rounds {
		n := 1 + r%2*15 // a single or a batch of 16
		f := zeropool.SubmitBatchUniform(p, func(*struct{}) {}, make([]struct{}, n))
		var err error
		startTogether(t, r, 0, f.Cancel, func() {
			// Ways that never run tasks, so completion is what releases
			// them: IsComplete polled, or WaitContext.
			if r%4 < 2 {
				pollUntil(t, deadlineFromNow(), f.IsComplete, func() string { return "the future never completed" })
			} else {
				_ = f.WaitContext(boundCtx(t))
			}
			err = f.Err()
		})
		if !errors.Is(err, zeropool.ErrCanceled) {
			t.Fatalf("round %d: Cancel skipped all %d tasks, but Err read as the wait returned was %v; want ErrCanceled", r, n, err)
		}
		if f.Err() != err {
			t.Fatalf("round %d: Err changed after a wait returned: %v, then %v", r, err, f.Err())
		}
	}
}

func deadlineFromNow() time.Time { return time.Now().Add(bound) }

// shortBound is how long the guarantees below wait for work of a few
// milliseconds: with the bug each one guards planted, they fail within it
// rather than at the package's bound.
const shortBound = 5 * time.Second

// TestErrStopsClaimedChunksOnceAllClaimed: an error stops the runners of
// chunks already claimed even when it comes after the last chunk was
// claimed, when there is nothing left to skip. The first task to start
// holds its chunk (it is the first of one of the first two claims, a
// quarter of the batch or so, so more of the chunk is behind it) until
// the error is recorded; the other runner runs everything else, the last
// task last, which fails. No task may start once the error is recorded.
func TestErrStopsClaimedChunksOnceAllClaimed(t *testing.T) {
	const n = 64
	errLast := errors.New("the last task failed")
	for r := range 40 {
		p := newPool(t, zeropool.WithWorkers(1))
		var fut atomic.Pointer[zeropool.TaskFuture]
		stopped := func() bool { f := fut.Load(); return f != nil && f.Err() != nil }
		var first atomic.Bool
		var late atomic.Int32 // tasks started after the error was recorded
		runs := make(runTally, n)
		params := make([]int, n)
		for i := range params {
			params[i] = i
		}
		f := zeropool.SubmitBatchErr(p, func(i *int) error {
			if stopped() {
				late.Add(1)
			}
			runs[*i].Add(1)
			if *i == n-1 {
				return errLast
			}
			if first.CompareAndSwap(false, true) {
				pollUntil(t, time.Now().Add(shortBound), stopped, func() string {
					return fmt.Sprintf("round %d: the first task to start (%d) held its chunk, and the last task never failed", r, *i)
				})
			}
			return nil
		}, params)
		fut.Store(f)
		if v, err := waitErrBounded(t, f); v != nil || !errors.Is(err, errLast) {
			t.Fatalf("round %d: Wait = %v, panicked with %v; want the last task's error", r, err, v)
		}
		if k := late.Load(); k > 0 {
			t.Fatalf("round %d: %d tasks started after the error was recorded; the chunk held by the first task ran on", r, k)
		}
		if runs[n-1].Load() != 1 {
			t.Fatalf("round %d: the last task ran %d times", r, runs[n-1].Load())
		}
	}
}

// TestCancelStopsClaimedErrChunks: for error tasks, a Cancel that skipped
// a task also stops the rest of the chunks already claimed (see doc.go).
// The only worker holds the first chunk of a 64-task batch in its first
// task while Cancel runs: nothing after that task may start.
func TestCancelStopsClaimedErrChunks(t *testing.T) {
	const n = 64
	p := newPool(t, zeropool.WithWorkers(1))
	started, canceled := make(chan struct{}), make(chan struct{})
	runs := make(runTally, n)
	params := make([]int, n)
	for i := range params {
		params[i] = i
	}
	f := zeropool.SubmitBatchErr(p, func(i *int) error {
		if runs[*i].Add(1) == 1 && *i == 0 {
			close(started)
			<-canceled
		}
		return nil
	}, params)
	select {
	case <-started:
	case <-time.After(shortBound):
		t.Fatal("the worker never started task 0")
	}
	f.Cancel()
	close(canceled)
	ctx, cancel := context.WithTimeout(context.Background(), shortBound)
	defer cancel()
	if err := f.WaitContext(ctx); !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("WaitContext = %v; want ErrCanceled", err)
	}
	if ran := runs.total(); ran != 1 {
		t.Fatalf("%d tasks ran; want 1: the claimed chunk ran on after Cancel", ran)
	}
	if st := p.Stats(); st.Skipped != n-1 {
		t.Fatalf("Stats.Skipped = %d; want %d", st.Skipped, n-1)
	}
}

// TestFailedCountsEachSingleOnce: Stats.Failed counts a failing error
// single once, whether a worker ran it (SubmitErr and GoErr, waited on
// with WaitContext, which never runs tasks) or its waiter did.
func TestFailedCountsEachSingleOnce(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	boom := errors.New("boom")
	fail := func(*int) error { return boom }
	want := uint64(0)
	check := func(how string, f *zeropool.TaskFuture, byWaiter bool) {
		t.Helper()
		var err error
		if byWaiter {
			_, err = waitErrBounded(t, f)
		} else {
			err = f.WaitContext(boundCtx(t))
		}
		if !errors.Is(err, boom) {
			t.Fatalf("%s: error %v; want boom", how, err)
		}
		want++
		if st := p.Stats(); st.Failed != want {
			t.Fatalf("%s: Stats.Failed = %d after %d failing singles", how, st.Failed, want)
		}
	}
	for range 3 {
		check("SubmitErr run by the worker", zeropool.SubmitErr(p, fail, new(int)), false)
		check("GoErr run by the worker", p.GoErr(func() error { return boom }), false)
	}
	release := blockWorkers(t, p)
	for range 3 {
		check("SubmitErr run by its waiter", zeropool.SubmitErr(p, fail, new(int)), true)
		check("GoErr run by its waiter", p.GoErr(func() error { return boom }), true)
	}
	release()
}

// TestTasksSlowerThanChunkBudget: a batch whose tasks each take longer
// than the chunk budget still runs to the end, a task per claim. Its pool
// is closed only on success: with claims that take no task, Close would
// wait for ever.
func TestTasksSlowerThanChunkBudget(t *testing.T) {
	p := zeropool.New(zeropool.WithWorkers(1))
	task := 2 * zeropool.ChunkBudget
	runs := make(runTally, 32)
	f := zeropool.SubmitBatchUniform(p, func(c *atomic.Int32) { time.Sleep(task); c.Add(1) }, runs)
	if !f.WaitTimeout(shortBound) {
		t.Fatalf("a batch of %d tasks of %v did not complete in %v; tasks run: %d", len(runs), task, shortBound, runs.total())
	}
	runs.check(t, "tasks slower than the chunk budget")
	if got := zeropool.TaskTime(f); got < zeropool.ChunkBudget {
		t.Fatalf("measured task time %v; want more than the budget, %v", got, zeropool.ChunkBudget)
	}
	closeBounded(t, p)
}

// After a range, one worker spins, counted as searching, and submitters
// leave wake-ups to it. When it finds work it must wake the next worker
// itself: two singles that each wait for the other to start, submitted
// right after a range by a caller that does not help run them, need both
// workers. A spinner that kept its searching count, or that claimed
// without passing the wake-up on, leaves the second single unrun.
func TestSpinnerPassesWakeUpOn(t *testing.T) {
	p := zeropool.New(zeropool.WithWorkers(2))
	defer p.Close()
	for round := range 200 {
		// Blocks of ~20 µs, so that the workers run some of them.
		zeropool.SubmitRange(p, 8, func(lo, hi int) {
			for end := time.Now().Add(20 * time.Microsecond); time.Now().Before(end); {
			}
		}).Wait()
		var started, alone atomic.Int32
		done := make(chan struct{}, 2)
		deadline := time.Now().Add(shortBound)
		for range 2 {
			p.Go(func() {
				started.Add(1)
				for started.Load() < 2 {
					if time.Now().After(deadline) {
						alone.Add(1)
						break
					}
					runtime.Gosched()
				}
				done <- struct{}{}
			})
		}
		// Not Wait, which would run a single here.
		for range 2 {
			select {
			case <-done:
			case <-time.After(2 * shortBound):
				t.Fatalf("round %d: a single did not finish in %v", round, 2*shortBound)
			}
		}
		if alone.Load() > 0 {
			t.Fatalf("round %d: a single waited %v for the other to start: a wake-up was lost", round, shortBound)
		}
	}
}
