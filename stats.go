package zeropool

import (
	"sync/atomic"
	"unsafe"
)

// Stats is a snapshot of a pool, from Pool.Stats: how many workers it has
// and how many are asleep, how much work is queued, and how many tasks
// have run, panicked, failed or been skipped since it started.
//
// Ran, Panicked, Failed and Skipped only grow from one call to the next,
// and never count a task before it has finished. Once the pool is idle
// (every future and group waited on, every worker asleep) they are exact;
// while tasks run, Ran may lag behind by a few tasks. IdleWorkers and
// Queued describe a moment that has already moved on when you read them:
// use them for dashboards and back-pressure hints, not for decisions that
// must be exact.
type Stats struct {
	Workers     int // worker goroutines
	IdleWorkers int // workers asleep, waiting for work (estimate)

	// Queued counts submissions waiting to start: a single task or a
	// group's task is one, and so is a whole batch or range until its
	// last chunk has been started (estimate).
	Queued int

	Ran      uint64 // tasks run, by workers and by waiters; a range counts its indices
	Panicked uint64 // tasks that panicked or called runtime.Goexit
	Failed   uint64 // tasks that returned a non-nil error
	Skipped  uint64 // tasks skipped by Cancel or by an error's stop
}

// counters is what Stats sums besides the workers' own counts. None is
// touched per task on a path that succeeds: a waiter adds once per Wait
// on a batch, sweep once per sweep, and the rest count failures and skips.
type counters struct {
	_ [cacheLine]byte

	// waiterRan counts the batch tasks run by goroutines in Wait, spread
	// over stripes by the record's address so that waiters of different
	// futures seldom share a line.
	waiterRan [waiterStripes]struct {
		n atomic.Uint64
		_ [cacheLine - 8]byte
	}

	// swept counts singles run by their waiters that sweep moved pop
	// past (see countSwept).
	swept                     atomic.Uint64
	panicked, failed, skipped atomic.Uint64

	// ran is the highest Ran any Stats call has returned, so that Ran
	// never goes back (see Stats). Only Stats touches it.
	ran atomic.Uint64
	_   [cacheLine - 40]byte
}

// waiterStripes is how many lines waiters' counts are spread over.
const waiterStripes = 8

// countWaiter counts k tasks of the batch t that a waiter has run.
func (p *Pool) countWaiter(t *task, k int) {
	s := uintptr(unsafe.Pointer(t)) / unsafe.Sizeof(batchTask{}) % waiterStripes
	p.stats.waiterRan[s].n.Add(uint64(k))
}

// Stats returns a snapshot of p's state and counts. It takes no lock, and
// costs the submit, claim and run paths nothing: each worker counts what
// it runs on a line of its own, a waiter counts a batch's tasks once per
// Wait, the singles waiters run are marked in the claim they already make
// and counted by whoever moves the queue past them, and the queue's
// length is read off its indices. It is safe to call at any time, from
// any goroutine, also after Close.
func (p *Pool) Stats() Stats {
	s := Stats{
		Workers:     p.workers,
		IdleWorkers: int(max(p.idle.Load(), 0)),
		Panicked:    p.stats.panicked.Load(),
		Failed:      p.stats.failed.Load(),
		Skipped:     p.stats.skipped.Load(),
	}
	// The counters before the queue. A waiter's single is counted by
	// the goroutine that moves pop past it, after the move, or here if
	// pop has not passed it: reading the counters first, a move we see
	// in the scan was made before the counter was read, so no single is
	// counted twice (one may be missed, and Ran lags).
	ran := p.stats.swept.Load()
	for _, w := range p.all {
		ran += w.ran.Load()
	}
	for i := range p.stats.waiterRan {
		ran += p.stats.waiterRan[i].n.Load()
	}
	queued, unpassed := p.q.scan()
	s.Queued, ran = queued, ran+unpassed
	// Never below an earlier snapshot: a single another call counted in
	// its scan may be between a worker's move and its count now.
	for {
		old := p.stats.ran.Load()
		if ran <= old {
			ran = old
			break
		}
		if p.stats.ran.CompareAndSwap(old, ran) {
			break
		}
	}
	s.Ran = ran
	return s
}

// scan reads the queue from the head block's pop index to the tail's
// push index: how many records there still have tasks to claim, and how
// many singles there their waiters have claimed (run or running), which no
// one has counted yet. A moment's estimate: producers and consumers move
// on while it reads.
func (q *queue) scan() (queued int, waiterRan uint64) {
	for b := q.head.Load(); b != nil; {
		end := min(b.push.Load(), blockSlots)
		for i := b.pop.Load(); i < end; i++ {
			s := &b.slots[i]
			switch v := s.state.Load(); {
			case v&pubOne != 0:
				if v&stClaimed == 0 {
					queued++
				} else if v&(stByWaiter|stFinished) == stByWaiter|stFinished {
					waiterRan++ // run, not running: Ran never runs ahead
				}
			case v&pubBatch != 0:
				if bt := (*task)(s.base).batch(); bt.cursor.Load() < int64(bt.n) {
					queued++
				}
			case v&pubStop == 0:
				queued++ // reserved, about to be published
			}
		}
		next := b.next.Load()
		if next == b { // retired while we read: the rest is past it
			break
		}
		b = next
	}
	return queued, waiterRan
}
