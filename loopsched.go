package zeropool

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"
)

// How a loop decides where to run: the rule and its constants. Figures
// are from an AMD EPYC, 2 cores, go1.26 (benchmarks/LOOPS.md).
//
// A loop runs on its caller until what is left is known to take at least
// handOffMin; then the rest is published as one range record and the
// caller helps run it, as TaskFuture.Wait does. Knowing takes a clock, and
// a clock read costs 30 ns here (time.Since on a monotonic base; time.Now
// is 58 ns), three times B13's whole 16-index loop. So each loop body (a
// func literal: its code pointer) keeps what an index took the last time
// it was measured (see sites), and a call whose prediction is short runs
// inline without reading the clock at all; one predicted long is handed
// out before its first index. Only calls in between, calls at a body not
// yet measured, and a sample of the short ones read the clock: they run
// chunks that grow until the time measured is at least trustNs (so that
// the clock's own cost is a few percent of it), and decide then.
const (
	// handOffMin is the least remaining work, in nanoseconds, worth
	// handing out. Handed out, the rest R takes about R/2 + H on 2 cores,
	// H the hand-off's cost: the wake-up (3-4 µs until the worker runs),
	// the record, the caller's sleep on the worker's last block. H was
	// 5-6 µs on a quiet machine and 14 µs on a loaded one (B13's body over
	// 4096 indices handed out before the first: 16.7 µs against 5.3 µs
	// inline, benchstat n=6), so the break-even R = 2H is 10-28 µs; 20 µs
	// keeps a loaded machine's noise, which inflates estimates, from
	// handing out loops that would have won inline.
	handOffMin = 20_000

	// trustNs is how long a measurement must be before it decides a
	// hand-off: the two clock reads around it (~60 ns) are then ~6 %.
	trustNs = 1_000

	// untimedMax is the longest predicted loop run inline with no clock
	// read. Above it the ladder's two reads cost ≤ 6 %.
	untimedMax = 1_000

	// Loops predicted between sampleAbove and untimedMax take the ladder
	// once in sampleEvery calls, so that a body whose indices got slower
	// is measured again; a random draw costs 7 ns, which below
	// sampleAbove would cost a 16-index loop half again.
	sampleAbove = 256
	sampleEvery = 16

	// blockNs bounds a handed-out chunk's time, as chunkBudget bounds a
	// batch's: a runner preempted in the middle of one leaves it for last.
	blockNs = chunkBudget
)

// yieldOnHandOff is whether publish yields after a wake-up (see there).
// Only tests change it, to measure the time to the second runner without
// the yield beside the time with it.
var yieldOnHandOff = true

// clockBase makes clock a single monotonic read (time.Since reads only the
// monotonic clock of a Time that has one).
var clockBase = time.Now()

func clock() float64 { return float64(time.Since(clockBase)) }

// A siteEst is what an index of one loop body took when last measured.
// Immutable once stored in sites.
type siteEst struct {
	pc      uintptr // the body's code pointer
	ns      float64 // nanoseconds per index
	trusted bool    // measured over ≥ trustNs; else an upper bound only
}

// sites is a direct-mapped cache of estimates by code pointer. A slot
// changes only when a measurement disagrees with it by a quarter or more,
// so loops of one body on several cores mostly only read it.
var sites [256]atomic.Pointer[siteEst]

// A siteKey names a loop body's slot in sites.
type siteKey struct {
	slot *atomic.Pointer[siteEst]
	pc   uintptr
}

// siteOf returns fn's key: every closure of one func literal shares its
// code pointer, which is the first word of the closure a func value
// points to. fn must be a non-nil func value.
func siteOf[F any](fn F) siteKey {
	pc := **(**uintptr)(unsafe.Pointer(&fn))
	return siteKey{&sites[pc*0x9E3779B97F4A7C15>>56], pc}
}

// load returns the body's estimate, or nil.
func (s siteKey) load() *siteEst {
	if e := s.slot.Load(); e != nil && e.pc == s.pc {
		return e
	}
	return nil
}

