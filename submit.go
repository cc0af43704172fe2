package zeropool

import (
	"fmt"
	"unsafe"
)

// Submit queues fn(params) and returns its future.
//
// params must stay untouched by the caller until the future completes;
// fn may write results through it. The pool keeps params reachable until
// then.
//
// Submit panics with a "zeropool:" message if fn or params is nil, and
// with an error wrapping ErrClosed if p is closed.
func Submit[T any](p *Pool, fn func(*T), params *T) *TaskFuture {
	if fn == nil {
		panic("zeropool: Submit: nil func")
	}
	if params == nil {
		panic("zeropool: Submit: nil params")
	}
	return p.submit(rawFunc(fn), unsafe.Pointer(params), 0, 1, nil, 0)
}

// SubmitBatchUniform queues fn(&params[i]) for every i as one record and
// returns one future for all of them. The tasks may run in any order and
// at once; each should write only through its own element.
//
// An empty params returns a completed future without queueing anything.
// A zero-sized T is fine: fn runs len(params) times.
func SubmitBatchUniform[T any](p *Pool, fn func(*T), params []T) *TaskFuture {
	if fn == nil {
		panic("zeropool: SubmitBatchUniform: nil func")
	}
	var zero T
	return p.submit(rawFunc(fn), unsafe.Pointer(unsafe.SliceData(params)), unsafe.Sizeof(zero), len(params), nil, 0)
}

// SubmitRaw is Submit without types: fn receives params unchanged.
func (p *Pool) SubmitRaw(fn func(unsafe.Pointer), params unsafe.Pointer) *TaskFuture {
	if fn == nil {
		panic("zeropool: SubmitRaw: nil func")
	}
	if params == nil {
		panic("zeropool: SubmitRaw: nil params")
	}
	return p.submit(fn, params, 0, 1, nil, 0)
}

// SubmitRawBatch queues fn(base + i*stride) for i in [0, n) as one record.
// base must point to memory holding all n params (stride 0 is allowed, for
// zero-sized params); it may be nil only when n is 0.
func (p *Pool) SubmitRawBatch(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int) *TaskFuture {
	switch {
	case fn == nil:
		panic("zeropool: SubmitRawBatch: nil func")
	case n < 0:
		panic("zeropool: SubmitRawBatch: negative task count")
	case base == nil && n > 0:
		panic("zeropool: SubmitRawBatch: nil base with n > 0")
	}
	return p.submit(fn, base, stride, n, nil, 0)
}

// SubmitRange queues a parallel loop over [0, n) as one record and returns
// its future: fn is called on disjoint half-open chunks [lo, hi) that
// together cover [0, n) exactly once, claimed by the workers and by a
// goroutine waiting on the future, large chunks first and small ones at
// the end. The loop over a chunk is fn's own, so the compiler can inline
// and optimise its body: there is no call per index.
//
// n == 0 returns a completed future and never calls fn. A chunk that
// panics stops at the panic; every other chunk still runs, and Wait
// panics as for a batch. For a minimum chunk of g indices, loop over
// blocks of g (see the example).
//
// SubmitRange panics with a "zeropool:" message if fn is nil or n < 0, and
// with an error wrapping ErrClosed if p is closed.
func SubmitRange(p *Pool, n int, fn func(lo, hi int)) *TaskFuture {
	switch {
	case fn == nil:
		panic("zeropool: SubmitRange: nil func")
	case n < 0:
		panic(fmt.Sprintf("zeropool: SubmitRange: negative n (%d)", n))
	}
	return p.submit(nil, nil, 0, n, fn, 0)
}

// Go queues the closure fn as a single task and returns its future. It
// wraps nothing: beyond what fn itself needs, a call costs what Submit
// does (a share of a block of records). The pool keeps fn reachable until
// it has run. Go panics with a "zeropool:" message if fn is nil, and with
// an error wrapping ErrClosed if p is closed.
func (p *Pool) Go(fn func()) *TaskFuture {
	if fn == nil {
		panic("zeropool: Go: nil func")
	}
	// A func value is one pointer, to its closure (or, for a function
	// with no captures, to a static one); the record keeps that pointer
	// as its params, where the garbage collector sees it.
	return p.submit(callClosure, *(*unsafe.Pointer)(unsafe.Pointer(&fn)), 0, 1, nil, 0)
}

// callClosure calls the func() whose closure pointer is c.
func callClosure(c unsafe.Pointer) { (*(*func())(unsafe.Pointer(&c)))() }

// rawFunc views fn as the untyped func the records hold.
//
// A func(*T) and a func(unsafe.Pointer) share their representation (one
// pointer to a closure) and calling convention (one pointer-shaped
// argument), so the view is exact. The tempting safe version, a wrapper
// closure func(p unsafe.Pointer) { fn((*T)(p)) }, costs an allocation per
// Submit and a second indirect call per task.
func rawFunc[T any](fn func(*T)) func(unsafe.Pointer) {
	return *(*func(unsafe.Pointer))(unsafe.Pointer(&fn))
}

// submit queues n tasks: fn(base + i*stride) for i in [0, n), or, when
// body is not nil (and fn is nil), body over chunks of [0, n).
// kind is errTask if fn (or body) is an error func in disguise (see
// errFunc), else 0.
func (p *Pool) submit(fn func(unsafe.Pointer), base unsafe.Pointer, stride uintptr, n int, body func(lo, hi int), kind uint64) *TaskFuture {
	if p == nil {
		panic("zeropool: submit to a nil *Pool")
	}
	// This early check only keeps a closed pool's queue from growing with
	// refused records; the check that decides is the one after publish.
	if p.closed.Load() {
		panic(errSubmitClosed)
	}
	if n == 0 {
		return completed
	}
	slot, i := p.q.reserve()
	f := slot
	if n == 1 && body == nil {
		f.fn, f.base = fn, base
	} else {
		b := &batchTask{n: n, pool: p, stride: stride, body: body}
		h := batchHead | kind
		if body != nil {
			h |= rangeHead
		}
		b.state.Store(h)
		b.fn, b.base = fn, base
		f = &b.TaskFuture
	}
	// This store hands f to the workers.
	publish(slot, i, &f.task, kind)
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
	if k := f.claimRest(true); k > 0 {
		// Finished too: f's slot is published, and whoever sweeps or
		// passes it must see a record with nothing left to run. A worker
		// may have passed it already and be waiting for it to finish:
		// finish, unlike a plain store, wakes it.
		f.finish(k)
		panic(errSubmitClosed)
	}
}
