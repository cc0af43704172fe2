// Package benchmarks compares zeropool with the third-party pools a Go
// programmer might use instead, on upstream zero-pool's workloads. It is a
// module of its own so that the library's go.mod requires nothing.
package benchmarks

import (
	"runtime"
	"sync"
	"testing"

	"github.com/alitto/pond/v2"
	"github.com/bytedance/gopkg/util/gopool"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/iter"
	"github.com/sourcegraph/conc/pool"
	"github.com/zeropool/zeropool"
	"golang.org/x/sync/errgroup"
)

const taskCount = 1000

// runner runs fn over every element of a batch and returns when all are done.
type runner struct {
	name  string
	setup func(b *testing.B) (run func(n int, fn func(i int)), teardown func())
}

// Every runner gets fn(i) for i in [0, n) and must not return before all ran.
var runners = []runner{
	{"zeropool", func(b *testing.B) (func(int, func(int)), func()) {
		p := zeropool.New()
		// The typed batch path: one record for the whole batch.
		idx := make([]int, 0, 1<<20)
		return func(n int, fn func(int)) {
			idx = idx[:0]
			for i := range n {
				idx = append(idx, i)
			}
			zeropool.SubmitBatchUniform(p, func(i *int) { fn(*i) }, idx).Wait()
		}, p.Close
	}},
	{"ants", func(b *testing.B) (func(int, func(int)), func()) {
		p, err := ants.NewPool(runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		return func(n int, fn func(int)) {
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				if err := p.Submit(func() { fn(i); wg.Done() }); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		}, p.Release
	}},
	{"pond", func(b *testing.B) (func(int, func(int)), func()) {
		p := pond.NewPool(runtime.GOMAXPROCS(0))
		return func(n int, fn func(int)) {
			g := p.NewGroup()
			for i := range n {
				g.Submit(func() { fn(i) })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}, p.StopAndWait
	}},
	{"conc", func(b *testing.B) (func(int, func(int)), func()) {
		return func(n int, fn func(int)) {
			p := pool.New().WithMaxGoroutines(runtime.GOMAXPROCS(0))
			for i := range n {
				p.Go(func() { fn(i) })
			}
			p.Wait()
		}, func() {}
	}},
	{"gopool", func(b *testing.B) (func(int, func(int)), func()) {
		// bytedance's pool: a goroutine per task up to cap, a linked
		// list of tasks beyond; no wait of its own.
		p := gopool.NewPool("bench", int32(runtime.GOMAXPROCS(0)), gopool.NewConfig())
		return func(n int, fn func(int)) {
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				p.Go(func() { fn(i); wg.Done() })
			}
			wg.Wait()
		}, func() {}
	}},
	{"errgroup", func(b *testing.B) (func(int, func(int)), func()) {
		return func(n int, fn func(int)) {
			var g errgroup.Group
			g.SetLimit(runtime.GOMAXPROCS(0))
			for i := range n {
				g.Go(func() error { fn(i); return nil })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}, func() {}
	}},
}

// benchEach runs a sub-benchmark per runner in rs: each iteration makes a
// fresh results slice and runs task(results)(i) for taskCount values of i.
func benchEach(b *testing.B, rs []runner, task func(results []uint64) func(i int)) {
	for _, r := range rs {
		b.Run("pool="+r.name, func(b *testing.B) {
			run, teardown := r.setup(b)
			defer teardown()
			b.ReportAllocs()
			for b.Loop() {
				run(taskCount, task(make([]uint64, taskCount)))
			}
		})
	}
}

// B1 on every pool: 1000 tasks that each write 42.
func BenchmarkTaskOverhead(b *testing.B) {
	benchEach(b, runners, func(results []uint64) func(int) {
		return func(i int) { results[i] = 42 }
	})
}

// heavy is bench_test.go's heavyCompute again: this module cannot import
// the library's test files.
func heavy(seed uint64) uint64 {
	var sum uint64
	x := seed
	for range 30000 {
		x = x*1664525 + 1013904223
		sum += x
		if x%3 == 0 {
			sum *= 17
		} else if x%7 == 0 {
			sum += x >> 8
		}
	}
	return sum
}

// B3 on every pool: 1000 tasks of 30000 LCG steps.
func BenchmarkHeavyCompute(b *testing.B) {
	benchEach(b, runners, func(results []uint64) func(int) {
		return func(i int) { results[i] = heavy(uint64(i)*1103515245 + 12345) }
	})
}

// benchZeropoolEach runs pool=zeropool: per op, 1000 submissions made by
// submit (the i-th writing results[i]), then a wait on each future.
func benchZeropoolEach(b *testing.B, submit func(p *zeropool.Pool, results []uint64, i int) *zeropool.TaskFuture) {
	b.Run("pool=zeropool", func(b *testing.B) {
		p := zeropool.New()
		defer p.Close()
		futures := make([]*zeropool.TaskFuture, taskCount)
		b.ReportAllocs()
		for b.Loop() {
			results := make([]uint64, taskCount)
			for i := range results {
				futures[i] = submit(p, results, i)
			}
			for _, f := range futures {
				f.Wait()
			}
		}
	})
}

// B2 on every pool: 1000 separate submissions. zeropool waits on each of
// its 1000 futures; the others wait once for all, their cheapest way.
func BenchmarkIndividualTasks(b *testing.B) {
	benchZeropoolEach(b, func(p *zeropool.Pool, results []uint64, i int) *zeropool.TaskFuture {
		return zeropool.Submit(p, func(r *uint64) { *r = 42 }, &results[i])
	})
	benchEach(b, runners[1:], func(results []uint64) func(int) {
		return func(i int) { results[i] = 42 }
	})
}

// rangeLen is B8's loop length; rangeChunk the block a hand-chunked loop
// hands to each task of pond and errgroup, the way their users split a
// loop (a task per element would be hopeless at this size).
const (
	rangeLen   = 1 << 20
	rangeChunk = 1 << 14
)

// hashRange is bench_test.go's B8 body again, one compiled copy for every
// contender here.
//
//go:noinline
func hashRange(out []uint32, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := uint32(i) * 2654435761
		out[i] = x ^ x>>15
	}
}

// B8 on every pool that has a way to run a loop: a hash into 1,048,576
// uint32s. zeropool: SubmitRange; conc: iter.ForEachIdx (a call per
// element); pond and errgroup: blocks of rangeChunk, one task each.
func BenchmarkRange(b *testing.B) {
	out := make([]uint32, rangeLen)
	b.Run("pool=zeropool", func(b *testing.B) {
		p := zeropool.New()
		defer p.Close()
		body := func(lo, hi int) { hashRange(out, lo, hi) }
		b.ReportAllocs()
		for b.Loop() {
			zeropool.SubmitRange(p, rangeLen, body).Wait()
		}
	})
	b.Run("pool=conc", func(b *testing.B) {
		it := iter.Iterator[uint32]{MaxGoroutines: runtime.GOMAXPROCS(0)}
		b.ReportAllocs()
		for b.Loop() {
			it.ForEachIdx(out, func(i int, _ *uint32) { hashRange(out, i, i+1) })
		}
	})
	b.Run("pool=pond", func(b *testing.B) {
		p := pond.NewPool(runtime.GOMAXPROCS(0))
		defer p.StopAndWait()
		b.ReportAllocs()
		for b.Loop() {
			g := p.NewGroup()
			for lo := 0; lo < rangeLen; lo += rangeChunk {
				g.Submit(func() { hashRange(out, lo, lo+rangeChunk) })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pool=errgroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			g.SetLimit(runtime.GOMAXPROCS(0))
			for lo := 0; lo < rangeLen; lo += rangeChunk {
				g.Go(func() error { hashRange(out, lo, lo+rangeChunk); return nil })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// B9 on every pool: 1000 closures, each writing its result. zeropool
// waits on each of its 1000 futures (Pool.Go); the others wait once for
// all, their cheapest way.
func BenchmarkClosures(b *testing.B) {
	benchZeropoolEach(b, func(p *zeropool.Pool, results []uint64, i int) *zeropool.TaskFuture {
		return p.Go(func() { results[i] = 42 })
	})
	benchEach(b, runners[1:], func(results []uint64) func(int) {
		return func(i int) { results[i] = 42 }
	})
}