// learn records ns per index, measured over a trusted span or not. An
// untrusted measurement is an upper bound (the clock's cost inflates it):
// it does not replace a trusted estimate below it, but one above it was
// wrong (a first index run cold, say) and goes. A trusted one moves a
// trusted estimate halfway, on a log scale: on a shared machine one block
// in a few hundred is descheduled for a time slice and measures a hundred
// times too slow, and one such outlier must not turn a body's loops from
// inline to handed out.
func (s siteKey) learn(ns float64, trusted bool) {
	if old := s.load(); old != nil {
		switch {
		case old.trusted && !trusted && ns >= old.ns:
			return
		case old.trusted && trusted:
			ns = math.Sqrt(ns * old.ns)
		}
		if old.trusted == trusted && ns > old.ns*0.8 && ns < old.ns*1.25 {
			return
		}
	}
	s.slot.Store(&siteEst{pc: s.pc, ns: ns, trusted: trusted})
}

// A loop is one call of a loop, on its caller's goroutine.
type loop struct {
	p    *Pool
	n    int
	site siteKey
	ns   float64 // the estimate the hand-off was decided on
	k    int     // where the hand-off begins

	pe  *PanicError // the first panic of a chunk run inline, or nil
	err error       // the error of a chunk run inline: the loop stopped
}

// run runs the loop's first indices inline with chunk, as the rule above
// says, and returns k: [k, n) is left to hand off. A chunk that returns an
// error stops the loop: run records it in l.err and returns n.
func (l *loop) run(chunk func(lo, hi int) error) int {
	n := l.n
	s := l.site.load()
	if s != nil {
		pred := s.ns * float64(n)
		if pred < untimedMax && (pred < sampleAbove || rand.Uint32()%sampleEvery != 0) {
			l.call(chunk, 0, n)
			return n
		}
		if s.trusted && pred >= handOffMin && parallel() {
			l.ns = s.ns
			return 0
		}
	}
	c := 1
	if s != nil {
		// An untrusted ns is high, which only makes c smaller.
		c = max(1, int(trustNs/s.ns))
	}
	start := clock()
	for k := 0; ; {
		hi := min(n, k+c)
		if l.call(chunk, k, hi) {
			return n
		}
		k = hi
		el := clock() - start
		ns := el / float64(k) // an overestimate by the clock's cost
		if k == n {
			l.site.learn(ns, el >= trustNs)
			return n
		}
		if ns*float64(n-k) < handOffMin {
			// Too little left to hand out, even overestimated. One more
			// read times the whole loop: over a few short chunks the
			// reads' own cost makes ns several times too high, and the
			// next call would take the ladder again instead of running
			// untimed.
			l.call(chunk, k, n)
			el = clock() - start
			l.site.learn(el/float64(n), el >= trustNs)
			return n
		}
		if el >= trustNs {
			l.site.learn(ns, true)
			if !parallel() {
				l.call(chunk, k, n)
				return n
			}
			l.ns = ns
			return k
		}
		// Enough to reach trustNs if ns is right; a ns overestimated
		// undershoots, and the growth bound keeps a body whose first
		// indices were cheap from overshooting.
		c = min(8*c, max(1, int((trustNs-el)/ns)))
	}
}

// parallel reports whether handing out can help: another core, and a
// worker, to run on it.
func parallel() bool { return runtime.GOMAXPROCS(0) > 1 }

// call runs chunk over [lo, hi) and reports whether it failed with an
// error (recorded in l.err). A panic is recorded in l.pe and the loop goes
// on, as the other chunks of a range do after one panics.
func (l *loop) call(chunk func(lo, hi int) error, lo, hi int) (failed bool) {
	// guard returns only if chunk returned or panicked; after a
	// runtime.Goexit it never does. Telling the two apart by recover's
	// value alone is wrong: under GODEBUG=panicnil=1 a panic(nil)
	// recovers as nil too.
	ok := false
	defer func() {
		if !ok { // a Goexit: this goroutine ends after the report
			l.recovered(&caught{v: ErrGoexit, stack: debug.Stack()})
		}
	}()
	c, err := guard(chunk, lo, hi)
	ok = true
	if c != nil {
		l.recovered(c)
		return false
	}
	if err != nil {
		l.err = err
		l.p.stats.failed.Add(1)
		return true
	}
	return false
}

// A caught is what a call panicked with (nil too), and its stack, taken
// while the panicking frames are on it.
type caught struct {
	v     any
	stack []byte
}

