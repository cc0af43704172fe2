package zeropool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A Group is errgroup's API on a pool: Go queues a func() error as a task,
// and Wait waits for every task given so far and returns the first error.
// Code written against golang.org/x/sync/errgroup compiles unchanged with
//
//	import errgroup "github.com/zeropool/zeropool"
//
// and goes further than errgroup in two ways. The first failure stops the
// group: once a task has returned an error, panicked or called
// runtime.Goexit, or Cancel was called, or the parent context of
// WithContext has ended, no task of the group starts any more (queued ones
// are skipped; those running finish), and a later Go queues nothing.
// errgroup runs every function it was given. And a panic is carried to
// Wait, which panics with its *PanicError, as TaskFuture.Wait does; the
// pool survives.
//
// A task that blocks (I/O, time.Sleep, a contended lock) holds its worker:
// a group on a pool of GOMAXPROCS workers runs that many tasks at once,
// where errgroup runs every one on a goroutine of its own. A Group is for
// CPU work; fan out I/O with errgroup.
//
// The zero value is ready and runs on Global(); Pool.NewGroup makes one
// on another pool. A task of a group costs what Pool.Go does: Go
// allocates nothing beyond the closure, and takes no lock unless a limit
// is set. A Group must not be copied after first use.
type Group struct {
	// started counts the tasks Go has queued; it only grows, and grows
	// before the task is published. finished counts those that have run
	// or been skipped, each after its task: finished == started means
	// every task given so far is done, and every one of them is then
	// synchronized before the load of finished that saw it.
	started atomic.Int64
	_       [cacheLine - 8]byte
	// Apart from started: Go writes one, the runners the other.
	finished atomic.Int64

	// err is the group's first failure: set once, by CompareAndSwap (see
	// record), and never cleared. A runner looks at it before each task:
	// once it is set, no task of the group starts.
	err atomic.Pointer[failure]

	// active counts the tasks queued or running that count against the
	// limit (groupLimited): Go moves it up by CompareAndSwap, below the
	// limit; taskDone moves it down.
	active atomic.Int64

	// sleepers counts goroutines in park: a finisher or a Go that sees
	// it nonzero pokes them. A sleeper counts itself before its last
	// look, and the others change what it looks at before they read
	// sleepers, so one of the two sees the other.
	sleepers atomic.Int32
	mu       sync.Mutex
	wake     chan struct{} // closed by poke; nil until a sleeper makes one. Guarded by mu.

	p *Pool // nil: Global(). Set by the constructor, read-only after.

	// limit is SetLimit's n plus one; 0 means no limit. Written by
	// SetLimit, which must not run concurrently with Go (as errgroup's).
	limit int

	// parent is the context of NewGroupContext, and parentDone its Done
	// channel, at which runners look before each task; cancel ends the
	// context handed out. All nil for a group without a context.
	parent     context.Context
	parentDone <-chan struct{}
	cancel     context.CancelCauseFunc
}

// WithContext returns a Group on Global() and a context derived from ctx,
// as errgroup.WithContext does: the context is canceled by the group's
// first failure, with that failure as its cause (context.Cause), or when
// Wait returns, with cause context.Canceled. The end of ctx stops the
// group: its queued tasks are skipped, and Wait returns context.Cause(ctx).
func WithContext(ctx context.Context) (*Group, context.Context) {
	return Global().NewGroupContext(ctx)
}

// NewGroup returns a Group whose tasks run on p.
func (p *Pool) NewGroup() *Group {
	if p == nil {
		panic("zeropool: NewGroup on a nil *Pool")
	}
	return &Group{p: p}
}

// NewGroupContext is WithContext for a group whose tasks run on p.
func (p *Pool) NewGroupContext(ctx context.Context) (*Group, context.Context) {
	if p == nil {
		panic("zeropool: NewGroupContext on a nil *Pool")
	}
	if ctx == nil {
		panic("zeropool: NewGroupContext: nil context")
	}
	derived, cancel := context.WithCancelCause(ctx)
	return &Group{p: p, parent: ctx, parentDone: ctx.Done(), cancel: cancel}, derived
}

func (g *Group) pool() *Pool {
	if g.p != nil {
		return g.p
	}
	return Global()
}

// Go queues fn as a task of g. With a limit set (SetLimit), Go first waits
// until fewer than the limit of g's tasks are queued or running, running
// g's queued tasks on the calling goroutine meanwhile, so that a task of
// the pool may call it without deadlock. Once g has stopped (see Group),
// Go queues nothing: fn never runs.
//
// Go panics with a "zeropool:" message if fn is nil or the limit is 0
// (errgroup's Go would block forever there), and with an error wrapping
// ErrClosed if the pool is closed.
func (g *Group) Go(fn func() error) {
	if fn == nil {
		panic("zeropool: Group.Go: nil func")
	}
	g.submit(fn, true)
}

