package zeropool

import (
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"
)

// task is the head of a record, and the whole record of a single task:
// 32 bytes, so that a block's slot costs a single task half a cache line.
// The record of a batch or range is a batchTask, whose first field is its
// head; a slot that queues a batch points to it (see queue).
//
// A record is also the state behind its TaskFuture, so a submission is at
// most one allocation, and a single task's is a share of a block.
type task struct {
	// state says what the record is and how far it has got. In a slot
	// it is zero until publish stores, once, the slot's index in its
	// block and its kind (pubOne, pubBatch or pubStop), with errTask for
	// an error task. After that, for pubOne alone, stClaimed is set once,
	// by CompareAndSwap, by whoever claims the task (a worker whose run
	// includes the slot, its waiter, Cancel or refuse; the waiter sets
	// stByWaiter in the same CAS), and then stFinished once, by that
	// claimant, when the task has run. A batch's head holds batchHead
	// (rangeHead for a range, errTask for error tasks) from before it is
	// published and never changes: a batch's progress is in its
	// batchTask.
	state atomic.Uint64

	// fn and base are the task, written before publish hands the record
	// over and read-only afterwards, except that the goroutine that
	// completes the record clears them: every reader of them holds a
	// claim, and every claim is finished before that. In a pubBatch slot
	// fn is nil and base is the batchTask, for good.
	fn   func(unsafe.Pointer)
	base unsafe.Pointer

	// ext holds what few futures need: a failure, a channel to sleep on.
	// nil until the first failing task or blocking waiter installs one by
	// CompareAndSwap; it never changes after that. The goroutine that
	// completes t closes ext.done if ext is there. A waiter installs ext
	// before its last look at t's progress, and the completer records
	// its progress before it looks at ext, so one of them sees the other:
	// no waiter sleeps through completion.
	ext atomic.Pointer[extra]
}

// The bits of task.state.
const (
	slotIndex = 1<<7 - 1 // a slot's index in its block

	pubOne   = 1 << 7 // the slot is a single task's record
	pubBatch = 1 << 8 // the slot queues the batchTask at its base
	pubStop  = 1 << 9 // the slot is the pool's stop record

	stClaimed  = 1 << 10 // the single task has a claimant
	stFinished = 1 << 11 // the single task has run

	batchHead = 1 << 12 // the head of a batchTask
	rangeHead = 1 << 13 // the head of a range's batchTask

	// errTask: fn (or a range's body) returns an error; it is stored as
	// the plain func it shares its representation with (see errFunc).
	// Set with the kind, before publish, and never changed.
	errTask = 1 << 14

	// stByWaiter is set with stClaimed, in the same CompareAndSwap, when
	// the claimant of a single task is its own waiter (see claimOwn): how
	// Stats counts the singles waiters run without a count of their own.
	stByWaiter = 1 << 15
)

// extra is the part of a future's state that most futures never need.
type extra struct {
	// err is the future's first failure; set at most once, by CAS, and
	// always before the finish that the failure's task (or the tasks
	// Cancel skipped) count towards, so the completion publishes it.
	err  atomic.Pointer[failure]
	done chan struct{}
}

// failure is a future's first failure: an error a task returned,
// ErrCanceled, or the *PanicError of a task that panicked or called
// runtime.Goexit, which alone Wait re-panics.
type failure struct {
	err      error
	panicked bool
}

// batchTask is the record of a batch of two or more tasks, or of a range.
type batchTask struct {
	TaskFuture
	n    int   // set before publish, read-only after
	pool *Pool // set before publish, read-only after

	// cursor is the index of the first unclaimed task. claim moves it
	// forward by CompareAndSwap, up to n; Cancel, refuse and a task's
	// error move it straight to n+1 (see stop), claiming what is left so
	// that it never runs. It never goes back. cursor >= n means every
	// task is claimed, though some may still be running; cursor > n
	// means the batch is stopped: the runner of an error task looks
	// before each task and starts no more once it is.
	cursor atomic.Int64

	// finished counts tasks that have run. Each claim's runner adds its
	// chunk once the chunk has run; the addition that reaches n completes
	// the batch, and every earlier one is synchronized before it.
	finished atomic.Int64

	stride uintptr // set before publish, read-only after

	// nsPerTask is how long a task of the batch took, in nanoseconds, as
	// measured over the first chunk of two or more tasks to finish; zero
	// until then. Set once, by CompareAndSwap; claim reads it to keep
	// chunks short in time (see chunkBudget).
	nsPerTask atomic.Int64

	// body is the loop body of a range (see SubmitRange), whose fn is
	// nil. Set before publish; cleared, like fn, by the finish that
	// completes the record.
	body func(lo, hi int)
}

