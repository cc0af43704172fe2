// Package zeropool is a thread pool for work measured in microseconds: one
// lock-free FIFO queue of task records, typed zero-copy dispatch, and
// results written by the tasks straight into memory the caller provided.
//
// A task is a func(*T) and a *T of params. [Submit] queues one;
// [SubmitBatchUniform] queues fn(&params[i]) for a whole slice as a single
// record, which the workers (and the goroutine waiting on it) claim in
// chunks. [SubmitRange] runs a parallel loop over an index range the same
// way, and [Pool.Go] runs a closure. [SubmitErr], [SubmitBatchErr],
// [SubmitRangeErr] and [Pool.GoErr] are their twins for tasks that return
// an error. Each submission returns a [*TaskFuture] to wait on, or cancel.
// A [Group] is errgroup's API on the pool.
//
// # Params and lifetimes
//
// The pool passes the caller's pointer to the task; it copies nothing. From
// submission until the future completes, the params belong to the tasks:
// the caller must not write them, nor read what tasks write there. Tasks of
// one batch run concurrently and must not write to each other's params
// unless they synchronize. The pool keeps the params reachable until their
// tasks have run, so params referenced only by the submission, as in
// Submit(p, fn, &T{...}), are safe; once those tasks have run it drops
// them, even if the caller keeps the future.
//
// Zero-sized params work: SubmitBatchUniform(p, fn, make([]struct{}, 5))
// calls fn five times. An empty batch returns a completed future at once,
// with no allocation, and SubmitRange(p, 0, fn) never calls fn.
//
// # Memory model
//
// A submission is synchronized before its tasks run. Every task of a
// future is synchronized before the return of a Wait on that future, a
// WaitTimeout that returns true, a WaitContext that returns other than the
// context's error, or an IsComplete that returns true: what the tasks
// wrote can be read then with no further synchronization. Likewise
// [Group.Go] is synchronized before its task runs, and every task given
// to a group is synchronized before the return of [Group.Wait].
//
// Any goroutine may wait on a future, and any number at once. Wait runs
// the future's own unclaimed tasks on the calling goroutine while there
// are any, then sleeps; WaitTimeout and WaitContext never run tasks, so
// their bound holds even when a task blocks. WaitContext does not cancel
// anything, and when it returns the context's error the tasks may still
// be running and writing their params; to stop them and wait, use
// context.AfterFunc(ctx, f.Cancel) and then Wait.
//
// A task may submit to its own pool and Wait: the waiting goroutine runs
// the nested tasks itself, so this cannot deadlock, even with one worker
// and deep recursion. The same holds for a task that makes a Group and
// waits on it.
//
// # Errors and Cancel
//
// A task of SubmitErr, SubmitBatchErr, SubmitRangeErr or Pool.GoErr
// returns an error, and the first non-nil one stops its future: tasks not
// yet claimed are skipped, runners of claimed chunks start no further task
// of it (a range chunk is one call, so no chunk starts after), and the
// tasks running at that moment finish before the future completes. With
// one runner, a batch whose task k fails runs exactly tasks 0 to k.
//
// [TaskFuture.Cancel] makes sure that the future's tasks not yet claimed
// never run; it does not wait for the running ones. In a future of error
// tasks, a Cancel that skipped a task also stops the not-yet-started tasks
// of chunks already claimed, as an error does. Cancel on a complete
// future, twice, or from one of the future's own tasks is fine.
//
// A future's first failure (an error, a panic, a runtime.Goexit, or a
// Cancel that skipped a task) is what Err, Wait and WaitContext report,
// and it stands: later failures do not replace it. An error is returned as
// the task returned it, so errors.Is and errors.As reach it; a Cancel is
// reported as [ErrCanceled]. Wait panics only when the first failure is a
// panic or a Goexit. An error task costs what its twin does: the same
// record, and one load before each task.
//
// # Panics and runtime.Goexit
//
// A task that panics kills neither its worker nor the process. The other
// tasks of its batch still run (a panic, unlike an error, does not stop
// them); a range chunk that panics stops there, and every other chunk
// still runs. The future records the first panic as a [*PanicError] with
// the task's stack; Err and WaitContext return it, Wait panics with it in
// the waiting goroutine, and the pool keeps serving.
//
// A task that calls runtime.Goexit ends only itself: its future completes
// with a *PanicError whose Value is [ErrGoexit], the rest of its batch
// runs, and a worker lost to it is replaced. One caveat: a task run by
// Wait on the caller's goroutine ends that goroutine, as calling it
// directly would; wait on such tasks with WaitContext or WaitTimeout,
// which never run tasks.
//
// With [WithPanicHandler](h), h is called once for every task that panics
// or calls runtime.Goexit, on the goroutine that ran it, after its future
// has recorded the failure, so a panic in a task nobody waits on is not
// lost. h is not called for errors, which are values. A panic in h is
// recovered and dropped.
//
// # Failures inside failures
//
// A panic handler may itself end its goroutine with runtime.Goexit (as
// t.Fatal in a handler does). That costs the pool no worker and no task:
// a worker so ended is replaced, the rest of the chunk it held (or a
// waiter so ended held) is run by another goroutine, no task runs twice,
// every future still completes, and Close still waits for every accepted
// task.
//
// Under GODEBUG=panicnil=1 (the default for a main module whose go.mod says
// go 1.20 or older), recover returns nil for panic(nil), as it does for
// runtime.Goexit. The pool still tells them apart: a task that calls
// panic(nil) is reported as a panic, a *PanicError whose Value is nil, and
// never as a Goexit. Without that setting its Value is a
// *runtime.PanicNilError.
//
// The counts of [Pool.Stats] are exact once the pool is idle, after a
// Goexit too, and never count a task before it has finished.
//
// # Groups
//
// Code written against golang.org/x/sync/errgroup compiles unchanged with
//
//	import errgroup "github.com/zeropool/zeropool"
//
// The zero value of Group is ready and runs on [Global]; [Pool.NewGroup]
// makes one on another pool, and [WithContext] and [Pool.NewGroupContext]
// make one with a context. A Group must not be copied after first use.
//
// The first failure stops the group: once a task of it has returned an
// error, panicked or called runtime.Goexit, or [Group.Cancel] was called,
// or the parent context has ended, no task of the group starts any more.
// Queued tasks are skipped, tasks running at that moment finish, and a
// later Go queues nothing (its fn never runs). errgroup runs every
// function it was given. Cancel is safe from inside one of the group's
// own tasks: a search that has found its answer cancels the rest.
//
// Group.Wait runs the group's queued tasks on the calling goroutine while
// there are any, then sleeps until every task given so far has run or been
// skipped. It returns nil, the first error as the task returned it,
// ErrCanceled after Cancel, or context.Cause of the parent context if its
// end stopped the group, whichever came first. If the first failure was a
// panic or a Goexit, Wait panics with its *PanicError, as TaskFuture.Wait
// does; the pool survives. A group may be used again after Wait; its first
// failure stays, as errgroup's does.
//
// The context of WithContext is canceled at the group's first failure,
// with that failure as its cause (context.Cause), or when Wait returns,
// with cause context.Canceled. [Group.SetLimit] and [Group.TryGo] are
// errgroup's: at most n tasks of the group queued or running at once. Go
// at the limit waits, running the group's queued tasks meanwhile, so a
// task of the pool may call it without deadlock; with a limit of 0, TryGo
// reports false and Go panics (errgroup's would block forever).
//
// A task that blocks (I/O, time.Sleep, a contended lock) holds its worker:
// a group on a pool of GOMAXPROCS workers runs that many tasks at once,
// where errgroup runs every one on a goroutine of its own. A Group is for
// CPU work; I/O fan-out stays with errgroup.
//
// A task of a group costs what Pool.Go does: Go allocates nothing beyond
// the closure and takes no lock unless a limit is set.
//
// # Close
//
// [Pool.Close] waits for every accepted task to run, then stops the workers
// and returns once they have exited. It is idempotent and safe from many
// goroutines; closing [Global] does nothing. Submitting afterwards panics
// with an error wrapping [ErrClosed]; a submit racing Close either panics
// so or runs, and is never accepted and dropped. Don't call Close from a
// task.
//
// # Bad input, order and cost
//
// Bad input panics in the caller with a "zeropool:" message: a nil func,
// nil params, n < 0 or a nil base with n > 0 at submit time, and
// WithWorkers(n) with n < 1 in New. The pool keeps working afterwards.
//
// Records leave the queue in the order they were pushed: with one worker
// and nobody waiting, tasks run in submission order.
//
// A batch or a range is one record: O(1) allocations whatever its size.
// Pool.Go keeps the closure reachable until it has run and allocates no
// wrapper: beyond the closure, a call costs what a Submit does, 1/124 of a
// 4 KiB block of records (33 bytes). An idle pool uses no CPU: its workers
// sleep, and it starts no timers or other goroutines. After a range (a
// SubmitRange or a loop handed out), one worker and the range's waiter each
// look for up to 50 µs before they sleep, yielding between looks, so that
// back-to-back loops find the other core awake.
package zeropool
