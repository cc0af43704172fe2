// Package zeropool is a thread pool for work measured in microseconds: one
// lock-free FIFO queue of task records, typed zero-copy dispatch, and
// results written by the tasks straight into memory the caller provided.
//
// A task is a func(*T) and a *T of params. Submit queues one; SubmitBatchUniform
// queues fn(&params[i]) for a whole slice as a single record, which the
// workers (and the goroutine waiting on it) claim in chunks. Each submission
// returns a *TaskFuture to wait on.
//
// # Params and lifetimes
//
// The pool passes the caller's pointer to the task; it copies nothing. From
// Submit until the future completes, the params belong to the tasks: the
// caller must not write them, nor read what tasks write there. Tasks of one
// batch run concurrently and must not write to each other's params unless
// they synchronize. The pool keeps the params reachable until their tasks
// have run, so params referenced only by the submission are safe, and it
// drops them once those tasks have run.
//
// # Memory model
//
// Everything a task does is synchronized before the return of a Wait on its
// future (or a true WaitTimeout, a non-context-error WaitContext, or a true
// IsComplete). Submit is synchronized before the task runs.
//
// # Failures
//
// A task that panics does not take down its worker or the process: the
// future records the first panic as a *PanicError, the other tasks still
// run, and Wait re-panics with it in the waiting goroutine. Misuse (nil
// func, nil params, negative counts, submitting to a closed pool) panics in
// the caller at submit time with a "zeropool:" message.
package zeropool

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A Pool runs tasks on a fixed set of worker goroutines that share one FIFO
// queue. Idle workers sleep; an idle pool uses no CPU.
//
// A submission costs at most one allocation (for a single task, 1/31 of
// one) and a few atomic operations whatever its size, and a task of a
// batch costs a few nanoseconds on top of its own work (see the README for
// measurements): batches of small tasks are what it is best at. A Pool
// must not be copied.
type Pool struct {
	q queue

	// closed goes from false to true once, when Close begins. A submit
	// reads it after its push (see submit); Close sets it before pushing
	// sentinel, so a submit that reads false pushed ahead of sentinel.
	closed atomic.Bool
	_      [cacheLine - 1]byte

	// idle counts workers committed to sleep: they have announced
	// themselves under mu and will look at the queue once more before
	// waiting on work. searching counts workers woken (or back from a
	// look at the queue) that have not yet claimed a task. Both are
	// changed only under mu, except that a searching worker that claims
	// a task decrements searching without it; both are read without mu by
	// submitters deciding whether a wake-up is needed.
	idle      atomic.Int32
	searching atomic.Int32
	_         [cacheLine - 8]byte

	mu sync.Mutex
	// work is where idle workers sleep.
	work sync.Cond
	// wakeups counts Signals on work not yet taken by a worker. Guarded by mu.
	wakeups int
	// stopping is set by Close, under mu, once it has published
	// stopRecord. Workers exit once the queue has been consumed up to
	// that record: every record published ahead of it has then been
	// claimed.
	stopping bool

	workers  int
	split    int64 // claims take 1/split of the unclaimed tasks
	runSplit int64 // a worker takes 1/runSplit of the single tasks it sees
	lockOS   bool
	global   bool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// ErrClosed is wrapped by the panic of a submission to a closed pool.
var ErrClosed = errors.New("zeropool: pool is closed")

var errSubmitClosed = fmt.Errorf("%w: cannot submit", ErrClosed)

// An Option configures New.
type Option func(*config)

type config struct {
	workers int
	lockOS  bool
}

// WithWorkers sets the number of worker goroutines; New panics if n < 1.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithLockOSThread pins each worker to its own OS thread with
// runtime.LockOSThread when on is true. The default is false: see the
// README for the measurements behind it.
func WithLockOSThread(on bool) Option { return func(c *config) { c.lockOS = on } }

// New starts a pool with runtime.GOMAXPROCS(0) workers unless an option
// says otherwise.
func New(opts ...Option) *Pool {
	c := config{workers: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(&c)
	}
	if c.workers < 1 {
		panic(fmt.Sprintf("zeropool: WithWorkers(%d): a pool needs at least one worker", c.workers))
	}
	p := &Pool{workers: c.workers, lockOS: c.lockOS, split: 2 * int64(c.workers+1), runSplit: int64(c.workers)}
	p.q.init()
	p.work.L = &p.mu
	p.wg.Add(c.workers)
	for range c.workers {
		go p.runWorker(new(worker), nil, 0, 0, 0)
	}
	return p
}

var global = sync.OnceValue(func() *Pool {
	p := New()
	p.global = true
	return p
})

// Global returns a pool shared by the whole process, started on the first
// call with New's defaults. Its Close does nothing.
func Global() *Pool { return global() }

// Workers returns the number of worker goroutines.
func (p *Pool) Workers() int { return p.workers }

// Close waits for every accepted task to run, then stops the workers and
// returns once they have exited. Submissions after Close has begun panic
// with an error wrapping ErrClosed; one racing Close either panics so or is
// run. Close may be called many times, from many goroutines; every call
// returns after the pool has stopped. Close must not be called from a task
// of the pool. On the Global pool, Close does nothing.
func (p *Pool) Close() {
	if p.global {
		return
	}
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		publish(p.q.reserve(), &stopRecord)
		p.mu.Lock()
		p.stopping = true
		p.work.Broadcast()
		p.mu.Unlock()
		// Workers drain the queue up to stopRecord, then wait for the
		// records they passed while a waiter still ran them, before they
		// exit (see worker.passed). So after this every accepted task has
		// run, whoever claimed it.
		p.wg.Wait()
	})
}