// batch returns the batchTask t heads, or nil if t is a single task.
func (t *task) batch() *batchTask {
	if t.state.Load()&batchHead == 0 {
		return nil
	}
	// batchHead is only ever set in the head of a batchTask (see
	// Pool.submit), so this conversion stays inside the allocation t
	// points into.
	return (*batchTask)(unsafe.Pointer(t))
}

// isRange reports whether t is the record of a range.
func (t *task) isRange() bool { return t.state.Load()&rangeHead != 0 }

// stride returns the distance between the params of t's tasks.
func (t *task) stride() uintptr {
	if b := t.batch(); b != nil && b.n > 1 {
		return b.stride
	}
	return 0 // only base itself is ever passed
}

// pool returns the pool t was submitted to.
func (t *task) pool() *Pool {
	v := t.state.Load()
	if v&batchHead != 0 {
		return (*batchTask)(unsafe.Pointer(t)).pool
	}
	// t is a published slot (only those ever run): its block begins
	// its index's worth of slots, and the block's header, before it.
	off := unsafe.Offsetof(block{}.slots) + uintptr(v&slotIndex)*unsafe.Sizeof(TaskFuture{})
	return (*block)(unsafe.Add(unsafe.Pointer(t), -int(off))).pool
}

// extras returns t's ext, installing it first if need be.
func (t *task) extras() *extra {
	if x := t.ext.Load(); x != nil {
		return x
	}
	x := &extra{done: make(chan struct{})}
	// This CAS publishes x; if it fails, another goroutine's is there
	// and is the one to use.
	if t.ext.CompareAndSwap(nil, x) {
		return x
	}
	return t.ext.Load()
}

// failure returns t's first failure, or nil.
func (t *task) failure() *failure {
	if x := t.ext.Load(); x != nil {
		return x.err.Load()
	}
	return nil
}

// claimOne claims the task of a single-task slot, against the workers
// whose runs include the slot, against its waiter, and against Cancel:
// exactly one caller ever gets true. It is false for a batch.
func (t *task) claimOne() bool {
	v := t.state.Load()
	return v&(pubOne|stClaimed) == pubOne && t.state.CompareAndSwap(v, v|stClaimed)
}

// claimOwn is claimOne for t's own waiter: the claim also marks t as run
// by its waiter (stByWaiter), at no cost beyond the CAS it already makes.
func (t *task) claimOwn() bool {
	v := t.state.Load()
	return v&(pubOne|stClaimed) == pubOne && t.state.CompareAndSwap(v, v|stClaimed|stByWaiter)
}

// done reports whether every task of t has finished.
func (t *task) done() bool {
	v := t.state.Load()
	if v&batchHead != 0 {
		b := (*batchTask)(unsafe.Pointer(t))
		return b.finished.Load() == int64(b.n)
	}
	return v&stFinished != 0
}

// claim takes the next chunk [lo, hi) of unclaimed tasks. Chunks are a
// share of what is left, so they start large, which keeps claims (a
// contended CAS each) rare on big batches of small tasks, and shrink to
// single tasks near the end, which keeps the load balanced when tasks are
// slow. Once a chunk has shown how long a task takes, no chunk is claimed
// that would take longer than chunkBudget.
func (b *batchTask) claim() (lo, hi int, ok bool) {
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c >= n {
			return 0, 0, false
		}
		k := (n - c) / b.pool.split
		if ns := b.nsPerTask.Load(); ns > 0 {
			k = min(k, chunkBudget/ns)
		}
		if k < 1 {
			k = 1
		}
		if b.cursor.CompareAndSwap(c, c+k) {
			return int(c), int(c + k), true
		}
	}
}