// guard calls chunk(lo, hi) and returns its error, or what it panicked
// with.
func guard(chunk func(lo, hi int) error, lo, hi int) (c *caught, err error) {
	done := false
	defer func() {
		if !done {
			c = &caught{v: recover(), stack: debug.Stack()}
		}
	}()
	err = chunk(lo, hi)
	done = true
	return nil, err
}

// recovered records a panic (or Goexit) of a chunk run inline.
func (l *loop) recovered(c *caught) {
	pe := &PanicError{Value: c.v, Stack: c.stack}
	if l.pe == nil {
		l.pe = pe
	}
	l.p.stats.panicked.Add(1)
	l.p.report(pe)
}

// rethrow panics with the loop's first panic, if a chunk run inline had one.
func (l *loop) rethrow() {
	if l.pe != nil {
		panic(l.pe)
	}
}

// handOff runs [k, n) with body, of kind 0 or errTask (body is then an
// error func in disguise, see errFunc), on the pool and the caller.
func (l *loop) handOff(k int, body func(lo, hi int), kind uint64) error {
	m, g := l.blocks(k)
	n := l.n
	if kind == 0 {
		return l.publish(m, g, func(lo, hi int) { body(k+lo*g, min(k+hi*g, n)) }, 0)
	}
	fe := *(*func(lo, hi int) error)(unsafe.Pointer(&body))
	eb := func(lo, hi int) error { return fe(k+lo*g, min(k+hi*g, n)) }
	return l.publish(m, g, *(*func(lo, hi int))(unsafe.Pointer(&eb)), errTask)
}

// blocks splits [k, n) into m blocks of g indices (the last may be
// shorter): the record's tasks, and so the most calls of the body the
// hand-off makes. One block per core that can run them keeps a body that
// allocates scratch per call at about one allocation per core, and a
// balanced loop balanced; a long loop gets blocks of at most blockNs.
func (l *loop) blocks(k int) (m, g int) {
	l.k = k
	rem := l.n - k
	m = min(runtime.GOMAXPROCS(0), l.p.workers+1)
	if l.ns > 0 {
		m = max(m, int(l.ns*float64(rem)/blockNs)+1)
	}
	m = min(m, rem)
	g = (rem + m - 1) / m
	return (rem + g - 1) / g, g
}

// publish submits m tasks of bb, each a block of g indices, as one range
// record, helps run it and waits for it. If the pool closed since the
// loop began, the caller runs the blocks itself: a loop that was accepted
// at its start completes.
//
// Each block is timed (two clock reads on a block of microseconds), and
// the loop body's estimate is set from their sum after the wait: a
// hand-off decided on a measurement that was off (the first index of a
// body often runs cold, several times slower) is not repeated.
func (l *loop) publish(m, g int, bb func(lo, hi int), kind uint64) error {
	p := l.p
	spent := new(atomic.Int64) // ns the blocks took; read after the wait
	var tb func(lo, hi int)
	if kind == 0 {
		tb = func(lo, hi int) {
			start := clock()
			bb(lo, hi)
			spent.Add(int64(clock() - start))
		}
	} else {
		fe := *(*func(lo, hi int) error)(unsafe.Pointer(&bb))
		te := func(lo, hi int) error {
			start := clock()
			err := fe(lo, hi)
			spent.Add(int64(clock() - start))
			return err
		}
		tb = *(*func(lo, hi int))(unsafe.Pointer(&te))
	}
	// The worker woken is readied into this P's runnext slot, which no
	// other P steals for its first ~3 µs (runqgrab), and the caller is
	// about to run chunks, not to block: yield once, so that the worker
	// runs here now and the caller waits in the global queue for the P
	// the wake-up started spinning.
	woke := p.searching.Load() == 0 && p.idle.Load() > 0
	f := l.submit(m, tb, kind)
	if f == nil {
		l.call(func(lo, hi int) error {
			if kind == 0 {
				bb(lo, hi)
				return nil
			}
			return (*(*func(lo, hi int) error)(unsafe.Pointer(&bb)))(lo, hi)
		}, 0, m)
		return l.err
	}
	if woke && yieldOnHandOff {
		runtime.Gosched()
	}
	err := l.wait(f)
	if ns := float64(spent.Load()); err == nil && l.pe == nil {
		l.site.learn(ns/float64(l.n-l.k), ns >= trustNs)
	}
	return err
}