// stopRecord is what Close publishes behind the last accepted record. It
// has no tasks, and no consumer ever takes its slot, so every worker finds
// it at the front once the queue has drained.
var stopRecord task

// stoppedLocked reports whether the pool is closed and the queue has been
// consumed up to stopRecord. Called with mu held.
func (p *Pool) stoppedLocked() bool {
	if !p.stopping {
		return false
	}
	_, _, rec := p.q.front()
	return rec == &stopRecord
}

func (p *Pool) submit(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) *TaskFuture {
	if p == nil {
		panic("zeropool: submit to a nil *Pool")
	}
	// This early check only keeps a closed pool's queue from growing with
	// refused records; the check that decides is the one after push.
	if p.closed.Load() {
		panic(errSubmitClosed)
	}
	if n == 0 {
		return completed
	}
	slot := p.q.reserve()
	var f *TaskFuture
	if n == 1 {
		f = slot
	} else {
		b := &batchTask{stride: stride}
		f = &b.TaskFuture
	}
	f.fn, f.base, f.n, f.pool = fn, base, n, p
	// This store hands f to the workers.
	publish(slot, &f.task)
	// Only now, after f is published, may we decide nobody needs
	// waking: a worker that missed f in the queue had already counted
	// itself idle (see park). A refused f needs this too: workers must
	// get past it to reach Close's stopRecord.
	if p.searching.Load() == 0 && p.idle.Load() > 0 {
		p.wake()
	}
	// Close sets closed before it reserves the slot of stopRecord. If
	// closed is still false here, f's slot is ahead of that one, so
	// workers will run f. If not, f may be behind it: refuse it, unless
	// someone already claimed a task of it. Checking closed before the
	// publish instead would leave a window in which Close could finish
	// between check and publish, and f would be accepted and never run.
	if p.closed.Load() {
		p.refuse(f)
	}
	return f
}

// refuse takes back f, pushed while the pool was closing, and panics; or,
// if a worker has already claimed part of it, lets it run and returns.
func (p *Pool) refuse(f *TaskFuture) {
	// Claiming every task makes f spent: nobody can run it now.
	if f.cursor.CompareAndSwap(0, int64(f.n)) {
		// Finished too: f's slot is published, and whoever sweeps or
		// passes it must see a record with nothing left to run.
		f.finished.Store(int64(f.n))
		panic(errSubmitClosed)
	}
}

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
			// Broadcast, while the sentinel was not yet reached.
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

	// passed holds records that left the queue through this worker (it
	// moved pop past them) while a waiter was still running a task of
	// theirs. The worker waits for them to finish before it exits, which
	// is how Close waits for tasks that waiters claimed: no other
	// goroutine moves pop past an unfinished record (see queue.sweep).
	passed []*task
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
	if p.lockOS {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if t != nil {
		t.runChunk(next, lo, hi, w)
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
		if t.cursor.CompareAndSwap(0, 1) {
			t.runChunk(0, 0, 1, w)
		} else {
			w.pass(&t.task) // its waiter claimed it
		}
	}
	w.b = nil
}

func (p *Pool) loop(w *worker) {
	searching := false
	for {
		b, i, rec := p.q.front()
		if rec == nil || rec == &stopRecord {
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
			continue
		}
		// A batch stays at the front until its last chunk is claimed.
		lo, hi, ok := rec.claim()
		if !ok || hi == rec.n {
			// Spent, or we took the last chunk: move pop past it now
			// rather than leave the next worker to find it spent.
			if b.pop.CompareAndSwap(i, i+1) && !ok {
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
		rec.runChunk(lo, lo, hi, w)
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

// afterGoexit runs in the deferred call of a task that called
// runtime.Goexit, on a goroutine that is about to end. Another goroutine
// finishes the chunk it claimed and, if it was a worker, takes its place.
func (p *Pool) afterGoexit(t *task, next, lo, hi int, w *worker) {
	if w != nil {
		// The dying worker still holds its count in wg, so this Add
		// cannot race a Close whose wg.Wait has seen zero.
		p.wg.Add(1)
		go p.runWorker(w, t, next, lo, hi)
		return
	}
	// The record stays unfinished until this goroutine has run the
	// chunk, so Close waits for it through the worker that passes it.
	go t.runChunk(next, lo, hi, nil)
}
