package zeropool

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TaskFuture tracks the tasks of one Submit or batch submission.
//
// Every task of the future completes synchronized before Wait returns,
// WaitTimeout returns true, WaitContext returns other than a context error,
// or IsComplete returns true: the results the tasks wrote through their
// params are then readable without further synchronization.
//
// Any number of goroutines may wait on a future, at once or in turn.
// A TaskFuture must not be copied.
type TaskFuture struct {
	task
}

// completed is the future of every empty batch: a single task that ran.
var completed = func() *TaskFuture {
	f := new(TaskFuture)
	f.state.Store(stFinished)
	return f
}()

// IsComplete reports whether every task of f has finished.
func (f *TaskFuture) IsComplete() bool { return f.done() }

// Err returns f's first failure: the error a task returned (as it was
// returned, so errors.Is and errors.As reach it), a *PanicError for a task
// that panicked or called runtime.Goexit, or ErrCanceled if Cancel skipped
// a task before any task failed; or nil. It is final once f is complete;
// before that it may still go from nil to an error.
func (f *TaskFuture) Err() error {
	if x := f.failure(); x != nil {
		return x.err
	}
	return nil
}

// Cancel makes sure that no task of f not yet claimed will run. It does not
// wait: tasks already running finish, and f completes once they have. If
// Cancel skipped a task, Err reports ErrCanceled (unless a task had failed
// before), and Wait returns without panicking for it. Cancel on a complete
// future, or a second time, changes nothing. It is safe from any goroutine,
// including one running a task of f.
func (f *TaskFuture) Cancel() {
	t := &f.task
	// Claiming every task left is what keeps them from running.
	if k := t.claimRest(false); k > 0 {
		// Recorded before finish, so that the completion the skipped
		// tasks count towards publishes it.
		t.extras().err.CompareAndSwap(nil, canceled)
		t.pool().stats.skipped.Add(uint64(k))
		t.finish(k)
	}
}

// canceled is the failure Cancel records.
var canceled = &failure{err: ErrCanceled}

// ErrCanceled is what Wait, Err and WaitContext return for a future whose
// Cancel skipped a task (unless a task failed first), and what Group.Wait
// returns after Group.Cancel.
var ErrCanceled = errors.New("zeropool: future canceled")

// Wait blocks until every task of f has finished. While tasks of f are
// still unclaimed, Wait runs them on the calling goroutine rather than
// sleep, which is what makes a submit-and-wait cheap and why a task may
// submit to its own pool and Wait without deadlock, even with one worker.
// Because of that, a task that calls runtime.Goexit may end the goroutine
// calling Wait; use WaitContext for such tasks.
//
// Wait returns what Err returns once every task of f has finished: nil,
// the first error a task returned, or ErrCanceled. If f's first failure
// was a panic (or a runtime.Goexit), Wait panics with its *PanicError
// instead.
func (f *TaskFuture) Wait() error {
	if !f.IsComplete() {
		f.help()
		// A bounded yield-and-recheck here, before sleeping, was tried
		// for every future: it did not move the idle round trip
		// measurably and made IndividualTasks 39% slower (benchstat, n=6
		// each, see README). Only a range's waiter does it (spinDone).
		if f.task.isRange() && f.spinDone() {
			// finished while we looked
		} else if ch := f.sleepOn(); ch != nil {
			<-ch
		}
	}
	if x := f.failure(); x != nil {
		if x.panicked {
			panic(x.err)
		}
		return x.err
	}
	return nil
}

// help runs f's unclaimed tasks here. For a batch at the front of the
// queue, it then moves the queue past it, so that its params are not kept
// alive by the queue when no worker passes by.
func (f *TaskFuture) help() {
	t := &f.task
	b := t.batch()
	if b == nil {
		// A single task: one claim against the workers, no chunk sums.
		// claimOwn marks it as the waiter's, which is how Stats counts
		// it: a count here would be an add on a line all waiters share.
		if t.claimOwn() {
			t.runChunk(0, 0, 1, nil, -1)
		}
		return
	}
	ran := 0
	for {
		lo, hi, ok := b.claim()
		if !ok {
			break
		}
		ran += t.runChunk(lo, lo, hi, nil, ran)
	}
	if ran > 0 {
		b.pool.countWaiter(t, ran) // once per Wait, not per chunk
	}
	b.pool.q.dropSpent(t)
}

// WaitTimeout waits up to d for every task of f to finish and reports
// whether they have. It never runs tasks itself, so d holds even if a task
// blocks.
func (f *TaskFuture) WaitTimeout(d time.Duration) bool {
	if f.IsComplete() {
		return true
	}
	if d <= 0 {
		return false
	}
	ch := f.sleepOn()
	if ch == nil {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return f.IsComplete()
	}
}

// WaitContext waits for every task of f to finish or for ctx to end,
// whichever is first. It returns ctx.Err() if ctx ended first, else
// f.Err(), a panic's *PanicError included. It never runs tasks itself.
//
// WaitContext does not cancel anything: when it returns a context error,
// f's tasks may still be running and writing their params. To stop f when
// ctx ends and then wait until no task of it runs, cancel it from the
// context and Wait:
//
//	stop := context.AfterFunc(ctx, f.Cancel)
//	defer stop()
//	err := f.Wait() // ErrCanceled if ctx ended first and skipped tasks
func (f *TaskFuture) WaitContext(ctx context.Context) error {
	if ch := f.sleepOn(); ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			if !f.IsComplete() {
				return ctx.Err()
			}
		}
	}
	return f.Err()
}

// sleepOn returns a channel that is closed when t completes, or nil if t
// is complete already. The channel is made on first use: a future nobody
// blocks on never allocates one.
func (t *task) sleepOn() <-chan struct{} {
	if t.done() {
		return nil
	}
	x := t.extras()
	// Look again now that x is installed: the completer may have looked
	// at ext before we installed x, and then it will not close x.done.
	if t.done() {
		return nil
	}
	return x.done
}

// PanicError is how a future reports a task that did not return: it
// panicked (Value is what it panicked with) or called runtime.Goexit
// (Value is ErrGoexit). Stack is the task's goroutine stack at that point.
type PanicError struct {
	Value any
	Stack []byte
}

// ErrGoexit is the PanicError.Value of a task that called runtime.Goexit.
var ErrGoexit = errors.New("zeropool: task called runtime.Goexit")

// Error returns the panic value and the task's stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("zeropool: task panicked: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns Value if it is an error, else nil.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