// claimRest claims every task of t not yet claimed and returns how many
// that was: the tasks Cancel and refuse keep from running. With all, it
// claims only if no task of t has been claimed yet. A batch it claims
// from is stopped (see batchTask.cursor).
func (t *task) claimRest(all bool) int {
	b := t.batch()
	if b == nil {
		if t.claimOne() {
			return 1
		}
		return 0
	}
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c >= n || all && c > 0 {
			return 0
		}
		if b.cursor.CompareAndSwap(c, n+1) {
			return int(n - c)
		}
	}
}

// stop stops b, even if every task is claimed already, and returns how
// many unclaimed tasks that kept from running.
func (b *batchTask) stop() int {
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c > n {
			return 0
		}
		if b.cursor.CompareAndSwap(c, n+1) {
			return int(n - c)
		}
	}
}

// stopped reports whether b is stopped: the runner of an error task
// starts no task of b once it is.
func (b *batchTask) stopped() bool { return b.cursor.Load() > int64(b.n) }

// runChunk runs tasks next..hi-1 of the claimed chunk [lo, hi) (next is lo
// unless resuming after a Goexit) and then finishes the chunk. A task that
// panics is recorded and the rest of the chunk still runs. It returns how
// many tasks ran. w is the worker running it, which counts them; nil for a
// waiter, which counts them itself (see help).
func (t *task) runChunk(next, lo, hi int, w *worker) (ran int) {
	var start time.Time
	b := t.batch()
	timed := b != nil && hi-next > 1 && b.nsPerTask.Load() == 0
	if timed {
		start = time.Now()
	}
	for i := next; i < hi; {
		j, skipped := t.runFrom(i, lo, hi, w)
		ran += j - i - skipped
		i = j
	}
	if timed {
		b.nsPerTask.CompareAndSwap(0, max(1, time.Since(start).Nanoseconds()/int64(hi-next)))
	}
	if w != nil {
		// Counted before finish, so that a worker's counts of a
		// future's tasks are synchronized before its completion. w's
		// goroutine is the only writer of w.ran: a plain store will do.
		w.ran.Store(w.ran.Load() + uint64(ran))
	}
	t.finish(hi - lo)
	return ran
}

// chunkBudget bounds, in nanoseconds, how long a chunk claimed once a
// batch's task time is known may take. A goroutine in Wait runs chunks
// beside the workers, so the runners can outnumber the cores, and one the
// scheduler preempts while it holds a chunk leaves that chunk for last,
// run alone while other cores idle: the budget bounds that loss.
const chunkBudget = 200_000

// runFrom runs tasks i, i+1, ... hi-1 and returns the index after the last
// one run: hi, or one past a task that panicked. A chunk of a range is one
// call, so a panic ends the whole chunk. The tasks of an error record stop
// at the first error (see runErrs): skipped is how many of i..next-1 did
// not run.
func (t *task) runFrom(i, lo, hi int, w *worker) (next, skipped int) {
	defer func() {
		if i < hi {
			// Task i did not return. recover is nil only when it called
			// runtime.Goexit, which no defer can stop.
			resume := i + 1
			if t.isRange() {
				resume = hi // a range chunk: nothing of it to resume
			}
			if r := recover(); r != nil {
				p := t.pool()
				p.stats.panicked.Add(1)
				p.report(t.fail(r))
				next = resume
			} else {
				p := t.pool()
				p.stats.panicked.Add(1)
				p.report(t.fail(ErrGoexit))
				p.afterGoexit(t, resume, lo, hi, w)
			}
		}
	}()
	if v := t.state.Load(); v&(rangeHead|errTask) != 0 {
		// The deferred call learns from i which task did not return.
		if v&(errTask|batchHead) == errTask { // a single error task
			err := errFunc(t.fn)(t.base)
			i = hi
			if err != nil {
				t.failWith(err)
			}
			return hi, 0
		}
		if v&errTask != 0 {
			skipped = t.runErrs(&i, hi)
		} else {
			t.batch().body(i, hi)
			i = hi
		}
		return hi, skipped
	}
	fn := t.fn
	base, stride := t.base, t.stride()
	for ; i < hi; i++ {
		fn(unsafe.Add(base, uintptr(i)*stride))
	}
	return hi, 0
}

