package zeropool

import (
	"fmt"
	"unsafe"
)

// The twins of the submit calls whose tasks return an error. Once a task
// of a future has returned a non-nil error, no task of that future starts:
// the tasks not yet claimed are skipped as by Cancel, and a runner that
// claimed a chunk looks before each task of it. Tasks running at that
// moment finish, and the future completes once they have. Wait, Err and
// WaitContext report the future's first failure: the error as the task
// returned it, unless a panic or Cancel came first. The panic handler is
// not called for errors.
//
// An error task costs what its twin does: the record is the same, marked
// errTask, and the look before each task is one load.

// SubmitErr is Submit for a task that may fail: the future's Wait returns
// the error fn returns.
func SubmitErr[T any](p *Pool, fn func(*T) error, params *T) *TaskFuture {
	if fn == nil {
		panic("zeropool: SubmitErr: nil func")
	}
	if params == nil {
		panic("zeropool: SubmitErr: nil params")
	}
	return p.submit(rawErrFunc(fn), unsafe.Pointer(params), 0, 1, nil, errTask)
}

// SubmitBatchErr is SubmitBatchUniform for tasks that may fail. The first
// task to return an error stops the batch: no task of it starts after
// that, so with a single runner a batch whose task k fails runs exactly
// tasks 0 to k.
func SubmitBatchErr[T any](p *Pool, fn func(*T) error, params []T) *TaskFuture {
	if fn == nil {
		panic("zeropool: SubmitBatchErr: nil func")
	}
	var zero T
	return p.submit(rawErrFunc(fn), unsafe.Pointer(unsafe.SliceData(params)), unsafe.Sizeof(zero), len(params), nil, errTask)
}

// SubmitRangeErr is SubmitRange for a loop body that may fail. A chunk is
// one call, so once a chunk has returned an error no other chunk starts;
// chunks running at that moment finish.
func SubmitRangeErr(p *Pool, n int, fn func(lo, hi int) error) *TaskFuture {
	switch {
	case fn == nil:
		panic("zeropool: SubmitRangeErr: nil func")
	case n < 0:
		panic(fmt.Sprintf("zeropool: SubmitRangeErr: negative n (%d)", n))
	}
	// The record's body field holds fn as the plain body it shares its
	// representation with; runErrs calls it as what it is.
	return p.submit(nil, nil, 0, n, *(*func(lo, hi int))(unsafe.Pointer(&fn)), errTask)
}

// GoErr is Go for a closure that may fail: the future's Wait returns the
// error fn returns. Like Go, it wraps nothing.
func (p *Pool) GoErr(fn func() error) *TaskFuture {
	if fn == nil {
		panic("zeropool: GoErr: nil func")
	}
	return p.submit(rawErr(callClosureErr), *(*unsafe.Pointer)(unsafe.Pointer(&fn)), 0, 1, nil, errTask)
}

// callClosureErr calls the func() error whose closure pointer is c.
func callClosureErr(c unsafe.Pointer) error { return (*(*func() error)(unsafe.Pointer(&c)))() }

// rawErrFunc views fn as the untyped func the records hold, as rawFunc
// does; errFunc views it back before it is called.
func rawErrFunc[T any](fn func(*T) error) func(unsafe.Pointer) {
	return *(*func(unsafe.Pointer))(unsafe.Pointer(&fn))
}

// rawErr is rawErrFunc for a func that takes its params untyped.
func rawErr(fn func(unsafe.Pointer) error) func(unsafe.Pointer) {
	return *(*func(unsafe.Pointer))(unsafe.Pointer(&fn))
}
