package zeropool_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// loopSizes are B13's loop lengths.
var loopSizes = []int{16, 256, 4096, 65536, 1 << 20}

// B13: For over n indices of B8's light body, against the same loop run
// serially, today's SubmitRange(...).Wait() and a goroutine per core.
// For's closure is written inline, as users write it (so each op
// allocates it); For-hoisted makes it once, outside the timed loop. Every
// row calls the one compiled hashRange. Rows alternate within each n.
func BenchmarkFor(b *testing.B) {
	out := make([]uint32, 1<<20)
	p := zeropool.New()
	defer p.Close()
	for _, n := range loopSizes {
		b.Run(fmt.Sprintf("n=%d/pool=serial", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				hashRange(out, 0, n)
			}
		})
		b.Run(fmt.Sprintf("n=%d/pool=For", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				zeropool.For(p, n, func(lo, hi int) { hashRange(out, lo, hi) })
			}
		})
		b.Run(fmt.Sprintf("n=%d/pool=For-hoisted", n), func(b *testing.B) {
			body := func(lo, hi int) { hashRange(out, lo, hi) }
			b.ReportAllocs()
			for b.Loop() {
				zeropool.For(p, n, body)
			}
		})
		b.Run(fmt.Sprintf("n=%d/pool=SubmitRange", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				zeropool.SubmitRange(p, n, func(lo, hi int) { hashRange(out, lo, hi) }).Wait()
			}
		})
		b.Run(fmt.Sprintf("n=%d/pool=handsplit", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handSplit(n, func(lo, hi int) { hashRange(out, lo, hi) })
			}
		})
	}
}

// lightFn is B14's fn: B8's hash of one int. One compiled copy for every
// row.
//
//go:noinline
func lightFn(x *int) uint32 {
	v := uint32(*x) * 2654435761
	return v ^ v>>15
}

// B14: Map of 2^20 ints (and of 16) by a light fn, against a serial loop
// calling the same fn into a new slice.
func BenchmarkMap(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	for _, n := range []int{16, 1 << 20} {
		in := make([]int, n)
		for i := range in {
			in[i] = i
		}
		b.Run(fmt.Sprintf("n=%d/pool=serial", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out := make([]uint32, len(in))
				for i := range in {
					out[i] = lightFn(&in[i])
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/pool=Map", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				zeropool.Map(p, in, lightFn)
			}
		})
	}
}

// sumRange is B15's chunk: the sum of xs[lo:hi]. One compiled copy.
//
//go:noinline
func sumRange(xs []uint64, lo, hi int) uint64 {
	s := uint64(0)
	for _, x := range xs[lo:hi] {
		s += x
	}
	return s
}

// B15: Reduce summing 2^20 uint64, against the serial sum.
func BenchmarkReduce(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	xs := make([]uint64, 1<<20)
	for i := range xs {
		xs[i] = uint64(i)
	}
	b.Run("pool=serial", func(b *testing.B) {
		for b.Loop() {
			sumRange(xs, 0, len(xs))
		}
	})
	b.Run("pool=Reduce", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zeropool.Reduce(p, len(xs), func(lo, hi int) uint64 { return sumRange(xs, lo, hi) },
				func(a, b uint64) uint64 { return a + b })
		}
	})
}

// heavySteps makes heavyIndex take ~1.2 µs on the machines of
// benchmarks/README.md (AMD EPYC, Intel Xeon).
const heavySteps = 1000

// heavyIndex is B16's work for one index: an LCG of heavySteps steps.
//
//go:noinline
func heavyIndex(i int) uint64 {
	x := uint64(i) | 1
	for range heavySteps {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// chanHelper is the parallel-loop helper the image library had: the
// indices in a buffered channel, a goroutine per core draining it.
func chanHelper(n int, fn func(<-chan int)) {
	procs := min(runtime.GOMAXPROCS(0), n)
	c := make(chan int, n)
	for i := range n {
		c <- i
	}
	close(c)
	var wg sync.WaitGroup
	wg.Add(procs)
	for range procs {
		go func() {
			defer wg.Done()
			fn(c)
		}()
	}
	wg.Wait()
}

// B16, every core soon: 100 indices of ~1.2 µs, For against serial and
// the channel helper.
func BenchmarkEveryCore(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	const n = 100
	out := make([]uint64, n)
	b.Run("pool=serial", func(b *testing.B) {
		for b.Loop() {
			for i := range n {
				out[i] = heavyIndex(i)
			}
		}
	})
	b.Run("pool=For", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zeropool.For(p, n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					out[i] = heavyIndex(i)
				}
			})
		}
	})
	b.Run("pool=SubmitRange", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zeropool.SubmitRange(p, n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					out[i] = heavyIndex(i)
				}
			}).Wait()
		}
	})
	b.Run("pool=chanhelper", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			chanHelper(n, func(c <-chan int) {
				for i := range c {
					out[i] = heavyIndex(i)
				}
			})
		}
	})
}

