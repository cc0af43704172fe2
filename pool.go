package zeropool

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// A Pool runs tasks on a fixed set of worker goroutines that share one FIFO
// queue. Idle workers sleep; an idle pool uses no CPU.
//
// A submission costs at most one allocation (for a single task, 1/124
// of one) and a few atomic operations whatever its size, and a task of a
// batch costs a few nanoseconds on top of its own work (see the README for
// measurements): batches of small tasks are what it is best at. A Pool
// must not be copied.
type Pool struct {
	q queue

	// closed goes from false to true once, when Close begins. A submit
	// reads it after its publish (see submit); Close sets it before it
	// reserves the slot of stopRecord, so a submit that reads false has
	// its slot ahead of that one.
	closed atomic.Bool
	_      [cacheLine - 1]byte

	// idle counts workers committed to sleep: they have announced
	// themselves under mu and will look at the queue once more before
	// waiting on work. searching counts workers woken (or back from a
	// look at the queue, or spinning: see spin) that have not yet claimed
	// a task. Both are
	// changed only under mu, except that a searching worker that claims
	// a task decrements searching without it; both are read without mu by
	// submitters deciding whether a wake-up is needed.
	idle      atomic.Int32
	searching atomic.Int32
	// spinning is held by the one worker in spin.
	spinning atomic.Bool
	_        [cacheLine - 12]byte

	mu sync.Mutex
	// work is where idle workers sleep.
	work sync.Cond
	// wakeups counts Signals on work not yet taken by a worker. Guarded by mu.
	wakeups int
	// stopping is set by Close, under mu, once it has published
	// stopRecord. Workers exit once the queue has been consumed up to
	// that record: every record published ahead of it has then been
	// claimed.
	stopping bool

	workers  int
	split    int64 // claims take 1/split of the unclaimed tasks
	runSplit int64 // a worker takes 1/runSplit of the single tasks it sees
	lockOS   bool
	global   bool
	onPanic  func(*PanicError) // WithPanicHandler's h, or nil

	closeOnce sync.Once
	wg        sync.WaitGroup

	all   []*worker // every worker, for Stats; set by New, read-only after
	stats counters
}

// ErrClosed is wrapped by the panic of a submission to a closed pool.
var ErrClosed = errors.New("zeropool: pool is closed")

var errSubmitClosed = fmt.Errorf("%w: cannot submit", ErrClosed)

// An Option configures New.
type Option func(*config)

type config struct {
	workers int
	lockOS  bool
	onPanic func(*PanicError)
}

// WithWorkers sets the number of worker goroutines; New panics if n < 1.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithLockOSThread pins each worker to its own OS thread with
// runtime.LockOSThread when on is true. The default is false: see the
// README for the measurements behind it.
func WithLockOSThread(on bool) Option { return func(c *config) { c.lockOS = on } }

// WithPanicHandler has the pool call h once for every task that panics or
// calls runtime.Goexit, on the goroutine that ran the task, after the
// failure is recorded in the task's future. It is how a panic in a task
// nobody waits on is seen. A panic in h itself is recovered and dropped.
func WithPanicHandler(h func(*PanicError)) Option {
	return func(c *config) { c.onPanic = h }
}

// New starts a pool with runtime.GOMAXPROCS(0) workers unless an option
// says otherwise.
func New(opts ...Option) *Pool {
	c := config{workers: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(&c)
	}
	if c.workers < 1 {
		panic(fmt.Sprintf("zeropool: WithWorkers(%d): a pool needs at least one worker", c.workers))
	}
	p := &Pool{workers: c.workers, lockOS: c.lockOS, onPanic: c.onPanic, split: 2 * int64(c.workers+1), runSplit: int64(c.workers)}
	p.q.init(p)
	p.work.L = &p.mu
	p.wg.Add(c.workers)
	p.all = make([]*worker, c.workers)
	for i := range p.all {
		p.all[i] = new(worker)
		go p.runWorker(p.all[i], nil, 0, 0, 0)
	}
	return p
}

var global = sync.OnceValue(func() *Pool {
	p := New()
	p.global = true
	return p
})

// Global returns a pool shared by the whole process, started on the first
// call with New's defaults. Its Close does nothing.
func Global() *Pool { return global() }

// Workers returns the number of worker goroutines.
func (p *Pool) Workers() int { return p.workers }

// Close waits for every accepted task to run, then stops the workers and
// returns once they have exited. Submissions after Close has begun panic
// with an error wrapping ErrClosed; one racing Close either panics so or is
// run. Close may be called many times, from many goroutines; every call
// returns after the pool has stopped. Close must not be called from a task
// of the pool. On the Global pool, Close does nothing.
func (p *Pool) Close() {
	if p.global {
		return
	}
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		s, i := p.q.reserve()
		publish(s, i, &stopRecord, 0)
		p.mu.Lock()
		p.stopping = true
		p.work.Broadcast()
		p.mu.Unlock()
		// Workers drain the queue up to stopRecord, then wait for the
		// records they passed while a waiter still ran them, before they
		// exit (see worker.passed). So after this every accepted task has
		// run, whoever claimed it.
		p.wg.Wait()
	})
}

// report hands pe to the panic handler, if the pool has one.
func (p *Pool) report(pe *PanicError) {
	if p.onPanic == nil {
		return
	}
	// A panic escaping h here would take down a worker, or the waiter's
	// goroutine in the middle of running its own tasks.
	defer func() { _ = recover() }()
	p.onPanic(pe)
}

// stopRecord is what Close publishes behind the last accepted record. It
// has no tasks, and no consumer ever takes its slot, so every worker finds
// it at the front once the queue has drained.
var stopRecord task

// stoppedLocked reports whether the pool is closed and the queue has been
// consumed up to stopRecord. Called with mu held.
func (p *Pool) stoppedLocked() bool {
	if !p.stopping {
		return false
	}
	_, _, rec := p.q.front()
	return rec == &stopRecord
}
