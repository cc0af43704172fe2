package zeropool

import "sync/atomic"

// queue is the pool's single FIFO of task records: an intrusive
// Michael–Scott queue in which producers link records with one wait-free Swap
// on tail and consumers unlink them with a CompareAndSwap on head.
//
// head always points at a dummy record: the last one unlinked (or the stub
// made by init). The records still queued are head.next, head.next.next, ...
// A record stays queued while it has unclaimed tasks, so many consumers can
// claim chunks of one batch from it; whoever finds it exhausted unlinks it.
//
// Records are never reused, so the garbage collector rules out ABA on head
// and tail: a pointer a consumer loaded cannot come back as another record.
type queue struct {
	// head is written only by CompareAndSwap in advance, from the dummy to
	// its successor: it moves one way, along next, and never back.
	head atomic.Pointer[task]
	_    [cacheLine - 8]byte

	// tail is the last record pushed. Each Swap hands exactly one producer
	// the previous tail, and that producer alone then sets its next.
	tail atomic.Pointer[task]
	_    [cacheLine - 8]byte
}

// cacheLine keeps head, tail and the pool's counters on separate lines, so
// producers swapping tail do not slow consumers reading head.
const cacheLine = 64

func (q *queue) init() {
	stub := new(task)
	q.head.Store(stub)
	q.tail.Store(stub)
}

// push appends t. It is wait-free: one Swap and one Store.
//
// Between the two, the queue looks shorter than it is: consumers stop at
// prev, whose next is still nil, and may report the queue empty. That is
// why the pool checks for sleeping workers only after push returns: the
// Store below is the publish point, and a consumer that missed it must have
// announced itself idle before looking (see Pool.park).
func (q *queue) push(t *task) {
	prev := q.tail.Swap(t)
	// This Store hands t to consumers; t's fields, written before push,
	// are visible to any consumer that loads it.
	prev.next.Store(t)
}

// peek returns the dummy head and the first queued record, or a nil record
// if the queue is empty (or a push is between its Swap and Store).
func (q *queue) peek() (h, first *task) {
	for {
		h = q.head.Load()
		first = h.next.Load()
		// A self-linked dummy was unlinked after we loaded head (see
		// advance): reload rather than read the queue from a stale node.
		if first != h {
			return h, first
		}
	}
}

// advance unlinks first, which must have been h.next, if h is still the
// head, and reports whether it did. first becomes the new dummy.
func (q *queue) advance(h, first *task) bool {
	if q.head.CompareAndSwap(h, first) {
		// h is out of the queue. Pointing its next at itself, rather than
		// leaving it at first, keeps a retired record that a caller still
		// holds (through its TaskFuture) from pinning every record queued
		// after it; peek treats the self-link as "reload head".
		//
		// No producer can still write h.next: h.next was set, once, by the
		// producer that swapped h out of tail, before first was reachable.
		h.next.Store(h)
		return true
	}
	return false
}

// dropSpent unlinks t, if it is the first record and has no unclaimed
// tasks left, and then every such record after it; so that finished
// params are not kept reachable by the queue when no worker happens to
// pass by (as with GOMAXPROCS=1, where waiters run most tasks themselves).
//
// When t is not first, the record ahead of it is someone else's to unlink,
// and whoever does (a worker, or its own waiter calling dropSpent) goes on
// to t: t was spent before our look at the queue, so after it. Leaving it
// to them, rather than every waiter unlinking whatever it finds spent,
// keeps waiters from fighting over head and over records they never
// touched.
func (q *queue) dropSpent(t *task) {
	h, first := q.peek()
	if first != t {
		return
	}
	for first != nil && first.exhausted() {
		q.advance(h, first)
		h, first = q.peek()
	}
}

// empty reports whether no record is reachable from head.
func (q *queue) empty() bool {
	_, first := q.peek()
	return first == nil
}
