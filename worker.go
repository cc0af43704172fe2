package zeropool

import (
	"runtime"
	"slices"
	"sync/atomic"
)

// wake moves one idle worker to searching, unless a worker is searching
// already: that one will find the work, and waking a second for a single
// record only to have it go back to sleep costs more than it saves.
func (p *Pool) wake() {
	p.mu.Lock()
	if p.idle.Load() > 0 && p.searching.Load() == 0 {
		p.idle.Add(-1)
		p.searching.Add(1)
		p.wakeups++
		p.work.Signal()
	}
	p.mu.Unlock()
}

// park puts a worker to sleep until there is work, reporting true when the
// pool has closed and drained instead.
//
// The worker counts itself idle before its last look at the queue. A
// submitter pushes before it reads idle. So either that look sees the
// record, or the submitter sees the worker idle and wakes someone: a
// wake-up cannot be lost between them.
func (p *Pool) park(searching bool) (exit bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if searching {
		p.searching.Add(-1)
	}
	p.idle.Add(1)
	for {
		if p.wakeups > 0 {
			// Our waker already moved us from idle to searching.
			p.wakeups--
			return false
		}
		if !p.q.empty() {
			p.idle.Add(-1)
			p.searching.Add(1)
			return false
		}
		if p.stoppedLocked() {
			// Others may have gone back to sleep after Close's
			// Broadcast, while stopRecord was not yet reached.
			p.idle.Add(-1)
			p.work.Broadcast()
			return true
		}
		p.work.Wait()
	}
}

// A worker is the state of a worker goroutine that outlives it: the run
// of single-task slots it has taken and not yet finished, and the records
// it has passed while waiters ran them. The goroutine that replaces it
// after a runtime.Goexit takes both over.
type worker struct {
	b         *block
	next, end int64 // slots next..end-1 of b are still to run

	// ran counts the tasks this worker has run. Only the worker's
	// goroutine (or, after a Goexit, the one that replaces it) writes
	// it, with a plain store; Stats loads it. Sharing a line with the
	// fields above, which only the same goroutine writes, costs nothing.
	ran atomic.Uint64

	// passed holds records that left the queue through this worker (it
	// moved pop past them) while a waiter was still running a task of
	// theirs. The worker waits for them to finish before it exits, which
	// is how Close waits for tasks that waiters claimed: no other
	// goroutine moves pop past an unfinished record (see queue.sweep).
	passed []*task

	// c is the chunk the worker goroutine is running (see runChunk).
	// Only that goroutine touches it, and, once it ends in a Goexit, its
	// deferred call in runWorker, before it starts the replacement.
	c chunkRun

	// Workers are allocated one after another: without this, two could
	// share a cache line, and each one's ran store would slow the other.
	_ [cacheLine]byte
}

// pass notes that w moved pop past t, which may still be running.
func (w *worker) pass(t *task) {
	if t.done() {
		return
	}
	if len(w.passed) >= 16 {
		w.passed = slices.DeleteFunc(w.passed, (*task).done)
	}
	w.passed = append(w.passed, t)
}

// waitPassed waits until every record w passed has finished.
func (w *worker) waitPassed() {
	for _, t := range w.passed {
		if ch := t.sleepOn(); ch != nil {
			<-ch
		}
	}
	w.passed = nil
}

