package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/sourcegraph/conc/pool"
	"github.com/zeropool/zeropool"
	"golang.org/x/sync/errgroup"
)

// The zeropool rows here and in errgroup_compat_test.go reach the Group
// only through these four names.
type zgroup = zeropool.Group

var (
	zWithContext     = zeropool.WithContext
	zNewGroup        = (*zeropool.Pool).NewGroup
	zNewGroupContext = (*zeropool.Pool).NewGroupContext
)

// groupRunner runs n error tasks, fn(i) for i in [0, n), on one group and
// returns what its single wait returns.
type groupRunner struct {
	name  string
	setup func() (run func(n int, fn func(i int) error) error, teardown func())
}

// G1's contenders: the idiomatic group of each, one wait for all.
var groupRunners = []groupRunner{
	{"zeropool", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			var g zgroup // on zeropool.Global()
			for i := range n {
				g.Go(func() error { return fn(i) })
			}
			return g.Wait()
		}, func() {}
	}},
	{"errgroup", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			var g errgroup.Group
			for i := range n {
				g.Go(func() error { return fn(i) })
			}
			return g.Wait()
		}, func() {}
	}},
	{"errgroup-limit", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			var g errgroup.Group
			g.SetLimit(runtime.GOMAXPROCS(0))
			for i := range n {
				g.Go(func() error { return fn(i) })
			}
			return g.Wait()
		}, func() {}
	}},
	{"conc", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			p := pool.New().WithErrors()
			for i := range n {
				p.Go(func() error { return fn(i) })
			}
			return p.Wait()
		}, func() {}
	}},
	{"pond", func() (func(int, func(int) error) error, func()) {
		p := pond.NewPool(runtime.GOMAXPROCS(0))
		return func(n int, fn func(int) error) error {
			g := p.NewGroup()
			for i := range n {
				g.SubmitErr(func() error { return fn(i) })
			}
			return g.Wait()
		}, p.StopAndWait
	}},
	// G1's second baseline: 1000 Pool.Go on the pool the zero Group uses,
	// then a wait on each future.
	{"zeropool-futures", func() (func(int, func(int) error) error, func()) {
		futures := make([]*zeropool.TaskFuture, 0, taskCount)
		return func(n int, fn func(int) error) error {
			p := zeropool.Global()
			futures = futures[:0]
			for i := range n {
				futures = append(futures, p.Go(func() { _ = fn(i) }))
			}
			for _, f := range futures {
				f.Wait()
			}
			return nil
		}, func() {}
	}},
}

// G1: 1000 g.Go, each writing 42, then one g.Wait. Every row calls the
// same closure, so each runs one compiled copy of the body.
func BenchmarkGroup(b *testing.B) {
	for _, r := range groupRunners {
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

// failFastRunners are G2's contenders: each loops over up to n calls of
// its group's Go and stops once the group's context is done, the same
// way for all. The tasks look at the context as errors_test.go's B11
// peers do: errgroup's and conc's skip their body once it is canceled,
// as their users write them; pond's group and zeropool's skip queued
// tasks themselves, so theirs do not look.
var failFastRunners = []groupRunner{
	{"zeropool", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			g, ctx := zWithContext(context.Background())
			for i := range n {
				if ctx.Err() != nil {
					break
				}
				g.Go(func() error { return fn(i) })
			}
			return g.Wait()
		}, func() {}
	}},
	{"errgroup", func() (func(int, func(int) error) error, func()) {
		return func(n int, fn func(int) error) error {
			g, ctx := errgroup.WithContext(context.Background())
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
	// B11's errgroup row: the same, at most GOMAXPROCS goroutines.
	{"errgroup-limit", func() (func(int, func(int) error) error, func()) {
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
			p := pool.New().WithContext(context.Background()).WithCancelOnError()
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

// G2: a loop of up to 2^20 g.Go of ~20 LCG steps (B11's lcg20) that stops
// once the group's context is done; the 1000th task to start fails. The
// time until Wait returns, from pools left idle between ops, as B11.
// started/op counts the tasks whose body began.
func BenchmarkGroupFailFast(b *testing.B) {
	const n, failAt = 1 << 20, 1000
	out := make([]uint64, n)
	for _, r := range failFastRunners {
		b.Run("pool="+r.name, func(b *testing.B) {
			run, teardown := r.setup()
			defer teardown()
			var started atomic.Int64
			task := func(i int) error {
				if started.Add(1) == failAt {
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
				// conc without WithFirstError joins the errors it got.
				if err := run(n, task); !errors.Is(err, errFailFast) {
					b.Fatalf("wait = %v; want %v", err, errFailFast)
				}
				total += started.Load()
			}
			b.ReportMetric(float64(total)/float64(b.N), "started/op")
		})
	}
}

// What blocking costs: n tasks that each sleep 100 µs, on a group over a
// pool of 2 workers, against errgroup's goroutine per task. A task that
// blocks holds its worker, so the pool's row grows with n where
// errgroup's stays near one sleep.
func BenchmarkGroupBlocking(b *testing.B) {
	sleep := func() error { time.Sleep(100 * time.Microsecond); return nil }
	for _, n := range []int{2, 8, 32} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.Run("pool=zeropool", func(b *testing.B) {
				p := zeropool.New(zeropool.WithWorkers(2))
				defer p.Close()
				b.ReportAllocs()
				for b.Loop() {
					g := zNewGroup(p)
					for range n {
						g.Go(sleep)
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
					for range n {
						g.Go(sleep)
					}
					if err := g.Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