// TryGo queues fn as a task of g only if g's limit allows one more task
// now, and reports whether it did; without a limit it always does. Once
// g has stopped it reports true and queues nothing, as Go does: fn was
// taken and skipped, and a caller retrying until TryGo succeeds does not
// spin.
func (g *Group) TryGo(fn func() error) bool {
	if fn == nil {
		panic("zeropool: Group.TryGo: nil func")
	}
	return g.submit(fn, false)
}

// submit is Go, or TryGo when block is false.
func (g *Group) submit(fn func() error, block bool) bool {
	p := g.pool()
	// Here, not only in submitGroup: once started counts the task, the
	// task must be published and finished, refused or not.
	if p.closed.Load() {
		panic(errSubmitClosed)
	}
	if g.stopped() {
		return true
	}
	var kind uint64
	if g.limit != 0 {
		if !g.acquire(block) {
			return g.stopped() // stopped while at the limit: taken, and skipped
		}
		kind = groupLimited
		if g.stopped() { // while we waited
			g.release()
			return true
		}
	}
	p.submitGroup(fn, g, kind)
	return true
}

// acquire counts one more task against g's limit, waiting for room if
// block is set; it reports false at the limit without block, and once g
// has stopped while it waited.
func (g *Group) acquire(block bool) bool {
	limit := int64(g.limit - 1)
	if limit == 0 && block {
		panic("zeropool: Group.Go with SetLimit(0): it would wait forever")
	}
	for {
		a := g.active.Load()
		if a < limit {
			if g.active.CompareAndSwap(a, a+1) {
				return true
			}
			continue
		}
		if !block || g.stopped() {
			return false
		}
		if g.pool().q.runGroup(g) {
			continue // ran (or skipped) some of g's tasks: look again
		}
		g.park((*Group).hasRoom)
	}
}

// release gives back a place acquire counted, and pokes a Go waiting for one.
func (g *Group) release() {
	g.active.Add(-1)
	if g.sleepers.Load() > 0 {
		g.poke()
	}
}

func (g *Group) hasRoom() bool { return g.active.Load() < int64(g.limit-1) || g.err.Load() != nil }

// SetLimit limits g to n tasks queued or running at once; n < 0 removes
// the limit, and 0 admits none (TryGo reports false; Go panics). As with
// errgroup, SetLimit panics if a limit is set and tasks counted against it
// are still active, and must not be called concurrently with Go. Tasks
// counted against a limit that SetLimit(-1) removed count against the next
// one until they finish (errgroup's would block at their end for good).
func (g *Group) SetLimit(n int) {
	if n < 0 {
		g.limit = 0
		return
	}
	if a := g.active.Load(); a != 0 && g.limit != 0 {
		panic(fmt.Sprintf("zeropool: Group.SetLimit(%d) while %d tasks counted against the limit are active", n, a))
	}
	g.limit = n + 1
}

// Wait blocks until every task given to g so far has run or been skipped,
// running g's queued tasks on the calling goroutine meanwhile (so a task
// may make a group and Wait on it, even on a pool of one worker; and a
// task that calls runtime.Goexit may end the goroutine calling Wait).
// Every task of g is synchronized before Wait returns.
//
// It returns nil, the first error a task returned (as it was returned),
// ErrCanceled after Cancel, or context.Cause of the parent context if its
// end stopped g; whichever came first. If the first failure was a panic
// or a runtime.Goexit, Wait panics with its *PanicError instead. The
// context of WithContext is canceled when Wait returns. g may be used
// again after Wait; its first failure stays.
func (g *Group) Wait() error {
	for !g.idle() {
		if g.pool().q.runGroup(g) {
			continue
		}
		g.park((*Group).idle)
	}
	f := g.err.Load()
	if g.cancel != nil {
		if f != nil {
			g.cancel(f.err)
		} else {
			g.cancel(context.Canceled)
		}
	}
	switch {
	case f == nil:
		return nil
	case f.panicked:
		panic(f.err)
	}
	return f.err
}

// idle reports whether every task g has started is done. finished is read
// first: it never passes started, so if it equals a started read later,
// nothing was started in between that is not done.
func (g *Group) idle() bool {
	f := g.finished.Load()
	return f == g.started.Load()
}

// Cancel stops g as a failure would: its queued tasks are skipped, a later
// Go queues nothing, the context of WithContext ends with cause
// ErrCanceled, and Wait returns ErrCanceled unless a failure came first.
// Tasks running finish. It is safe from any goroutine, including a task
// of g.
func (g *Group) Cancel() { g.record(canceled) }

// record makes f g's first failure, unless g has one, and reports whether
// it did; the first also cancels g's context, with f as the cause.
func (g *Group) record(f *failure) bool {
	if !g.err.CompareAndSwap(nil, f) {
		return false
	}
	if g.cancel != nil {
		g.cancel(f.err)
	}
	return true
}

