package zeropool

import (
	"fmt"
	"unsafe"
)

// Loops that wait: For, ForErr, ForEach, Map, MapErr and Reduce mean what
// SubmitRange (or its twins) followed by Wait means, but the caller runs
// the loop itself until the work has shown that handing the rest to the
// pool is worth a wake-up. How a call decides is in loop.run.

// For calls fn on disjoint half-open chunks [lo, hi) that together cover
// [0, n) exactly once, and returns when every chunk has run: it means
// SubmitRange(p, n, fn).Wait(), and its chunks may run on the pool's
// workers and on the calling goroutine at once. Everything fn did is
// synchronized before For returns.
//
// For starts the loop on the calling goroutine and hands the rest to the
// workers only once the indices run so far show that what is left takes
// long enough to be worth waking one (about 20 µs; see handOffMin). It
// remembers, per loop body (per func literal), how long an index took,
// so that a short loop runs inline at once and a long one is handed out
// at once; a body whose indices got much slower since may run one call
// inline before that is seen. The rest is handed out in a block per core
// (more for a long loop), so a body that allocates scratch per call
// allocates it about once per core. A short loop therefore never waits for a worker,
// even when every worker is busy. Stats.Ran counts what a loop handed out,
// a task per block of indices; what ran before the hand-off is not
// counted (a count there would cost the shortest loops a shared atomic
// add).
//
// A chunk that panics stops at the panic; every other chunk still runs,
// and For then panics in the caller with the first panic's *PanicError.
// A task may call For on its own pool, to any depth, even with one worker.
//
// For panics with a "zeropool:" message if fn is nil or n < 0, and with an
// error wrapping ErrClosed if p is closed, even if the loop would have run
// wholly on the caller.
func For(p *Pool, n int, fn func(lo, hi int)) {
	if fn == nil {
		panic("zeropool: For: nil func")
	}
	check(p, n, "For")
	if n == 0 {
		return
	}
	l := loop{p: p, n: n, site: siteOf(fn)}
	if k := l.run(func(lo, hi int) error { fn(lo, hi); return nil }); k < n {
		_ = l.handOff(k, fn, 0)
	}
	l.rethrow()
}

// ForErr is For for a loop body that may fail: it means
// SubmitRangeErr(p, n, fn).Wait(). Once a chunk has returned an error no
// chunk starts; chunks running at that moment finish, and ForErr returns
// that first error (unless a chunk panicked first: then it panics as For
// does).
func ForErr(p *Pool, n int, fn func(lo, hi int) error) error {
	if fn == nil {
		panic("zeropool: ForErr: nil func")
	}
	check(p, n, "ForErr")
	if n == 0 {
		return nil
	}
	l := loop{p: p, n: n, site: siteOf(fn)}
	var err error
	if k := l.run(fn); l.err != nil {
		err = l.err
	} else if k < n {
		err = l.handOff(k, *(*func(lo, hi int))(unsafe.Pointer(&fn)), errTask)
	}
	l.rethrow()
	return err
}

// ForEach calls fn(&s[i]) for every i, as SubmitBatchUniform(p, fn,
// s).Wait() does, adaptively as For does; each call should write only
// through its own element. A call that panics does not stop the others;
// ForEach then panics with the first panic's *PanicError.
func ForEach[T any](p *Pool, s []T, fn func(*T)) {
	if fn == nil {
		panic("zeropool: ForEach: nil func")
	}
	check(p, len(s), "ForEach")
	if len(s) == 0 {
		return
	}
	st := &each{p: p}
	chunk := func(lo, hi int) error {
		for i := lo; i < hi; {
			var c *caught
			if i, c = forEachFrom(fn, s, i, hi); c != nil {
				st.recovered(c)
			}
		}
		return nil
	}
	_ = st.run(len(s), siteOf(fn), chunk)
}

