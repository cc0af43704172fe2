package zeropool_test

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/zeropool/zeropool"
)

func TestQueueFIFO(t *testing.T) {
	q := zeropool.NewQueue()
	if q.Pop() != nil {
		t.Fatal("new queue is not empty")
	}
	var popped []*zeropool.Record
	for i := range 10 {
		q.Push(zeropool.NewRecord(0, i))
	}
	for i := range 10 {
		r := q.Pop()
		if r == nil || r.Seq() != i {
			t.Fatalf("pop %d = %v; want seq %d", i, r, i)
		}
		popped = append(popped, r)
	}
	if q.Pop() != nil {
		t.Fatal("queue not empty after popping everything")
	}
	// Every record but the last (the current dummy) has been retired and
	// must not link on to the records after it.
	for _, r := range popped[:len(popped)-1] {
		if !r.SelfLinked() {
			t.Fatalf("retired record %d still links into the queue", r.Seq())
		}
	}
}

// Modelled on testPoolDequeue in sync/pool_test.go: producers and consumers
// hammer one queue; every record must come out exactly once, and each
// consumer must see each producer's records in the order they were pushed.
func TestQueueConcurrentExactlyOnce(t *testing.T) {
	const producers, consumers = 4, 4
	perProducer := 200000
	if testing.Short() {
		perProducer = 20000
	}
	q := zeropool.NewQueue()
	seen := make([][]int32, producers)
	for i := range seen {
		seen[i] = make([]int32, perProducer)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    int
		failures []string
	)
	done := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				q.Push(zeropool.NewRecord(p, i))
			}
		}()
	}
	var cwg sync.WaitGroup
	for range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			n := 0
			for {
				r := q.Pop()
				if r == nil {
					select {
					case <-done:
						if r = q.Pop(); r == nil {
							mu.Lock()
							total += n
							mu.Unlock()
							return
						}
					default:
						continue
					}
				}
				p, s := r.Producer(), r.Seq()
				if s <= last[p] {
					mu.Lock()
					failures = append(failures, "out of order")
					mu.Unlock()
				}
				last[p] = s
				seen[p][s]++ // each slot is written by whoever popped it: once, if correct
				n++
			}
		}()
	}
	waitGroupBounded(t, &wg, "producers")
	close(done)
	waitGroupBounded(t, &cwg, "consumers")
	if len(failures) > 0 {
		t.Fatalf("%d records popped out of per-producer order", len(failures))
	}
	if total != producers*perProducer {
		t.Fatalf("popped %d records; want %d", total, producers*perProducer)
	}
	for p := range seen {
		for s, c := range seen[p] {
			if c != 1 {
				t.Fatalf("record %d/%d popped %d times", p, s, c)
			}
		}
	}
}

// A record is one cache line: records carved side by side from a slab must
// not share lines, or the worker running one slows the producer writing
// the next.
func TestRecordIsOneCacheLine(t *testing.T) {
	if zeropool.RecordSize != 64 {
		t.Fatalf("a record is %d bytes; want 64", zeropool.RecordSize)
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
