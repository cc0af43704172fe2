package benchmarks

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/sourcegraph/conc/iter"
	"github.com/zeropool/zeropool"
)

// loopSizes are B13's loop lengths, as in the library's BenchmarkFor.
var loopSizes = []int{16, 256, 4096, 65536, 1 << 20}

// B13 beside conc: For over n indices of B8's light body against conc's
// iter.ForEachIdx (a call per element, its only way) and the serial loop,
// in one run, rows alternating within each n. The library's BenchmarkFor
// has For's other rivals; the chart reads both outputs.
func BenchmarkFor(b *testing.B) {
	out := make([]uint32, 1<<20)
	p := zeropool.New()
	defer p.Close()
	it := iter.Iterator[uint32]{MaxGoroutines: runtime.GOMAXPROCS(0)}
	for _, n := range loopSizes {
		b.Run(fmt.Sprintf("n=%d/pool=serial", n), func(b *testing.B) {
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
		b.Run(fmt.Sprintf("n=%d/pool=conc", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				it.ForEachIdx(out[:n], func(i int, _ *uint32) { hashRange(out, i, i+1) })
			}
		})
	}
}

// lightFn is B14's fn, the library's again: one compiled copy here.
//
//go:noinline
func lightFn(x *int) uint32 {
	v := uint32(*x) * 2654435761
	return v ^ v>>15
}

// B14 beside conc: Map of 2^20 ints (and of 16) against conc's iter.Map
// and a serial loop into a new slice.
func BenchmarkMap(b *testing.B) {
	p := zeropool.New()
	defer p.Close()
	it := iter.Mapper[int, uint32]{MaxGoroutines: runtime.GOMAXPROCS(0)}
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
		b.Run(fmt.Sprintf("n=%d/pool=conc", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				it.Map(in, lightFn)
			}
		})
	}
}
