package zeropool

import (
	"sync/atomic"
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

	// groupTask: the slot is a task of a Group (see Group): fn is the
	// task's func() error in disguise and base the *Group, which, unlike
	// other slots' base, stays once the task has run (see
	// queue.runGroup). groupLimited: it counts against the group's limit.
	// Both set with the kind, before publish, and never changed.
	groupTask    = 1 << 16
	groupLimited = 1 << 17

	// stPassed is set, by CompareAndSwap, on a single its waiter claimed
	// (stByWaiter) and still runs when a worker moves past it: the
	// worker leaves the count for Stats to the finish, which looks for
	// the bit after its Or(stFinished). Exactly one of them counts the
	// task, and never before it has run.
	stPassed = 1 << 18
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

// done reports whether every task of t has finished.
func (t *task) done() bool {
	v := t.state.Load()
	if v&batchHead != 0 {
		b := (*batchTask)(unsafe.Pointer(t))
		return b.finished.Load() == int64(b.n)
	}
	return v&stFinished != 0
}
