package zeropool_test

import (
	"fmt"
	"testing"

	"github.com/zeropool/zeropool"
)

func BenchmarkScratchB2(b *testing.B) {
	for _, w := range []int{1, 2} {
		for _, blocked := range []bool{false, true} {
			b.Run(fmt.Sprintf("w=%d/blocked=%v", w, blocked), func(b *testing.B) {
				p := zeropool.New(zeropool.WithWorkers(w))
				defer p.Close()
				if blocked {
					defer blockWorkers(b, p)()
				}
				futures := make([]*zeropool.TaskFuture, taskCount)
				for b.Loop() {
					results := make([]uint64, taskCount)
					for i := range results {
						futures[i] = zeropool.Submit(p, individualFn, &results[i])
					}
					for _, f := range futures {
						f.Wait()
					}
				}
			})
		}
	}
}