// Map returns a new slice holding fn(&in[i]) at index i, for every i,
// computed as ForEach makes its calls. A call that panics does not stop
// the others; Map then panics with the first panic's *PanicError.
func Map[T, R any](p *Pool, in []T, fn func(*T) R) []R {
	if fn == nil {
		panic("zeropool: Map: nil func")
	}
	check(p, len(in), "Map")
	out := make([]R, len(in))
	if len(in) == 0 {
		return out
	}
	st := &each{p: p}
	chunk := func(lo, hi int) error {
		for i := lo; i < hi; {
			var c *caught
			if i, c = mapFrom(fn, in, out, i, hi); c != nil {
				st.recovered(c)
			}
		}
		return nil
	}
	_ = st.run(len(in), siteOf(fn), chunk)
	return out
}

// MapErr is Map for a fn that may fail. The first error stops it: no
// element's fn starts after it (with one runner, exactly the elements up
// to the failing one ran), and MapErr returns nil and that error.
func MapErr[T, R any](p *Pool, in []T, fn func(*T) (R, error)) ([]R, error) {
	if fn == nil {
		panic("zeropool: MapErr: nil func")
	}
	check(p, len(in), "MapErr")
	out := make([]R, len(in))
	if len(in) == 0 {
		return out, nil
	}
	st := &each{p: p}
	chunk := func(lo, hi int) error {
		for i := lo; i < hi; {
			var err error
			var c *caught
			if i, c, err = mapErrFrom(st, fn, in, out, i, hi); c != nil {
				st.recovered(c)
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	if err := st.run(len(in), siteOf(fn), chunk); err != nil {
		return nil, err
	}
	return out, nil
}

// Reduce calls fn on disjoint chunks [lo, hi) that together cover [0, n),
// as For does, and combines their results in index order:
// combine(combine(r0, r1), r2)... where r0 is the result of the chunk
// that starts at 0. combine must be associative; it need not be
// commutative. It runs on the calling goroutine only. n == 0 returns the
// zero R without calling fn. A chunk that panics does not stop the
// others; Reduce then panics with the first panic's *PanicError.
func Reduce[R any](p *Pool, n int, fn func(lo, hi int) R, combine func(a, b R) R) R {
	switch {
	case fn == nil:
		panic("zeropool: Reduce: nil func")
	case combine == nil:
		panic("zeropool: Reduce: nil combine")
	}
	check(p, n, "Reduce")
	var acc R
	if n == 0 {
		return acc
	}
	have := false
	l := loop{p: p, n: n, site: siteOf(fn)}
	// Chunks run inline in index order: fold each in as it comes.
	k := l.run(func(lo, hi int) error {
		r := fn(lo, hi)
		if have {
			acc = combine(acc, r)
		} else {
			acc, have = r, true
		}
		return nil
	})
	if k < n {
		m, g := l.blocks(k)
		// One result per block. A claim of several blocks is one call of
		// fn, whose result goes to its first block; the others stay
		// unset. Each slot is written by the runner of its claim alone,
		// and read here after the record completes.
		parts := make([]struct {
			r   R
			set bool
		}, m)
		_ = l.publish(m, g, func(lo, hi int) {
			parts[lo].r = fn(k+lo*g, min(k+hi*g, n))
			parts[lo].set = true
		}, 0)
		for i := range parts {
			switch {
			case !parts[i].set:
			case have:
				acc = combine(acc, parts[i].r)
			default:
				acc, have = parts[i].r, true
			}
		}
	}
	l.rethrow()
	return acc
}

// check panics as a submit to p would, for a loop over n indices.
func check(p *Pool, n int, name string) {
	switch {
	case p == nil:
		panic("zeropool: submit to a nil *Pool")
	case n < 0:
		panic(fmt.Sprintf("zeropool: %s: negative n (%d)", name, n))
	case p.closed.Load():
		// Also when the loop would run wholly inline: whether a call
		// panics must not depend on how long its body took last time.
		panic(errSubmitClosed)
	}
}