// submit submits the record, or returns nil if the pool has closed.
func (l *loop) submit(m int, bb func(lo, hi int), kind uint64) (f *TaskFuture) {
	defer func() {
		if f == nil {
			if r := recover(); r != errSubmitClosed {
				panic(r)
			}
		}
	}()
	return l.p.submit(nil, nil, 0, m, bb, kind)
}

// wait waits for f as Wait does; if a chunk run inline panicked first, a
// panic of f's gives way to it (see rethrow).
func (l *loop) wait(f *TaskFuture) error {
	if l.pe != nil {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(*PanicError); !ok {
					panic(r)
				}
			}
		}()
	}
	return f.Wait()
}

// each is the shared state of a ForEach, Map or MapErr call, whose every
// element is a call of its own: a panic ends that call only, as in a
// batch, so the chunks catch panics themselves and keep the first here.
type each struct {
	p *Pool
	// pe is the first panic, set once by CompareAndSwap; read by the
	// caller once every chunk has finished.
	pe atomic.Pointer[PanicError]
	// stopped is set by MapErr's first error, before the call that met
	// it returns: every runner looks before each element, which keeps
	// the rest of a claimed chunk from starting (the record's own stop
	// keeps only chunks from starting).
	stopped atomic.Bool
}

// run runs chunk over [0, n) as For runs its body; chunk never panics.
func (st *each) run(n int, site siteKey, chunk func(lo, hi int) error) error {
	l := loop{p: st.p, n: n, site: site}
	var err error
	if k := l.run(chunk); l.err != nil {
		err = l.err
	} else if k < n {
		err = l.handOff(k, *(*func(lo, hi int))(unsafe.Pointer(&chunk)), errTask)
	}
	if pe := st.pe.Load(); pe != nil {
		panic(pe)
	}
	l.rethrow() // a Goexit seen inline as a nil panic
	return err
}

// recovered records what an element's call panicked with (nil too,
// under GODEBUG=panicnil=1). A runtime.Goexit never gets here: the
// element's runner sees it (chunkRun, or loop.call on the caller).
func (st *each) recovered(c *caught) {
	pe := &PanicError{Value: c.v, Stack: c.stack}
	// After MapErr's first error, a panic is not the first failure.
	if !st.stopped.Load() {
		st.pe.CompareAndSwap(nil, pe)
	}
	st.p.stats.panicked.Add(1)
	st.p.report(pe)
}

// forEachFrom calls fn(&s[i]) for i up to hi and returns hi, or one past
// the element that panicked, with what it panicked with. After a
// runtime.Goexit it does not return.
func forEachFrom[T any](fn func(*T), s []T, i, hi int) (next int, c *caught) {
	defer func() {
		if i < hi {
			c, next = &caught{v: recover(), stack: debug.Stack()}, i+1
		}
	}()
	for ; i < hi; i++ {
		fn(&s[i])
	}
	return hi, nil
}

// mapFrom is forEachFrom for Map.
func mapFrom[T, R any](fn func(*T) R, in []T, out []R, i, hi int) (next int, c *caught) {
	defer func() {
		if i < hi {
			c, next = &caught{v: recover(), stack: debug.Stack()}, i+1
		}
	}()
	for ; i < hi; i++ {
		out[i] = fn(&in[i])
	}
	return hi, nil
}

// mapErrFrom is mapFrom for MapErr: it starts no element once the call is
// stopped, and stops it at an error, which it returns.
func mapErrFrom[T, R any](st *each, fn func(*T) (R, error), in []T, out []R, i, hi int) (next int, c *caught, err error) {
	returned := false
	defer func() {
		if !returned {
			c, next = &caught{v: recover(), stack: debug.Stack()}, i+1
		}
	}()
	for ; i < hi; i++ {
		if st.stopped.Load() {
			returned = true
			return hi, nil, nil
		}
		r, err := fn(&in[i])
		if err != nil {
			st.stopped.Store(true)
			returned = true
			return hi, nil, err
		}
		out[i] = r
	}
	returned = true
	return hi, nil, nil
}
