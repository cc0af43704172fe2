package zeropool

import (
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// task is a record: a single task or a whole batch of n tasks whose params
// lie a fixed stride apart from base. It is also the state behind the
// record's TaskFuture, so a submission is at most one allocation.
//
// The record of a single task is a slot of a queue block (see queue), and
// is 64 bytes, one cache line, so that the goroutine running one slot does
// not slow the producer writing the next. A batch's record is allocated on
// its own, with its stride outside the line (see batchTask), and a slot
// points to it.
type task struct {
	// link is nil until the slot is published, then the record it hands
	// to consumers: the slot itself for a single task, or a batch record,
	// or stopRecord. It is set once, by publish, and never changes after.
	// Unused in a batch record.
	link atomic.Pointer[task]

	// fn, base, n and pool are written before publish hands t over and are
	// read-only afterwards (fn is nil for a range, see isRange), except
	// that fn and base are cleared by the
	// goroutine whose finish completes t. Every reader of fn and base holds
	// a claim, and every claim is finished before that.
	fn   func(unsafe.Pointer)
	base unsafe.Pointer
	n    int
	pool *Pool

	// cursor is the index of the first unclaimed task. claim, claimOne,
	// Cancel and refuse move it forward by CompareAndSwap (the last two
	// straight to n, claiming what is left so that it never runs); it
	// never goes back. cursor >= n means every task is claimed, though
	// some may still be running.
	cursor atomic.Int64

	// finished counts tasks that have run. Each claim's runner adds its
	// chunk once the chunk has run; the addition that reaches n completes
	// t, and every earlier one is synchronized before it. Counting up
	// rather than down from n means a new record needs no atomic store.
	finished atomic.Int64

	// ext holds what few futures need: a failure, a channel to sleep on.
	// nil until the first failing task or blocking waiter installs one by
	// CompareAndSwap; it never changes after that. The goroutine that
	// completes t closes ext.done if ext is there. A waiter installs ext
	// before its last look at finished, and the completer adds to finished
	// before it looks at ext, so one of them sees the other: no waiter
	// sleeps through completion.
	ext atomic.Pointer[extra]
}

// extra is the part of a future's state that most futures never need.
type extra struct {
	// err is the first failure of a task; set at most once, by CAS.
	err  atomic.Pointer[PanicError]
	done chan struct{}
}

// batchTask is the record of a batch of two or more tasks, or of a range.
type batchTask struct {
	TaskFuture
	stride uintptr // set before publish, read-only after

	// body is the loop body of a range (see SubmitRange), whose record
	// has a nil fn (see isRange). Set before publish; cleared, like fn,
	// by the finish that completes the record.
	body func(lo, hi int)
}

// isRange reports whether t is the record of a range: a batch record (not
// a slot, whose link points at itself) with no fn. Only meaningful while
// t has unfinished tasks: finish clears fn.
func (t *task) isRange() bool { return t.fn == nil && t.link.Load() == nil }

// stride returns the distance between the params of t's tasks.
func (t *task) stride() uintptr {
	if t.n < 2 {
		return 0 // only base itself is ever passed
	}
	// A record of two or more tasks is always the first field of a
	// batchTask (see Pool.submit), so this conversion stays inside the
	// allocation t points into.
	return (*batchTask)(unsafe.Pointer(t)).stride
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
func (t *task) failure() *PanicError {
	if x := t.ext.Load(); x != nil {
		return x.err.Load()
	}
	return nil
}

// claimOne claims the task of a single-task slot, against the workers
// whose runs include the slot and against its waiter: exactly one caller
// ever gets true.
func (t *task) claimOne() bool { return t.cursor.CompareAndSwap(0, 1) }

// done reports whether every task of t has finished.
func (t *task) done() bool { return t.finished.Load() == int64(t.n) }

// claim takes the next chunk [lo, hi) of unclaimed tasks. Chunks are a
// share of what is left, so they start large, which keeps claims (a
// contended CAS each) rare on big batches of small tasks, and shrink to
// single tasks near the end, which keeps the load balanced when tasks are
// slow.
func (t *task) claim() (lo, hi int, ok bool) {
	n := int64(t.n)
	for {
		c := t.cursor.Load()
		if c >= n {
			return 0, 0, false
		}
		k := (n - c) / t.pool.split
		if k < 1 {
			k = 1
		}
		if t.cursor.CompareAndSwap(c, c+k) {
			return int(c), int(c + k), true
		}
	}
}

// runChunk runs tasks next..hi-1 of the claimed chunk [lo, hi) (next is lo
// unless resuming after a Goexit) and then finishes the chunk. A task that
// panics is recorded and the rest of the chunk still runs.
// w is the worker running it, nil for a waiter.
func (t *task) runChunk(next, lo, hi int, w *worker) {
	for i := next; i < hi; {
		i = t.runFrom(i, lo, hi, w)
	}
	t.finish(hi - lo)
}

// runFrom runs tasks i, i+1, ... hi-1 and returns the index after the last
// one run: hi, or one past a task that panicked. A chunk of a range is one
// call, so a panic ends the whole chunk.
func (t *task) runFrom(i, lo, hi int, w *worker) (next int) {
	defer func() {
		if i < hi {
			// Task i did not return. recover is nil only when it called
			// runtime.Goexit, which no defer can stop.
			resume := i + 1
			if t.isRange() {
				resume = hi // a range chunk: nothing of it to resume
			}
			if r := recover(); r != nil {
				t.pool.report(t.fail(r))
				next = resume
			} else {
				t.pool.report(t.fail(ErrGoexit))
				t.pool.afterGoexit(t, resume, lo, hi, w)
			}
		}
	}()
	fn := t.fn
	if t.isRange() {
		// A range record is the first field of a batchTask (see
		// Pool.submit), so this conversion stays inside the allocation
		// t points into.
		(*batchTask)(unsafe.Pointer(t)).body(i, hi)
		i = hi // tells the deferred call the chunk returned
		return hi
	}
	base, stride := t.base, t.stride()
	for ; i < hi; i++ {
		fn(unsafe.Add(base, uintptr(i)*stride))
	}
	return hi
}

// fail records v as a failure of t, if it is the first, and returns it as
// a *PanicError either way.
func (t *task) fail(v any) *PanicError {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	t.extras().err.CompareAndSwap(nil, pe)
	return pe
}

// finish accounts for k tasks that have run.
func (t *task) finish(k int) {
	if t.finished.Add(int64(k)) != int64(t.n) {
		return
	}
	// Every claim has finished, so nobody reads fn, base or body again:
	// drop them, so the pool no longer keeps the caller's params alive.
	if t.isRange() {
		(*batchTask)(unsafe.Pointer(t)).body = nil
	}
	t.fn, t.base = nil, nil
	if x := t.ext.Load(); x != nil {
		close(x.done)
	}
}
