package zeropool

import (
	"runtime/debug"
	"time"
	"unsafe"
)

// A chunkRun is a runner's progress through a claimed chunk [lo, hi) of
// t, kept where the deferred calls of its frames can read it: if a task,
// or the panic handler, ends the goroutine with runtime.Goexit, another
// goroutine carries on from i with the counts so far (see handOff). It
// lives on the runner's stack, and only that goroutine touches it.
type chunkRun struct {
	t      *task
	i      int // the next task to run; a task that did not return is at i until fail moves i past it
	from   int // where the current call of runFrom started
	lo, hi int
	w      *worker // the worker running the chunk; nil for a goroutine in Wait
	ran    int     // tasks of the chunk run so far, those that failed included

	// tally is help's count of the batch tasks its Wait has run in
	// earlier chunks, which it adds to the pool's counts once, at the
	// end; -1 for workers and for singles. orphan marks the goroutine
	// that took over a waiter's chunk: it counts its own tasks.
	tally  int
	orphan bool

	// failed is set by runFrom's deferred call when the task at i did not
	// return: what recover returned, and the stack while the task's
	// frames are on it. recover stops a panic whatever its value, so
	// after a panic runFrom returns and runChunk records it; a recover
	// that returns nil may also mean runtime.Goexit, which it cannot
	// stop, and then runChunk's deferred call records it. Telling the two
	// apart by the value alone is wrong: under GODEBUG=panicnil=1,
	// panic(nil) recovers as nil too. A pointer, allocated only on a
	// failure, so that the struct every chunk zeroes stays small.
	failed *caught

	ended bool // runChunk has finished the chunk, or handed it off
}

// runChunk runs tasks next..hi-1 of the claimed chunk [lo, hi) (next is lo
// unless resuming after a Goexit) and then finishes the chunk. A task that
// panics is recorded and the rest of the chunk still runs. It returns how
// many tasks ran. w is the worker running it, which counts them; nil for a
// waiter, which counts a batch's tasks once per Wait (tally is its count
// so far; see help) and a single through its claim (see claimOwn); tally
// is -1 for workers and singles.
func (t *task) runChunk(next, lo, hi int, w *worker, tally int) int {
	if w == nil {
		return t.runChunkHere(next, lo, hi, tally)
	}
	// A worker's chunk keeps its state in w, where runWorker's deferred
	// call finds it if a task ends the goroutine: one defer per worker
	// goroutine rather than one per chunk, which the single tasks of B2
	// and B9 would pay one each.
	c := &w.c
	c.t, c.i, c.lo, c.hi, c.w, c.tally, c.ran, c.ended = t, next, lo, hi, w, -1, 0, false
	if hi-next == 1 {
		return c.runOne()
	}
	return c.runAndFinish()
}

// runOne is runAndFinish for a chunk of one task, a single's above all:
// no timing and no loop, which the single tasks of B2 and B9 pay for.
func (c *chunkRun) runOne() int {
	t := c.t
	c.from = c.i
	skipped := t.runFrom(c)
	if c.failed != nil {
		c.fail(c.failed.v)
	} else {
		c.ran = 1 - skipped
	}
	c.ended = true
	if w := c.w; w != nil {
		// w's goroutine is the only writer of w.ran: a plain store will do.
		w.ran.Store(w.ran.Load() + uint64(c.ran))
	} else if c.orphan {
		c.count()
	}
	t.finish(c.hi - c.lo)
	return c.ran
}

// runChunkHere is runChunk on a goroutine in Wait, whose state lives here.
func (t *task) runChunkHere(next, lo, hi, tally int) int {
	var c chunkRun
	c.t, c.i, c.lo, c.hi, c.tally = t, next, lo, hi, tally
	// Runs only if the goroutine ends in runtime.Goexit before c.ended.
	defer c.goexit()
	if hi-next == 1 {
		return c.runOne()
	}
	return c.runAndFinish()
}

// runAndFinish runs the chunk and finishes it.
func (c *chunkRun) runAndFinish() int {
	t, next, hi := c.t, c.i, c.hi
	var start time.Time
	b := t.batch()
	timed := b != nil && hi-next > 1 && b.nsPerTask.Load() == 0
	if timed {
		start = time.Now()
	}
	c.run()
	if timed {
		b.nsPerTask.CompareAndSwap(0, max(1, time.Since(start).Nanoseconds()/int64(hi-next)))
	}
	c.ended = true
	c.count()
	t.finish(hi - c.lo)
	return c.ran
}

// run runs the chunk's tasks from c.i on, recording each that panics.
func (c *chunkRun) run() {
	for c.i < c.hi {
		c.from = c.i
		skipped := c.t.runFrom(c)
		if c.failed != nil {
			c.fail(c.failed.v)
			continue
		}
		c.ran += c.i - c.from - skipped
	}
}

// count adds the chunk's tasks to the counts Stats reads. A worker counts
// before finish, so that its counts of a future's tasks are synchronized
// before the completion; so does the goroutine that took over a waiter's
// chunk, whose Wait will not count it. A waiter counts in help.
func (c *chunkRun) count() {
	switch {
	case c.w != nil:
		// w's goroutine is the only writer of w.ran: a plain store will do.
		c.w.ran.Store(c.w.ran.Load() + uint64(c.ran))
	case c.orphan && c.ran > 0 && c.t.batch() != nil:
		c.t.pool().countWaiter(c.t, c.ran)
	}
}

