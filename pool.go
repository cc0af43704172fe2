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
	// helpers counts waiters running their own future's tasks (see help),
	// so that Close can wait for chunks no worker holds. Workers and
	// submits never touch it.
	helpers atomic.Int64
	_       [cacheLine - 8]byte

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

	// slab is where newRecord carves single-task records from; never nil
	// after New. Only the submitter handed a slab's first index past its
	// end replaces it (see newRecord).
	slab atomic.Pointer[slab]
	_    [cacheLine - 8]byte

	mu sync.Mutex
	// work is where idle workers sleep; drained is where Close waits for
	// helpers to reach zero.
	work, drained sync.Cond
	// wakeups counts Signals on work not yet taken by a worker. Guarded by mu.
	wakeups int
	// sentinel is the empty record Close pushes; nil until then. Guarded
	// by mu. Workers exit once the queue has been consumed past it: every
	// record pushed ahead of it has then been claimed.
	sentinel *task

	workers int
	split   int64 // claims take 1/split of the unclaimed tasks
	lockOS  bool
	global  bool

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
	p := &Pool{workers: c.workers, lockOS: c.lockOS, split: 2 * int64(c.workers+1)}
	p.q.init()
	p.slab.Store(new(slab))
	p.work.L = &p.mu
	p.drained.L = &p.mu
	p.wg.Add(c.workers)
	for range c.workers {
		go p.runWorker(nil, 0, 0, 0)
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
		sentinel := &task{pool: p}
		p.q.push(sentinel)
		p.mu.Lock()
		p.sentinel = sentinel
		p.work.Broadcast()
		p.mu.Unlock()
		// Workers drain the queue up to sentinel before they exit, so
		// after this every accepted task is claimed, and every chunk a
		// worker claimed has run.
		p.wg.Wait()
		// A waiter may still be running a chunk it claimed; any waiter
		// that comes after this finds nothing left to claim.
		p.mu.Lock()
		for p.helpers.Load() != 0 {
			p.drained.Wait()
		}
		p.mu.Unlock()
	})
}

// leaveHelp ends a waiter's help counted in helpers.
func (p *Pool) leaveHelp() {
	// Close loads helpers after it sets closed; we load closed after we
	// decrement. So if Close saw us counted, we see closed and wake it.
	if p.helpers.Add(-1) == 0 && p.closed.Load() {
		p.mu.Lock()
		p.drained.Broadcast()
		p.mu.Unlock()
	}
}

// stoppedLocked reports whether the pool is closed and the queue has been
// consumed past the sentinel. Called with mu held.
func (p *Pool) stoppedLocked() bool {
	s := p.sentinel
	if s == nil {
		return false
	}
	// s is past once it is the dummy head or has been unlinked as one
	// (self-linked). Before that, a record pushed ahead of it may still
	// be between its producer's Swap and Store, invisible to peek.
	return p.q.head.Load() == s || s.next.Load() == s
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
	var f *TaskFuture
	if n == 1 {
		f = p.newRecord()
	} else {
		b := &batchTask{stride: stride}
		f = &b.TaskFuture
	}
	f.fn, f.base, f.n, f.pool = fn, base, n, p
	p.q.push(&f.task)
	// Only now, after push published f, may we decide nobody needs
	// waking: a worker that missed f in the queue had already counted
	// itself idle (see park). A refused f needs this too: workers must
	// get past it to reach Close's sentinel.
	if p.searching.Load() == 0 && p.idle.Load() > 0 {
		p.wake()
	}
	// Close sets closed before it pushes its sentinel. If closed is still
	// false here, f is ahead of the sentinel, so workers will run it. If
	// not, f may be behind it: refuse it, unless someone already claimed
	// a task of it. Checking closed before the push instead would leave
	// a window in which Close could finish between check and push, and
	// f would be accepted and never run.
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

// runWorker is a worker goroutine. A worker replacing one lost to
// runtime.Goexit first finishes that worker's chunk [next, hi) of t.
func (p *Pool) runWorker(t *task, next, lo, hi int) {
	defer p.wg.Done()
	if p.lockOS {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if t != nil {
		t.runChunk(next, lo, hi, true)
	}
	p.loop()
}

func (p *Pool) loop() {
	searching := false
	for {
		h, t := p.q.peek()
		if t == nil {
			if p.park(searching) {
				return
			}
			searching = true
			continue
		}
		lo, hi, ok := t.claim()
		if !ok {
			p.q.advance(h, t)
			continue
		}
		if hi == t.n {
			// We took the last chunk: unlink t now rather than leave
			// the next worker to find it spent.
			p.q.advance(h, t)
		}
		if searching {
			searching = false
			p.foundWork()
		}
		t.runChunk(lo, lo, hi, true)
	}
}

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
func (p *Pool) afterGoexit(t *task, next, lo, hi int, worker bool) {
	if worker {
		// The dying worker still holds its count in wg, so this Add
		// cannot race a Close whose wg.Wait has seen zero.
		p.wg.Add(1)
		go p.runWorker(t, next, lo, hi)
		return
	}
	// The waiter's help was counted in helpers; this goroutine takes that
	// over (the waiter will never reach its own leaveHelp), so Close
	// waits for it through helpers rather than wg.
	go func() {
		t.runChunk(next, lo, hi, false)
		p.leaveHelp()
	}()
}

// slabRecords is how many records a slab holds: with its header, a slab
// is 2 KiB.
const slabRecords = 31

// A slab is a block of single-task records allocated at once.
//
// Allocating each record on its own was the largest cost of a Submit (a
// third of it, measured). A slab amortizes the allocation over 31
// records. A record is never reused: a caller may hold its future
// forever, and Go gives no way to know when it stops. The price is that
// a future kept alive keeps its whole slab (2 KiB) alive too. Of the
// queue, that is all it keeps: a record whose tasks have run has dropped
// its params and, once unlinked, its link to the records after it.
type slab struct {
	// used counts records handed out, and keeps counting past
	// slabRecords once the slab is spent. Each Add hands its caller a
	// distinct index: a record below slabRecords has exactly one owner,
	// and so does the index slabRecords itself, whose owner replaces the
	// slab.
	used atomic.Int64
	_    [cacheLine - 8]byte
	recs [slabRecords]TaskFuture
}

// newRecord returns a zeroed record that nobody else will be handed.
func (p *Pool) newRecord() *TaskFuture {
	s := p.slab.Load()
	i := s.used.Add(1) - 1
	if i < slabRecords {
		return &s.recs[i]
	}
	if i > slabRecords {
		// Another submitter is replacing s. Rather than wait for it,
		// or make a slab of our own that would mostly go to waste,
		// take a record on its own.
		return new(TaskFuture)
	}
	// We own index slabRecords, so we alone replace s, and s is still
	// current: a plain Store suffices.
	ns := new(slab)
	ns.used.Store(1)
	p.slab.Store(ns)
	return &ns.recs[0]
}
