package zeropool_test

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

// TestLockOSThreadPins checks that a pinned worker runs every task on one
// OS thread, however often the tasks yield.
func TestLockOSThreadPins(t *testing.T) {
	p := newPool(t, zeropool.WithWorkers(1), zeropool.WithLockOSThread(true))
	tids := make([]int, 200)
	var wg sync.WaitGroup
	for i := range tids {
		f := zeropool.Submit(p, func(tid *int) {
			time.Sleep(10 * time.Microsecond)
			*tid = syscall.Gettid()
		}, &tids[i])
		wg.Add(1)
		go func() { defer wg.Done(); mustComplete(t, f) }() // only the worker runs tasks
	}
	wg.Wait()
	for i, tid := range tids {
		if tid != tids[0] {
			t.Fatalf("task %d ran on thread %d, task 0 on %d: worker not pinned", i, tid, tids[0])
		}
	}
}

// TestIdlePoolBurnsNoCPU checks that parked workers use no CPU.
func TestIdlePoolBurnsNoCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps 300ms")
	}
	for _, m := range lockModes {
		t.Run(m.name, func(t *testing.T) {
			p := newPool(t, zeropool.WithWorkers(4), zeropool.WithLockOSThread(m.on))
			mustComplete(t, zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 10000)))
			time.Sleep(20 * time.Millisecond) // let workers park
			before := cpuTime(t)
			time.Sleep(300 * time.Millisecond)
			if used := cpuTime(t) - before; used > 30*time.Millisecond {
				t.Fatalf("idle pool used %v of CPU in 300ms", used)
			}
		})
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
