package zeropool_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

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
