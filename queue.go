package zeropool

import (
	"sync/atomic"
	"unsafe"
)

// queue is the pool's single FIFO: a linked list of blocks of slots, in
// the manner of crossbeam's SegQueue. A producer takes a slot with one
// atomic add on the tail block and publishes a record in it with one
// store; consumers take runs of published slots from the head block with
// one CompareAndSwap of its pop index.
//
// A slot of a single task is the task's record (and its TaskFuture): the
// slot publishes itself. A slot may instead publish a batch record, which
// stays at the front of the queue until all its tasks are claimed, or the
// pool's stop record, which never leaves it.
//
// Blocks are never reused, so the garbage collector rules out ABA on head,
// tail and the indices: a block a goroutine loaded cannot come back as
// another, and its indices only grow.
type queue struct {
	// head is the block consumers take from. It moves one way, along
	// next, by CompareAndSwap in retire, once its block's pop index has
	// passed every slot and the next block is linked.
	head atomic.Pointer[block]
	_    [cacheLine - 8]byte

	// tail is the block producers take slots from. It moves one way, by
	// CompareAndSwap, to the block linked after it; it is never behind
	// head for long (retire moves it too) and never ahead of the last
	// linked block.
	tail atomic.Pointer[block]
	_    [cacheLine - 8]byte

	pool *Pool // the pool whose queue this is; in each block too
}

// cacheLine keeps the indices and the pool's counters on lines of their
// own, so that producers and consumers do not slow each other.
const cacheLine = 64

// blockSlots is how many slots a block holds: with its two header lines,
// a block is 4 KiB. Slot indices fit in task.state's slotIndex bits.
const blockSlots = 124

// A block is a run of slots, taken by producers in index order and
// consumed in the same order.
type block struct {
	// push counts slots handed out, and keeps counting past blockSlots
	// once the block is full. Each Add hands its caller a distinct index:
	// a slot below blockSlots has exactly one producer.
	push atomic.Int64
	_    [cacheLine - 8]byte

	// pop is the index of the first slot no consumer has taken. It moves
	// forward only, by CompareAndSwap, and only over published slots
	// whose records are claimed or about to be claimed by the mover (see
	// Pool.loop and queue.sweep); it stops at the stop record. pop ==
	// blockSlots means every slot is taken.
	pop atomic.Int64
	// next is nil until the block after this one is linked, by the
	// CompareAndSwap of the producer that made it; it is set once more,
	// to the block itself, when the block is retired (see retire).
	next atomic.Pointer[block]
	pool *Pool // read-only: see task.pool
	_    [cacheLine - 24]byte

	// Two slots share a cache line. Keeping each on a line of its own
	// (the first version) spared the goroutine running a slot the
	// producer's writes to the next one, but doubled the memory a single
	// task allocates, and the garbage collection that memory brought on
	// cost more than the sharing does. Placing consecutive indices on
	// different lines measured slower still: a worker taking a run, and
	// a waiter checking its futures in order, read one line per two
	// slots. Figures: benchmarks/README.md.
	slots [blockSlots]TaskFuture
}

func (q *queue) init(p *Pool) {
	q.pool = p
	b := &block{pool: p}
	q.head.Store(b)
	q.tail.Store(b)
}

// reserve hands out an unpublished slot that no other producer will get,
// and its index. The caller must publish it (see publish), whatever
// happens: consumers stop at an unpublished slot.
func (q *queue) reserve() (*TaskFuture, int64) {
	for {
		b := q.tail.Load()
		i := b.push.Add(1) - 1
		if i < blockSlots {
			return &b.slots[i], i
		}
		// b is full: link a new block, or help move tail to the one
		// linked already.
		next := b.next.Load()
		if next == nil {
			nb := &block{pool: q.pool}
			nb.push.Store(1) // slot 0 is ours if nb is linked
			// This CAS publishes nb to producers and consumers. If it
			// fails, another producer's block is linked: nb is dropped
			// and we go round again.
			if b.next.CompareAndSwap(nil, nb) {
				q.tail.CompareAndSwap(b, nb)
				// Once a block, retire what waiters have finished.
				q.sweep()
				return &nb.slots[0], 0
			}
			continue
		}
		if next != b { // b self-linked means b is retired: tail moved already
			q.tail.CompareAndSwap(b, next)
		}
	}
}