// stopped reports whether g has stopped: a failure is recorded, or the
// parent context has ended, which it then records. The parent is read at
// its Done channel, not through context.AfterFunc, whose callback may run
// after tasks that should not have started.
func (g *Group) stopped() bool {
	if g.err.Load() != nil {
		return true
	}
	if g.parentDone != nil {
		select {
		case <-g.parentDone:
			g.record(&failure{err: context.Cause(g.parent)})
			return true
		default:
		}
	}
	return false
}

// taskDone counts a task of g that has run or been skipped, by its
// claimant, after the task; limited if it counted against the limit.
func (g *Group) taskDone(limited bool) {
	if limited {
		g.active.Add(-1)
	}
	n := g.finished.Add(1)
	if g.sleepers.Load() > 0 && (limited || n == g.started.Load()) {
		g.poke()
	}
}

// park sleeps until a task of g finishes or Go queues one, unless ready
// already holds or g has tasks queued that this goroutine can run.
func (g *Group) park(ready func(*Group) bool) {
	g.mu.Lock()
	ch := g.wake
	if ch == nil {
		ch = make(chan struct{})
		g.wake = ch
	}
	g.sleepers.Add(1)
	g.mu.Unlock()
	// The last look, now that finishers and Go see us: what they change
	// before they read sleepers, this sees, or they poke ch.
	if !ready(g) && !g.pool().q.runGroup(g) {
		<-ch
	}
	g.sleepers.Add(-1)
}

// poke wakes every goroutine in park.
func (g *Group) poke() {
	g.mu.Lock()
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
	g.mu.Unlock()
}

// submitGroup queues fn as a task of g, in a slot of its own.
func (p *Pool) submitGroup(fn func() error, g *Group, kind uint64) {
	// Counted before publish: a runner may finish the task at once.
	g.started.Add(1)
	slot, i := p.q.reserve()
	// A func() error is one pointer, to its closure, as a
	// func(unsafe.Pointer) is: the slot keeps it in fn, where the garbage
	// collector sees it, and runGroupTask calls it as what it is.
	slot.fn = *(*func(unsafe.Pointer))(unsafe.Pointer(&fn))
	slot.base = unsafe.Pointer(g)
	// This store hands the task to the workers and to g's waiters.
	publish(slot, i, &slot.task, groupTask|kind)
	if p.searching.Load() == 0 && p.idle.Load() > 0 {
		p.wake()
	}
	// As in submit: a closed pool refuses the task (finishing it, so g's
	// counts stay whole) unless someone claimed it already.
	if p.closed.Load() {
		p.refuse(slot)
	}
	// A goroutine in g's Wait (or in Go, at the limit) may be asleep with
	// this task out of its sight; it may be the only one free to run it.
	if g.sleepers.Load() > 0 {
		g.poke()
	}
}

// runGroupTask runs the task of a group's slot, unless the group has
// stopped, and records its error. runFrom's deferred call sees a task
// that does not return, as for any other.
func (t *task) runGroupTask(c *chunkRun) (skipped int) {
	g := (*Group)(t.base)
	if g.stopped() {
		c.i = c.hi
		if t.state.Load()&stByWaiter != 0 {
			// Claimed by a waiter, which marks what it runs: a task
			// skipped is not run, and Stats must not count it so.
			// Cleared before finish, which counts a passed task only
			// if the mark is still there (see stPassed).
			t.state.And(^uint64(stByWaiter))
		}
		t.pool().stats.skipped.Add(1)
		return 1
	}
	err := (*(*func() error)(unsafe.Pointer(&t.fn)))()
	c.i = c.hi
	if err != nil {
		t.pool().stats.failed.Add(1)
		g.record(&failure{err: err})
	}
	return 0
}

// runGroup runs on the calling goroutine every task of g it finds
// unclaimed in the queue, and reports whether it found any. It reads from
// the front to the last published slot; the slots behind pop are all
// claimed, or about to be by an active worker (no run of a worker holds a
// group's task: see runAt).
func (q *queue) runGroup(g *Group) bool {
	found := false
	b := q.head.Load()
	i := b.pop.Load()
	for {
		end := min(b.push.Load(), blockSlots)
		for ; i < end; i++ {
			s := &b.slots[i]
			// base is read only once state shows a group's slot: it was
			// written before that publish and is never written after.
			if s.state.Load()&(pubOne|groupTask|stClaimed) != pubOne|groupTask || s.base != unsafe.Pointer(g) {
				continue
			}
			if g.err.Load() != nil {
				// Stopped: skip it here, without the run loop; claimOne
				// leaves it unmarked, as it does not run.
				if s.claimOne() {
					q.pool.stats.skipped.Add(1)
					s.finish(1)
					found = true
				}
				continue
			}
			if s.claimOwn() {
				s.runChunk(0, 0, 1, nil, -1)
				found = true
			}
		}
		if end < blockSlots {
			return found
		}
		switch next := b.next.Load(); next {
		case nil:
			return found
		case b: // retired while we read: the rest is from the front on
			b = q.head.Load()
			i = b.pop.Load()
		default:
			b, i = next, 0
		}
	}
}