// fail records that the task at c.i did not return (v is what it panicked
// with, or ErrGoexit), moves c.i past it, and calls the panic handler.
// The resume point is recorded before the handler runs: if the handler
// ends the goroutine, handOff carries on from it, and the failed task is
// neither run again nor counted twice.
func (c *chunkRun) fail(v any) {
	resume := c.i + 1
	if c.t.isRange() {
		resume = c.hi // a range chunk is one call: nothing of it to resume
	}
	c.ran += resume - c.from
	var stack []byte
	if c.failed != nil {
		stack = c.failed.stack
	}
	c.i, c.failed = resume, nil
	p := c.t.pool()
	p.stats.panicked.Add(1)
	p.report(c.t.fail(v, stack))
}

// goexit is the deferred call of runChunkHere, and of runWorker for the
// chunk in w.c: if the chunk has not ended, the
// goroutine is ending in runtime.Goexit, called by the task at c.i (if
// c.failed) or by the panic handler, and another goroutine must finish
// the chunk.
func (c *chunkRun) goexit() {
	if c.ended || c.t == nil { // ended, or a worker that never ran a chunk
		return
	}
	// Deferred, so that it runs even if the handler called by fail ends
	// this goroutine too: a Goexit during a Goexit still runs the
	// deferred calls of every frame.
	defer c.handOff()
	if c.failed != nil {
		c.fail(ErrGoexit)
	}
}

// handOff gives the rest of the chunk, from c.i, to a new goroutine, with
// the counts this one holds, which would die with it. A worker's
// replacement also takes over the worker: its run of slots and what it
// passed.
func (c *chunkRun) handOff() {
	if c.ended {
		return
	}
	c.ended = true
	t, p := c.t, c.t.pool()
	if c.w != nil {
		c.count()
		// The dying worker still holds its count in wg, so this Add
		// cannot race a Close whose wg.Wait has seen zero.
		p.wg.Add(1)
		go p.runWorker(c.w, t, c.i, c.lo, c.hi)
		return
	}
	if c.tally >= 0 && c.tally+c.ran > 0 {
		p.countWaiter(t, c.tally+c.ran) // help, which would count it, ends with us
	} else if c.orphan && c.ran > 0 && t.batch() != nil {
		p.countWaiter(t, c.ran)
	}
	// The record stays unfinished until the new goroutine has run the
	// chunk, so Close waits for it through the worker that passes it.
	go t.runOrphan(c.i, c.lo, c.hi)
}

// runOrphan finishes a chunk whose waiter ended in runtime.Goexit.
func (t *task) runOrphan(next, lo, hi int) {
	var c chunkRun
	c.t, c.i, c.lo, c.hi, c.tally, c.orphan = t, next, lo, hi, -1, true
	defer c.goexit()
	c.run()
	c.ended = true
	c.count()
	t.finish(hi - lo)
}

// runFrom runs tasks c.i, c.i+1, ... up to c.hi, moving c.i past each
// task that returns. A chunk of a range is one call. The tasks of an
// error record stop at the first error (see runErrs): it returns how many
// it skipped. If a task does not return, the deferred call below marks it
// failed and stops its panic, if it was one (see chunkRun.failed).
func (t *task) runFrom(c *chunkRun) (skipped int) {
	defer func() {
		if c.i < c.hi {
			c.failed = &caught{v: recover(), stack: debug.Stack()}
		}
	}()
	hi := c.hi
	if v := t.state.Load(); v&(rangeHead|errTask|groupTask) != 0 {
		if v&groupTask != 0 {
			return t.runGroupTask(c)
		}
		if v&(errTask|batchHead) == errTask { // a single error task
			err := errFunc(t.fn)(t.base)
			c.i = hi
			if err != nil {
				t.failWith(err)
			}
			return 0
		}
		if v&errTask != 0 {
			return t.runErrs(&c.i, hi)
		}
		t.batch().body(c.i, hi)
		c.i = hi
		return 0
	}
	fn := t.fn
	base, stride := t.base, t.stride()
	for ; c.i < hi; c.i++ {
		fn(unsafe.Add(base, uintptr(c.i)*stride))
	}
	return 0
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
func (t *task) fail(v any, stack []byte) *PanicError {
	pe := &PanicError{Value: v, Stack: stack}
	f := &failure{err: pe, panicked: true}
	if t.state.Load()&groupTask != 0 {
		(*Group)(t.base).record(f) // a group's failures are the group's
	} else {
		t.extras().err.CompareAndSwap(nil, f)
	}
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
	} else if v := t.state.Load(); v&groupTask != 0 {
		// A group's slot keeps base, its *Group, for runGroup's readers,
		// who hold no claim (see groupTask); only fn is the caller's.
		g := (*Group)(t.base)
		t.fn = nil
		t.state.Or(stFinished)
		if t.state.Load()&(stPassed|stByWaiter) == stPassed|stByWaiter {
			t.pool().countWaiter(t, 1)
		}
		if x := t.ext.Load(); x != nil {
			close(x.done)
		}
		g.taskDone(v&groupLimited != 0)
		return
	} else {
		// The claimant of a single task is the only reader of fn and
		// base, so it drops them before it completes the task.
		t.fn, t.base = nil, nil
		// Or, then a load, not the value Or returns: that would make the
		// Or a CompareAndSwap loop on a line the workers' claims share.
		// The load is enough: runSlots sets stPassed only while
		// stFinished is clear, so it cannot set it after this Or.
		t.state.Or(stFinished)
		if t.state.Load()&(stPassed|stByWaiter) == stPassed|stByWaiter {
			// A worker moved past t while its waiter ran it, and left
			// the count to us (see runSlots).
			t.pool().countWaiter(t, 1)
		}
	}
	if x := t.ext.Load(); x != nil {
		close(x.done)
	}
}
