package zeropool_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zeropool/zeropool"
)

func TestStatsCounts(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(2), zeropool.WithPanicHandler(func(*zeropool.PanicError) {}))
	want := zeropool.Stats{Workers: 2}
	check := func(what string) {
		t.Helper()
		waitIdle(t, p) // the counts are exact once the pool is idle
		got := p.Stats()
		got.IdleWorkers, got.Queued = 0, 0 // estimates, checked elsewhere
		if got != want {
			t.Fatalf("after %s: Stats = %+v; want %+v", what, got, want)
		}
	}
	check("nothing")

	// 1000 tasks, 7 of which panic: all run.
	f := zeropool.SubmitBatchUniform(p, func(i *int) {
		if *i%150 == 0 {
			panic("boom")
		}
	}, indices(1000))
	waitBounded(t, f)
	want.Ran, want.Panicked = 1000, 7
	check("a batch with 7 panics")

	// Singles, closures, a range: run by workers and by waiters alike.
	for range 300 {
		zeropool.Submit(p, func(*int) {}, new(int)).Wait()
		p.Go(func() {}).Wait()
	}
	zeropool.SubmitRange(p, 5000, func(lo, hi int) {}).Wait()
	want.Ran += 600 + 5000
	check("singles, closures and a range")

	// An error stop with the only runner held back: tasks 0..9 run, the
	// 10th fails, the other 90 are skipped.
	q := newPool(t, zeropool.WithWorkers(1))
	blockWorkers(t, q)
	g := zeropool.SubmitBatchErr(q, func(i *int) error {
		if *i == 9 {
			return errLeaf
		}
		return nil
	}, indices(100))
	if err := g.Wait(); err != errLeaf {
		t.Fatalf("Wait = %v; want errLeaf", err)
	}
	if st := q.Stats(); st.Ran != 10 || st.Failed != 1 || st.Skipped != 90 {
		t.Fatalf("after an error at task 9 of 100: Stats = %+v; want Ran 10, Failed 1, Skipped 90", st)
	}

	// Cancel skips what no one claimed; those are counted, not run.
	c := zeropool.SubmitBatchUniform(q, func(*int) {}, indices(50))
	c.Cancel()
	single := zeropool.Submit(q, func(*int) {}, new(int))
	single.Cancel()
	if err := c.Wait(); !errors.Is(err, zeropool.ErrCanceled) {
		t.Fatalf("Wait = %v; want ErrCanceled", err)
	}
	if st := q.Stats(); st.Ran != 10 || st.Skipped != 90+50+1 {
		t.Fatalf("after Cancel of 51 tasks: Stats = %+v; want Ran 10, Skipped 141", st)
	}
}

// waitIdle waits until every worker of p is asleep: they have finished
// their runs, and counted what they passed.
func waitIdle(t *testing.T, p *zeropool.Pool) {
	t.Helper()
	pollUntil(t, deadlineFromNow(), func() bool { st := p.Stats(); return st.IdleWorkers == st.Workers },
		func() string { return "the workers never went to sleep" })
}

func indices(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestStatsEstimates: Queued and IdleWorkers read off the queue and the
// workers' state.
func TestStatsEstimates(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	var fs []*zeropool.TaskFuture
	for range 200 { // across a block boundary
		fs = append(fs, zeropool.Submit(p, func(*int) {}, new(int)))
	}
	fs = append(fs, zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 1000)))
	if st := p.Stats(); st.Queued != 201 || st.IdleWorkers != 0 {
		t.Fatalf("with the worker held and 200 singles and a batch queued: Stats = %+v; want Queued 201, IdleWorkers 0", st)
	}
	release()
	for _, f := range fs {
		mustComplete(t, f)
	}
	pollUntil(t, deadlineFromNow(), func() bool { st := p.Stats(); return st.Queued == 0 && st.IdleWorkers == 1 },
		func() string { return "the worker never went back to sleep on an empty queue" })
	if st := p.Stats(); st.Ran != 1+200+1000 {
		t.Fatalf("Ran = %d; want %d (the blocking task, 200 singles, a batch of 1000)", st.Ran, 1+200+1000)
	}
	closeBounded(t, p)
	if st := p.Stats(); st.Queued != 0 {
		t.Fatalf("after Close: Queued = %d; want 0 (the stop record is not a task)", st.Queued)
	}
}

// TestStatsWhileRunning: Stats from many goroutines while tasks run, under
// -race; the counts only grow, and add up once everything is waited for.
func TestStatsWhileRunning(t *testing.T) {
	p := newPool(t)
	var stop atomic.Bool
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for !stop.Load() {
				st := p.Stats()
				if st.Ran < last {
					t.Errorf("Ran went back from %d to %d", last, st.Ran)
					return
				}
				last = st.Ran
			}
		}()
	}
	var submitters sync.WaitGroup
	for range 4 {
		submitters.Add(1)
		go func() {
			defer submitters.Done()
			for range 200 {
				zeropool.Submit(p, func(*int) {}, new(int)).Wait()
				zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 50)).Wait()
			}
		}()
	}
	waitGroupBounded(t, &submitters, "submitters")
	stop.Store(true)
	waitGroupBounded(t, &readers, "Stats readers")
	waitIdle(t, p)
	if st := p.Stats(); st.Ran != 4*200*51 {
		t.Fatalf("Ran = %d; want %d", st.Ran, 4*200*51)
	}
}
