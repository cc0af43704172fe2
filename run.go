package zeropool

import (
	"runtime/debug"
	"time"
	"unsafe"
)

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