// publish hands rec to consumers through slot s, of index i in its block:
// s itself for a single task (of kind 0 or errTask), a batch record, or
// stopRecord. Every field of rec and of s written before it is visible to
// a consumer that loads s.state. A plain store of a word, not of a
// pointer: the garbage collector's write barrier has nothing to do here.
func publish(s *TaskFuture, i int64, rec *task, kind uint64) {
	switch rec {
	case &s.task:
		s.state.Store(uint64(i) | pubOne | kind)
	case &stopRecord:
		s.state.Store(uint64(i) | pubStop)
	default:
		s.base = unsafe.Pointer(rec)
		s.state.Store(uint64(i) | pubBatch)
	}
}

// record returns the record published in slot s, or nil.
func (s *TaskFuture) record() *task {
	switch v := s.state.Load(); {
	case v&pubOne != 0:
		return &s.task
	case v&pubBatch != 0:
		return (*task)(s.base)
	case v&pubStop != 0:
		return &stopRecord
	}
	return nil
}

// front returns the head block, its pop index i and the record published
// in slot i: nil if the slot is not yet published, which is to say the
// queue is empty (or a producer is between reserve and publish). It
// retires blocks that consumers have passed.
func (q *queue) front() (b *block, i int64, rec *task) {
	for {
		b = q.head.Load()
		i = b.pop.Load()
		if i < blockSlots {
			return b, i, b.slots[i].record()
		}
		next := b.next.Load()
		switch next {
		case nil:
			return b, i, nil // the next block is still being linked
		case b:
			continue // retired after we loaded head
		}
		q.retire(b, next)
	}
}

// retire moves head past b, whose slots are all taken, to next.
func (q *queue) retire(b, next *block) {
	if !q.head.CompareAndSwap(b, next) {
		return
	}
	// Tail may still be b if its linker has not moved it yet; move it
	// now, so that no producer looks at b after the self-link below
	// (one that loaded b earlier reads the self-link and reloads tail).
	q.tail.CompareAndSwap(b, next)
	// Pointing b's next at itself, rather than leaving it at next, keeps
	// a retired block that a caller still holds (through the future of
	// one of its slots) from pinning every block after it.
	b.next.Store(b)
}

// runAt returns how many slots from index i of b, up to max, publish
// single tasks: the run a worker may take with one CompareAndSwap. A
// group's task ends a run: a slot in a worker's run but not yet claimed
// is out of reach of the group's Wait, which looks for its tasks from the
// queue's front (see runGroup), and the worker may be the one waiting.
func (b *block) runAt(i int64, max int64) int64 {
	end := min(i+max, blockSlots)
	j := i
	for j < end && b.slots[j].state.Load()&(pubOne|groupTask) == pubOne {
		j++
	}
	return j - i
}

// sweep moves the pop index over the finished records at the front,
// retiring every block it empties. It is how spent records leave the
// queue when no worker passes by (as with GOMAXPROCS=1, where waiters run
// most tasks themselves); producers call it as they link a new block, and
// waiters after running a batch.
//
// It stops at the first record not yet finished, even one that a waiter
// has claimed in full: a worker passing it notes it for Close to wait on
// (see worker.pass), and a sweep that moved past it would not.
func (q *queue) sweep() {
	for {
		b, i, rec := q.front()
		j := i
		for ; rec != nil && rec != &stopRecord && rec.done(); rec = b.slots[j].record() {
			if j++; j == blockSlots {
				break
			}
		}
		if j == i || !b.pop.CompareAndSwap(i, j) {
			return
		}
		q.countSwept(b, i, j)
		if j < blockSlots {
			return
		}
	}
}

// countSwept counts, for Stats, the singles among slots i..j-1 of b,
// which sweep has just moved pop past, that their waiters ran: no worker
// passed them, so no worker counted them.
func (q *queue) countSwept(b *block, i, j int64) {
	k := uint64(0)
	for ; i < j; i++ {
		if b.slots[i].state.Load()&stByWaiter != 0 {
			k++
		}
	}
	if k > 0 {
		q.pool.stats.swept.Add(k)
	}
}

// dropSpent sweeps the queue after a waiter has run the batch t, if t is
// at its front. When t is elsewhere, the records ahead of it are someone
// else's to sweep, and whoever does goes on to t.
func (q *queue) dropSpent(t *task) {
	if _, _, rec := q.front(); rec == t {
		q.sweep()
	}
}

// empty reports whether the queue has no record for a worker: nothing
// published at the front, or only the stop record.
func (q *queue) empty() bool {
	_, _, rec := q.front()
	return rec == nil || rec == &stopRecord
}
