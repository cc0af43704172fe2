package zeropool_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/zeropool/zeropool"
)

func TestQueueFIFO(t *testing.T) {
	q := zeropool.NewQueue()
	if _, nonempty := q.TakeRun(1); nonempty {
		t.Fatal("new queue is not empty")
	}
	first := q.HeadBlock()
	n := 3*zeropool.BlockSlots + 5 // across block boundaries
	for i := range n {
		q.Push(&zeropool.Item{Seq: i})
	}
	for i := range n {
		items, _ := q.TakeRun(1)
		if len(items) != 1 || items[0].Seq != i {
			t.Fatalf("take %d = %v; want seq %d", i, items, i)
		}
	}
	if _, nonempty := q.TakeRun(1); nonempty {
		t.Fatal("queue not empty after taking everything")
	}
	// The blocks consumers have passed are retired, and a retired block
	// does not link on to the blocks after it.
	if !first.Retired() {
		t.Fatal("the first block is not retired after every slot in it was taken")
	}
}

// TestQueueConcurrentExactlyOnce is modelled on testPoolDequeue in
// sync/pool_test.go: producers and consumers hammer one queue, racing
// slot publication against consumers and block replacement among
// producers, while waiters claim their own slots out of order against the
// consumers' runs. Every item must be taken exactly once, and each
// consumer must see each producer's items in the order they were pushed.
func TestQueueConcurrentExactlyOnce(t *testing.T) {
	const producers, consumers = 4, 4
	perProducer := 200000
	if testing.Short() {
		perProducer = 20000
	}
	q := zeropool.NewQueue()
	seen := make([][]int32, producers) // seen[p][s]: times item s of producer p was taken
	for i := range seen {
		seen[i] = make([]int32, perProducer)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		byWaiter atomic.Int64
	)
	done := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A waiter claims its own slot some pushes after it, so that
			// the claim lands in consumers' runs as often as not.
			var pending []*zeropool.TaskFuture
			for i := range perProducer {
				pending = append(pending, q.Push(&zeropool.Item{Producer: p, Seq: i}))
				if i%3 == 0 && len(pending) > 4 {
					s := pending[len(pending)-4]
					if it := q.ClaimOwn(s); it != nil {
						atomic.AddInt32(&seen[it.Producer][it.Seq], 1)
						byWaiter.Add(1)
					}
				}
				if len(pending) > 64 {
					pending = pending[:0]
				}
			}
		}()
	}
	var cwg sync.WaitGroup
	for c := range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			limit := int64(1 + c*5) // runs of 1, 6, 11 and 16
			for {
				// Read done before looking: a consumer that then finds
				// the queue empty knows every push is in it.
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				items, nonempty := q.TakeRun(limit)
				if !nonempty && finished {
					return
				}
				for _, it := range items {
					if it.Seq <= last[it.Producer] {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("producer %d: item %d after %d", it.Producer, it.Seq, last[it.Producer]))
						mu.Unlock()
					}
					last[it.Producer] = it.Seq
					atomic.AddInt32(&seen[it.Producer][it.Seq], 1)
				}
			}
		}()
	}
	waitGroupBounded(t, &wg, "producers")
	close(done)
	waitGroupBounded(t, &cwg, "consumers")
	if len(failures) > 0 {
		t.Fatalf("%d items taken out of per-producer order, first: %s", len(failures), failures[0])
	}
	for p := range seen {
		for s, c := range seen[p] {
			if c != 1 {
				t.Fatalf("item %d/%d taken %d times", p, s, c)
			}
		}
	}
	if byWaiter.Load() == 0 {
		t.Error("no waiter ever won its own slot: the race was not exercised")
	}
	t.Logf("%d of %d items claimed by their waiters", byWaiter.Load(), producers*perProducer)
}