// runErrs is runFrom's loop for a batch or range whose tasks return
// errors: it runs tasks *i..hi-1, moving *i past each task that returns, but starts
// none once the batch is stopped, and stops it at the first error. It
// returns how many it skipped. The look before each task, not only before
// each claim, is what keeps the rest of a big first chunk from running
// after an error elsewhere.
func (t *task) runErrs(i *int, hi int) (skipped int) {
	// runFrom runs singles itself: t heads a batchTask.
	b := (*batchTask)(unsafe.Pointer(t))
	if t.isRange() { // a chunk of a range: one call
		if b.stopped() {
			return t.skipRest(i, hi)
		}
		err := (*(*func(lo, hi int) error)(unsafe.Pointer(&b.body)))(*i, hi)
		*i = hi
		if err != nil {
			t.failWith(err)
		}
		return 0
	}
	fn := errFunc(t.fn)
	base, stride, n := t.base, b.stride, int64(b.n)
	for ; *i < hi; *i++ {
		if b.cursor.Load() > n { // b.stopped(), with n kept out of the loop
			return t.skipRest(i, hi)
		}
		if err := fn(unsafe.Add(base, uintptr(*i)*stride)); err != nil {
			*i++
			t.failWith(err)
			return t.skipRest(i, hi) // the rest of this chunk
		}
	}
	return 0
}

// skipRest skips tasks *i..hi-1 of a stopped chunk, counting them.
func (t *task) skipRest(i *int, hi int) int {
	k := hi - *i
	*i = hi
	if k > 0 {
		t.pool().stats.skipped.Add(uint64(k))
	}
	return k
}

// errFunc views fn, stored in a record of kind errTask, as the func it
// is. A func(unsafe.Pointer) error and a func(unsafe.Pointer) share their
// representation, one pointer to a closure, so the record keeps it in its
// fn field, where the garbage collector sees it; only calls need its true
// type. A second field for it would grow every record by a word.
func errFunc(fn func(unsafe.Pointer)) func(unsafe.Pointer) error {
	return *(*func(unsafe.Pointer) error)(unsafe.Pointer(&fn))
}

// failWith records err as a failure of t, if it is the first, and stops
// t's batch: the tasks not yet claimed are finished unrun, and runners of
// claimed chunks start no more (see runErrs).
func (t *task) failWith(err error) {
	k := 0
	if b := t.batch(); b != nil {
		// Stop first: every runner's next look sees it, and the tasks
		// that start between the error's return and here are all that
		// run after it.
		k = b.stop()
	}
	// Recorded before the skipped tasks finish, so that the completion
	// they count towards publishes it. A Cancel between the stop and
	// here finds nothing to claim, so records nothing: the error is
	// the first failure.
	t.extras().err.CompareAndSwap(nil, &failure{err: err})
	st := &t.pool().stats
	st.failed.Add(1)
	if k > 0 {
		st.skipped.Add(uint64(k))
		t.finish(k)
	}
}

// fail records v as a failure of t, if it is the first, and returns it as
// a *PanicError either way.
func (t *task) fail(v any) *PanicError {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	t.extras().err.CompareAndSwap(nil, &failure{err: pe, panicked: true})
	return pe
}

// finish accounts for k tasks that have run, by their claimant.
func (t *task) finish(k int) {
	if b := t.batch(); b != nil {
		if b.finished.Add(int64(k)) != int64(b.n) {
			return
		}
		// Every claim has finished, so nobody reads fn, base or body
		// again: drop them, so the pool no longer keeps the caller's
		// params alive.
		b.body = nil
		t.fn, t.base = nil, nil
	} else {
		// The claimant of a single task is the only reader of fn and
		// base, so it drops them before it completes the task.
		t.fn, t.base = nil, nil
		t.state.Or(stFinished)
	}
	if x := t.ext.Load(); x != nil {
		close(x.done)
	}
}
