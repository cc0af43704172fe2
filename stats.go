package zeropool

import (
	"sync/atomic"
	"unsafe"
)

// Stats is a snapshot of a pool's state and counts, from Pool.Stats.
//
// Ran, Panicked, Failed and Skipped are exact for every future that has
// completed: a task is counted before its future completes, so once every
// Wait has returned they add up. While tasks run they are a moment's view,
// each read once. IdleWorkers and Queued are estimates of a moment: the
// pool's state moves while they are read.
type Stats struct {
	Workers     int // worker goroutines
	IdleWorkers int // workers asleep, waiting for work (estimate)

	// Queued counts records in the queue not yet taken: a single task is
	// one, and so is a whole batch or range until its last chunk is
	// claimed (estimate). It is read off the queue's indices: nothing is
	// counted on submit.
	Queued int

	Ran      uint64 // tasks run, by workers and by waiters; a range counts its indices
	Panicked uint64 // tasks that panicked or called runtime.Goexit
	Failed   uint64 // tasks that returned a non-nil error
	Skipped  uint64 // tasks skipped by Cancel or by an error's stop
}

// counters is what Stats sums besides the workers' own counts. None is
// touched per task on a path that succeeds: waiters add per chunk they
// run, and the rest count failures and skips.
type counters struct {
	_ [cacheLine]byte

	// waiterRan counts tasks run by goroutines in Wait, one add per
	// chunk, spread over stripes by the record's address so that
	// waiters of different futures seldom share a line.
	waiterRan [waiterStripes]struct {
		n atomic.Uint64
		_ [cacheLine - 8]byte
	}

	panicked, failed, skipped atomic.Uint64
	_                         [cacheLine - 24]byte
}

// waiterStripes is how many lines waiters' counts are spread over.
const waiterStripes = 8

// countRan counts k tasks that w (nil for a waiter) has run.
func (t *task) countRan(w *worker, k int) {
	if w != nil {
		// w's goroutine is the only writer: a plain store will do.
		w.ran.Store(w.ran.Load() + uint64(k))
		return
	}
	// A single task's record is a 32-byte slot: its address picks a
	// stripe, and neighbouring slots, which one goroutine submitting in
	// a loop waits on in turn, take different ones.
	s := uintptr(unsafe.Pointer(t)) / unsafe.Sizeof(task{}) % waiterStripes
	t.pool().stats.waiterRan[s].n.Add(uint64(k))
}

// Stats returns a snapshot of p's state and counts. It takes no lock and
// costs the submit, claim and run paths nothing: each worker counts what
// it runs on a line of its own, waiters count per chunk, and the queue's
// length is read off its indices. It is safe to call at any time, from
// any goroutine, also after Close.
func (p *Pool) Stats() Stats {
	s := Stats{
		Workers:     p.workers,
		IdleWorkers: int(max(p.idle.Load(), 0)),
		Queued:      p.q.length(),
		Panicked:    p.stats.panicked.Load(),
		Failed:      p.stats.failed.Load(),
		Skipped:     p.stats.skipped.Load(),
	}
	for _, w := range p.all {
		s.Ran += w.ran.Load()
	}
	for i := range p.stats.waiterRan {
		s.Ran += p.stats.waiterRan[i].n.Load()
	}
	if p.closed.Load() && s.Queued > 0 {
		s.Queued-- // the stop record
	}
	return s
}

// length is how many slots between the head block's pop index and the
// tail's push index are taken and not yet consumed: a moment's estimate,
// since producers and consumers move on while it reads.
func (q *queue) length() int {
	n := 0
	for b := q.head.Load(); b != nil; {
		if k := min(b.push.Load(), blockSlots) - b.pop.Load(); k > 0 {
			n += int(k)
		}
		next := b.next.Load()
		if next == b { // retired while we read: the rest is past it
			return n
		}
		b = next
	}
	return n
}
