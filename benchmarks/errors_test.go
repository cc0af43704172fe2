package benchmarks

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/zeropool/zeropool"
	"golang.org/x/sync/errgroup"
)

// errRunner runs n error tasks, fn(i) for i in [0, n), and returns the
// first error, the way each pool's users stop at one: no new task once the
// pool's context is canceled (zeropool needs none: its future stops).
type errRunner struct {
	name  string
	setup func() (run func(n int, fn func(i int) error) error, teardown func())
}

var errRunners = []errRunner{
	{"zeropool", func() (func(int, func(int) error) error, func()) {
		p := zeropool.New()
		// The batch's params are the indices, made once.
		idx := make([]int, 1<<20)
		for i := range idx {
			idx[i] = i
		}
		return func(n int, fn func(int) error) error {
			return zeropool.SubmitBatchErr(p, func(i *int) error { return fn(*i) }, idx[:n]).Wait()
		}, p.Close
	}},
	{"errgroup", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			g, ctx := errgroup.WithContext(context.Background())
			g.SetLimit(runtime.GOMAXPROCS(0))
			for i := range n {
				if ctx.Err() != nil {
					break
				}
				g.Go(func() error {
					if ctx.Err() != nil {
						return nil
					}
					return fn(i)
				})
			}
			return g.Wait()
		}, func() {}
	}},
	{"conc", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			// conc hands its context only to tasks: the first keeps it
			// for the submit loop to look at.
			var poolCtx atomic.Pointer[context.Context]
			p := pool.New().WithMaxGoroutines(runtime.GOMAXPROCS(0)).WithContext(context.Background()).WithCancelOnError().WithFirstError()
			for i := range n {
				if c := poolCtx.Load(); c != nil && (*c).Err() != nil {
					break
				}
				p.Go(func(ctx context.Context) error {
					if poolCtx.Load() == nil {
						poolCtx.CompareAndSwap(nil, &ctx)
					}
					if ctx.Err() != nil {
						return nil
					}
					return fn(i)
				})
			}
			return p.Wait()
		}, func() {}
	}},
	{"pond", func() (func(int, func(int) error) error, func()) {
		p := pond.NewPool(runtime.GOMAXPROCS(0))
		return func(n int, fn func(int) error) error {
			// A group's context ends at its first error, and the group
			// skips its queued tasks from then on.
			g := p.NewGroupContext(context.Background())
			ctx := g.Context()
			for i := range n {
				if ctx.Err() != nil {
					break
				}
				g.SubmitErr(func() error { return fn(i) })
			}
			return g.Wait()
		}, p.StopAndWait
	}},
}

// B10 on every pool with error tasks: 1000 tasks that each write 42 and
// return nil, one wait for all.
func BenchmarkErrBatch(b *testing.B) {
	for _, r := range errRunners {
		b.Run("pool="+r.name, func(b *testing.B) {
			run, teardown := r.setup()
			defer teardown()
			b.ReportAllocs()
			for b.Loop() {
				results := make([]uint64, taskCount)
				if err := run(taskCount, func(i int) error { results[i] = 42; return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// lcg20 is bench_test.go's B11 task again: about 20 LCG steps.
//
//go:noinline
func lcg20(seed uint64) uint64 {
	x := seed
	for range 20 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var errFailFast = errors.New("the 1000th task failed")

// B11 on every pool with error tasks: 2^20 tasks of ~20 LCG steps, the
// 1000th to start fails; the time until the wait returns, from pools left
// idle between ops. started/op counts the tasks whose body began. Each
// peer's tasks skip their body once its context is canceled, as their
// users write them; pool=zeropool-floor is zeropool running the 1000
// tasks that do not fail.
func BenchmarkFailFast(b *testing.B) {
	const n, failAt = 1 << 20, 1000
	out := make([]uint64, n)
	bench := func(b *testing.B, r errRunner, n int, fails bool) {
		run, teardown := r.setup()
		defer teardown()
		var started atomic.Int64
		task := func(i int) error {
			if started.Add(1) == failAt && fails {
				return errFailFast
			}
			out[i] = lcg20(uint64(i))
			return nil
		}
		var total int64
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			time.Sleep(50 * time.Microsecond) // let the workers park
			started.Store(0)
			b.StartTimer()
			if err := run(n, task); (err == errFailFast) != fails {
				b.Fatalf("wait = %v; fails=%v", err, fails)
			}
			total += started.Load()
		}
		b.ReportMetric(float64(total)/float64(b.N), "started/op")
	}
	for _, r := range errRunners {
		b.Run("pool="+r.name, func(b *testing.B) { bench(b, r, n, true) })
	}
	b.Run("pool=zeropool-floor", func(b *testing.B) { bench(b, errRunners[0], failAt, false) })
}