// runWorker is a worker goroutine. A worker replacing one lost to
// runtime.Goexit first finishes that worker's chunk [next, hi) of t and
// then the rest of its run, w.
func (p *Pool) runWorker(w *worker, t *task, next, lo, hi int) {
	defer p.wg.Done()
	// If a task (or the panic handler) ends this goroutine with
	// runtime.Goexit, w.c says where in its chunk, and goexit hands the
	// chunk and the worker on. Registered before LockOSThread's undo, so
	// it runs after it: the replacement locks a thread of its own.
	defer w.c.goexit()
	if p.lockOS {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if t != nil {
		t.runChunk(next, lo, hi, w, -1)
	}
	p.runSlots(w)
	p.loop(w)
	w.waitPassed()
}

// runSlots runs what is left of w's run. Each slot is claimed against its
// waiter, who may have run it already. w.next moves past a slot before it
// runs, so a replacement never runs it twice.
func (p *Pool) runSlots(w *worker) {
	for w.next < w.end {
		t := &w.b.slots[w.next]
		w.next++
		if t.claimOne() {
			t.runChunk(0, 0, 1, w, -1)
		} else {
			// Its waiter claimed it (or Cancel or refuse did). A waiter's
			// single is counted by whoever moves pop past it: here, on
			// this worker's own line, once it has run. If it is still
			// running, stPassed hands the count to its waiter's finish:
			// counted now, Ran would run ahead of the task.
			if v := t.state.Load(); v&stByWaiter != 0 {
				for v&stFinished == 0 && !t.state.CompareAndSwap(v, v|stPassed) {
					v = t.state.Load()
				}
				if v&stFinished != 0 {
					w.ran.Store(w.ran.Load() + 1)
				}
			}
			w.pass(&t.task)
		}
	}
	w.b = nil
}

func (p *Pool) loop(w *worker) {
	searching := false
	// last is the record of the last chunk this worker ran, or nil after
	// singles: a range's worker spins before it parks. Whether last is a
	// range is read only then, not on every chunk.
	var last *task
	for {
		b, i, rec := p.q.front()
		if rec == nil || rec == &stopRecord {
			if rec == nil && last != nil && !searching {
				isRange := last.isRange()
				last = nil // nor keep it alive while asleep
				if isRange {
					if searching = p.spin(); searching {
						continue
					}
				}
			}
			if p.park(searching) {
				return
			}
			searching = true
			continue
		}
		if rec == &b.slots[i].task {
			// A run of single tasks: take up to a share of those
			// published with one CAS, then claim each against its own
			// waiter, who may have taken it already.
			k := max(b.runAt(i, maxRun)/p.runSplit, 1)
			if !b.pop.CompareAndSwap(i, i+k) {
				continue
			}
			if searching {
				searching = false
				p.foundWork()
			}
			w.b, w.next, w.end = b, i, i+k
			p.runSlots(w)
			last = nil
			continue
		}
		// A batch stays at the front until its last chunk is claimed.
		bt := rec.batch()
		lo, hi, ok := bt.claim()
		if !ok || hi == bt.n {
			// Spent, or we took the last chunk: move pop past it now
			// rather than leave the next worker to find it spent.
			// Waiters may still run chunks of it: note it for Close.
			if b.pop.CompareAndSwap(i, i+1) {
				w.pass(rec)
			}
		}
		if !ok {
			continue
		}
		if searching {
			searching = false
			p.foundWork()
		}
		last = rec
		rec.runChunk(lo, lo, hi, w, -1)
	}
}

// spinNs is how long a worker that ran a chunk of a range keeps looking
// at the queue before it sleeps. Loops come in runs (a filter calls one
// per pass), and a worker asleep when the next one is handed out starts
// late: the wake-up readies it into the caller's P, where it waits until
// the caller blocks or another P's thread, itself asleep in the kernel,
// wakes and steals it (benchmarks/LOOPS.md, the trace). A range's gap to
// the next is short; a batch's or a single's is not known, and spinning
// after those made B11, a batch after a 50 µs pause, a fifth slower.
const spinNs = 50_000

// spin looks at the queue for up to spinNs, yielding between looks, until
// it finds a record. It reports false if it did not spin (one core, or
// another worker spinning); true, found or not, leaves the worker
// searching. Only one worker spins at a time.
//
// The spinner counts itself searching, under mu, before its first look,
// so that a submitter leaves the wake-up to it: waking a sleeper as well
// would cost the submitter a Signal, and a loop's caller its P (see
// publish's yield), for a worker that finds nothing. It is then a
// searching worker like any other: if it finds nothing it parks with
// searching set, and park's last look under mu covers a record pushed
// after its last spin look; if it finds work, foundWork passes the
// wake-up on.
func (p *Pool) spin() bool {
	if !parallel() || !p.spinning.CompareAndSwap(false, true) {
		return false
	}
	defer p.spinning.Store(false)
	p.mu.Lock()
	p.searching.Add(1)
	p.mu.Unlock()
	for start := clock(); ; {
		if _, _, rec := p.q.front(); rec != nil {
			return true // a record, or Close's stop: loop sees which
		}
		if clock()-start >= spinNs {
			return true // searching: park will undo it
		}
		runtime.Gosched()
	}
}

// maxRun bounds the run of single tasks a worker looks at, and so the
// slots it reads before claiming; runSplit is the share of the run it
// takes, so that other workers find the rest.
const maxRun = 16

// foundWork is called by a searching worker that claimed a task. If it was
// the last searcher, submitters have been leaving wake-ups to it (see
// wake), so if work remains it must wake the next worker itself.
func (p *Pool) foundWork() {
	if p.searching.Add(-1) == 0 && p.idle.Load() > 0 && !p.q.empty() {
		p.wake()
	}
}

// spinDone looks for up to spinNs, yielding between looks, whether f has
// finished. Only a range's waiter does, and only when there is another
// core: the chunks still running are a loop's last blocks, which on a
// balanced loop end within microseconds of the waiter's own. A waiter
// that sleeps is readied, when the last block ends, into the P of the
// worker that ran it, and that worker's next loop starts late: the two
// then share one P until another P's thread wakes (benchmarks/LOOPS.md).
//
// It is here rather than beside Wait because in future.go it moved the
// functions linked after it, among them runFrom's per-task loop, by 32
// bytes mod 64, and that alone made B4's large batches 13% slower
// (benchmarks/LOOPS.md, "Layout"). Code added before run.go can do that.
func (f *TaskFuture) spinDone() bool {
	if !parallel() {
		return false
	}
	for start := clock(); clock()-start < spinNs; {
		if f.IsComplete() {
			return true
		}
		runtime.Gosched()
	}
	return f.IsComplete()
}
