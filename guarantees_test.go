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