// TestQueueRunRacesOwnClaims: runs taken by consumers race waiters that
// claim their own slots, from the other end, in a queue filled up front.
func TestQueueRunRacesOwnClaims(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	for range rounds {
		q := zeropool.NewQueue()
		const n = 4 * zeropool.BlockSlots
		slots := make([]*zeropool.TaskFuture, n)
		items := make([]zeropool.Item, n)
		for i := range slots {
			items[i].Seq = i
			slots[i] = q.Push(&items[i])
		}
		taken := make([]int32, n)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			for i := n - 1; i >= 0; i-- {
				if it := q.ClaimOwn(slots[i]); it != nil {
					atomic.AddInt32(&taken[it.Seq], 1)
				}
			}
		}()
		for range 2 {
			go func() {
				defer wg.Done()
				for {
					its, nonempty := q.TakeRun(8)
					if !nonempty {
						return
					}
					for _, it := range its {
						atomic.AddInt32(&taken[it.Seq], 1)
					}
				}
			}()
		}
		waitGroupBounded(t, &wg, "consumers and waiter")
		for i, c := range taken {
			if c != 1 {
				t.Fatalf("slot %d taken %d times", i, c)
			}
		}
	}
}

// A single task's record is half a cache line, two slots to a line, and a
// block is exactly 4 KiB (its two header lines and its slots): a single
// task allocates 33 bytes of block.
func TestRecordIsHalfACacheLine(t *testing.T) {
	if zeropool.RecordSize != 32 {
		t.Fatalf("a record is %d bytes; want 32", zeropool.RecordSize)
	}
	if size := zeropool.BlockSize; size != 4096 {
		t.Fatalf("a block is %d bytes; want 4096", size)
	}
}

// TestRecordsAreNeverHandedOutTwice takes records from many goroutines at
// once, across many slab boundaries (where one taker replaces the slab
// while the others take records on their own), and checks that no record
// is handed out twice.
func TestRecordsAreNeverHandedOutTwice(t *testing.T) {
	p := newPool(t)
	const goroutines, each = 8, 20000
	taken := make([][]unsafe.Pointer, goroutines)
	var wg sync.WaitGroup
	for g := range taken {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				taken[g] = append(taken[g], p.TakeRecord())
			}
		}()
	}
	wg.Wait()
	seen := make(map[unsafe.Pointer]bool, goroutines*each)
	for _, rs := range taken {
		for _, r := range rs {
			if seen[r] {
				t.Fatalf("record %p handed out twice", r)
			}
			seen[r] = true
		}
	}
}

// TestSleepRacesCompletion races a waiter going to sleep on a record
// against the goroutine completing it, in the manner of sync's poolqueue
// tests: the waiter installs its channel and then looks once more at the
// record's progress, the completer records its progress and then looks
// for a channel to close, and one must see the other. Both goroutines
// spin to a common start each round, then for varying whiles, so that
// over the rounds they meet at every point of each other's way; a missed
// close is a sleep that runs into its bound.
func TestSleepRacesCompletion(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two goroutines running at once")
	}
	rounds := 200000
	if testing.Short() {
		rounds = 50000
	}
	for _, kind := range []string{"single", "batch"} {
		t.Run(kind, func(t *testing.T) {
			q := zeropool.NewQueue()
			recs := make([]*zeropool.TaskFuture, rounds)
			for r := range recs {
				if kind == "single" {
					recs[r] = q.ClaimedSlot()
				} else {
					recs[r] = zeropool.NewBatchRecord(2)
					zeropool.Finish(recs[r], 1) // the other task still runs
				}
			}
			var go1, go2 atomic.Int64 // rounds each side has begun
			done := make(chan struct{})
			go func() {
				defer close(done)
				for r, f := range recs {
					go1.Store(int64(r + 1))
					for go2.Load() < int64(r+1) {
					}
					spin(r % 37 * 4)
					zeropool.Finish(f, 1)
				}
			}()
			for r, f := range recs {
				go2.Store(int64(r + 1))
				for go1.Load() < int64(r+1) {
				}
				spin(r % 29 * 4)
				if ch := zeropool.SleepOn(f); ch != nil {
					select {
					case <-ch:
					case <-time.After(bound):
						lost(t, "round %d: a waiter slept through completion", r)
					}
				}
			}
			select {
			case <-done:
			case <-time.After(bound):
				lost(t, "the completing goroutine never finished")
			}
		})
	}
}