// BenchmarkSecondRunner measures, on B16's loop, the time from the call to
// the first chunk that starts on a goroutine other than the caller's: how
// soon a second core works. Its metric is that time's mean (us-to-2nd);
// ns/op includes the stamping (a goroutine id per chunk). Rows: today's
// SubmitRange(...).Wait(), the same with a yield between submit and Wait
// (what a yield in the shared wake path would do), and For with and
// without its hand-off's yield.
func BenchmarkSecondRunner(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	const n = 100
	out := make([]uint64, n)
	var start time.Time
	var caller int
	var second atomic.Int64 // ns from start to the first chunk off the caller; 0 if none yet
	body := func(lo, hi int) {
		t := time.Since(start)
		if goid() != caller {
			second.CompareAndSwap(0, int64(t))
		}
		for i := lo; i < hi; i++ {
			out[i] = heavyIndex(i)
		}
	}
	rows := []struct {
		name string
		run  func()
	}{
		{"SubmitRange", func() { zeropool.SubmitRange(p, n, body).Wait() }},
		{"SubmitRange-yield", func() { f := zeropool.SubmitRange(p, n, body); runtime.Gosched(); f.Wait() }},
		{"For-noyield", func() {
			old := zeropool.SetYieldOnHandOff(false)
			zeropool.For(p, n, body)
			zeropool.SetYieldOnHandOff(old)
		}},
		{"For", func() { zeropool.For(p, n, body) }},
	}
	for _, r := range rows {
		b.Run("op="+r.name, func(b *testing.B) {
			caller = goid()
			var total time.Duration
			var missed int
			for b.Loop() {
				second.Store(0)
				start = time.Now()
				r.run()
				if s := second.Load(); s > 0 {
					total += time.Duration(s)
				} else {
					missed++
				}
			}
			b.ReportMetric(total.Seconds()*1e6/float64(max(1, b.N-missed)), "us-to-2nd")
			b.ReportMetric(float64(missed)/float64(b.N), "callers-alone/op")
		})
	}
}

// scratchLen is the scratch row's length: a variable, so that the row is
// allocated on the heap as a real filter's (sized by the image) is.
var scratchLen = 256

// BenchmarkScratch is B16's loop with a body that allocates a scratch row
// per call, as the image library's filters do: its metric scratch/op is
// the calls of the body per loop, which is what such a body allocates
// (allocs/op counts them with the contender's own). The channel helper
// allocates once per goroutine.
func BenchmarkScratch(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	const n = 100
	out := make([]uint64, n)
	var calls atomic.Int64
	row := func(i int, scratch []uint64) {
		scratch[i%len(scratch)] = heavyIndex(i)
		out[i] = scratch[i%len(scratch)]
	}
	body := func(lo, hi int) {
		calls.Add(1)
		scratch := make([]uint64, scratchLen)
		for i := lo; i < hi; i++ {
			row(i, scratch)
		}
	}
	rows := []struct {
		name string
		run  func()
	}{
		{"For", func() { zeropool.For(p, n, body) }},
		{"SubmitRange", func() { zeropool.SubmitRange(p, n, body).Wait() }},
		{"chanhelper", func() {
			chanHelper(n, func(c <-chan int) {
				calls.Add(1)
				scratch := make([]uint64, scratchLen)
				for i := range c {
					row(i, scratch)
				}
			})
		}},
	}
	for _, r := range rows {
		b.Run("pool="+r.name, func(b *testing.B) {
			calls.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				r.run()
			}
			b.ReportMetric(float64(calls.Load())/float64(b.N), "scratch/op")
		})
	}
}
