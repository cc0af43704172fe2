package zeropool_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
)

type bigParams struct {
	buf [1 << 16]byte
	out *int
}

func writeLen(b *bigParams) { *b.out = len(b.buf) }

// TestParamsLifetime checks that the pool alone keeps params alive until
// their task has run, then lets go of them while the caller still holds
// the future: whether a worker ran the task or the waiting goroutine did.
func TestParamsLifetime(t *testing.T) {
	for _, byWaiter := range []bool{false, true} {
		name := "worker"
		if byWaiter {
			name = "waiter"
		}
		t.Run(name, func(t *testing.T) {
			watchdog(t, 2*bound)
			p := newPool(t, zeropool.WithWorkers(1))
			release := blockWorkers(t, p)
			out := new(int)
			f, collected := submitTracked(out, func(b *bigParams) *zeropool.TaskFuture {
				return zeropool.Submit(p, writeLen, b)
			})
			mustNotBeCollected(t, collected, "params collected before their task ran")
			if byWaiter {
				f.Wait() // the only worker is blocked: this goroutine runs it
			} else {
				release()
				mustComplete(t, f)
			}
			if *out != 1<<16 {
				t.Fatalf("task wrote %d; want %d", *out, 1<<16)
			}
			mustBeCollected(t, collected, "params still reachable after their task ran")
			runtime.KeepAlive(f)
		})
	}
}

// submitTracked submits, through submit, params that nothing else
// references and whose finalizer closes the returned channel.
func submitTracked(out *int, submit func(*bigParams) *zeropool.TaskFuture) (*zeropool.TaskFuture, <-chan struct{}) {
	collected := make(chan struct{})
	b := &bigParams{out: out}
	runtime.SetFinalizer(b, func(*bigParams) { close(collected) })
	return submit(b), collected
}

// mustNotBeCollected runs the garbage collector and fails with msg if
// collected is closed.
func mustNotBeCollected(t testing.TB, collected <-chan struct{}, msg string) {
	t.Helper()
	for range 3 {
		runtime.GC()
	}
	select {
	case <-collected:
		t.Fatal(msg)
	default:
	}
}

// mustBeCollected runs the garbage collector until collected is closed (by
// a finalizer), failing with msg if that takes past bound.
func mustBeCollected(t testing.TB, collected <-chan struct{}, msg string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		runtime.GC()
		select {
		case <-collected:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWaitersRetireSpentRecords checks that when waiters run everything
// (here the only worker is blocked, as it may as well be descheduled under
// GOMAXPROCS=1), spent records still leave the queue, instead of piling up
// until a worker passes.
func TestWaitersRetireSpentRecords(t *testing.T) {
	watchdog(t, bound)
	p := newPool(t, zeropool.WithWorkers(1))
	release := blockWorkers(t, p)
	defer release()
	var x int
	for range 10000 {
		zeropool.Submit(p, func(v *int) { *v++ }, &x).Wait()
	}
	zeropool.SubmitBatchUniform(p, func(*int) {}, make([]int, 100)).Wait()
	// Spent records may wait in the block producers are filling; every
	// block before it must be gone.
	if n := p.QueueBlocks(); n > 1 {
		t.Fatalf("%d blocks still queued after waiters ran every record in them; want 1", n)
	}
	if x != 10000 {
		t.Fatalf("x = %d; want 10000", x)
	}
}

// TestHeldFutureDoesNotPinLaterRecords checks that a future the caller
// keeps does not keep alive, through the queue's links, the records
// submitted after it: only its own slab of records may stay.
func TestHeldFutureDoesNotPinLaterRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("submits 200000 tasks")
	}
	watchdog(t, 4*bound)
	p := newPool(t, zeropool.WithWorkers(2))
	var x atomic.Int64
	inc := func(*int) { x.Add(1) }
	held := zeropool.Submit(p, inc, new(int))
	held.Wait()
	before := liveHeap()
	const n = 200000 // 12.8 MB of records if they were all kept
	for range n / 100 {
		fs := make([]*zeropool.TaskFuture, 100)
		for j := range fs {
			fs[j] = zeropool.Submit(p, inc, new(int))
		}
		for _, f := range fs {
			f.Wait()
		}
	}
	after := liveHeap()
	runtime.KeepAlive(held)
	if x.Load() != n+1 {
		t.Fatalf("ran %d tasks; want %d", x.Load(), n+1)
	}
	if after > before+1<<20 {
		t.Fatalf("live heap grew from %d KiB to %d KiB while one early future was held", before>>10, after>>10)
	}
}
