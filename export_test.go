package zeropool

import (
	"fmt"
	"time"
	"unsafe"
)

// Queue is the pool's queue, for tests that drive it directly, with items
// standing in for params.
type Queue struct{ q queue }

// Item is what a test pushes: who pushed it, and in what order.
type Item struct{ Producer, Seq int }

// Block is one of the queue's blocks.
type Block struct{ b *block }

func NewQueue() *Queue {
	q := new(Queue)
	q.q.init(nil)
	return q
}

// BlockSlots is how many slots a block holds.
const BlockSlots = blockSlots

// Push publishes a single-task slot carrying it and returns the slot, which
// its waiter may claim with ClaimOwn.
func (q *Queue) Push(it *Item) *TaskFuture {
	s, i := q.q.reserve()
	s.base = unsafe.Pointer(it)
	publish(s, i, &s.task, 0)
	return s
}

// TakeRun does what a worker does with single tasks at the front: it
// takes a run of up to limit of them with one CompareAndSwap and claims
// each against its waiter. It returns the items whose claims it won, in
// queue order, and whether the queue had anything published at its front.
func (q *Queue) TakeRun(limit int64) (items []*Item, nonempty bool) {
	b, i, rec := q.q.front()
	if rec == nil {
		return nil, false
	}
	if rec != &b.slots[i].task {
		panic("TakeRun: a record other than a single task at the front")
	}
	k := b.runAt(i, limit)
	if !b.pop.CompareAndSwap(i, i+k) {
		return nil, true
	}
	for j := i; j < i+k; j++ {
		if s := &b.slots[j]; s.claimOne() {
			items = append(items, (*Item)(s.base))
			s.finish(1)
		}
	}
	return items, true
}

// ClaimOwn claims slot s as its waiter does and finishes it. It returns
// s's item if the claim won.
func (q *Queue) ClaimOwn(s *TaskFuture) *Item {
	if !s.claimOne() {
		return nil
	}
	it := (*Item)(s.base)
	s.finish(1)
	return it
}

// HeadBlock returns the block consumers take from.
func (q *Queue) HeadBlock() Block { return Block{q.q.head.Load()} }

// Retired reports whether b has been retired: its next points at itself
// rather than at the block after it.
func (b Block) Retired() bool { return b.b.next.Load() == b.b }

// DebugState describes the pool's scheduling state for a failing test.
func (p *Pool) DebugState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, i, rec := p.q.front()
	t := p.q.tail.Load()
	desc := "nil"
	switch {
	case rec == &stopRecord:
		desc = "stop"
	case rec != nil:
		if b := rec.batch(); b != nil {
			desc = fmt.Sprintf("%p{n=%d cursor=%d finished=%d}", rec, b.n, b.cursor.Load(), b.finished.Load())
		} else {
			desc = fmt.Sprintf("%p{state=%#x}", rec, rec.state.Load())
		}
	}
	return fmt.Sprintf("idle=%d searching=%d wakeups=%d closed=%v stopping=%v head=%p{pop=%d push=%d} front=%s tail=%p{push=%d}",
		p.idle.Load(), p.searching.Load(), p.wakeups, p.closed.Load(), p.stopping,
		b, i, b.push.Load(), desc, t, t.push.Load())
}

// QueueBlocks counts the blocks from head to tail. Only for a quiet queue.
func (p *Pool) QueueBlocks() int {
	n := 1
	for b := p.q.head.Load(); b != p.q.tail.Load(); b = b.next.Load() {
		n++
	}
	return n
}

// RecordSize is the size of a queue record.
const RecordSize = unsafe.Sizeof(TaskFuture{})

// BlockSize is the size of a queue block.
const BlockSize = unsafe.Sizeof(block{})

// TakeRecord hands out a slot as a submit would and publishes it spent, so
// that the pool's workers pass it by.
func (p *Pool) TakeRecord() unsafe.Pointer {
	s, i := p.q.reserve()
	// Published as spent, in one store.
	s.state.Store(uint64(i) | pubOne | stClaimed | stFinished)
	return unsafe.Pointer(s)
}

// ClaimedSlot publishes a single-task slot in q and claims it, as a worker
// about to run it would.
func (q *Queue) ClaimedSlot() *TaskFuture {
	s, i := q.q.reserve()
	publish(s, i, &s.task, 0)
	if !s.claimOne() {
		panic("ClaimedSlot: a fresh slot was claimed already")
	}
	return s
}

// NewBatchRecord returns the record of a batch of n tasks, all claimed.
func NewBatchRecord(n int) *TaskFuture {
	b := &batchTask{n: n}
	b.state.Store(batchHead)
	b.cursor.Store(int64(n))
	return &b.TaskFuture
}

// Finish accounts for k tasks of f that have run, as their claimant does.
func Finish(f *TaskFuture, k int) { f.finish(k) }

// SleepOn is what a blocking waiter does: it returns nil if f is
// complete, else a channel that is closed once it is.
func SleepOn(f *TaskFuture) <-chan struct{} { return f.sleepOn() }

// ChunkSizes claims every task of a fresh batch of n tasks in p, as
// workers do, after recording nsPerTask as the batch's measured task time
// (0: not yet measured), and returns the sizes of the chunks in order.
func (p *Pool) ChunkSizes(n int, nsPerTask int64) []int {
	b := &batchTask{n: n, pool: p}
	b.state.Store(batchHead)
	b.nsPerTask.Store(nsPerTask)
	var sizes []int
	for {
		lo, hi, ok := b.claim()
		if !ok {
			return sizes
		}
		sizes = append(sizes, hi-lo)
		if hi <= lo || len(sizes) > n {
			// A claim that takes no task would repeat for ever: return,
			// so that the test fails rather than hangs.
			return sizes
		}
	}
}

// TaskTime returns the task time measured for f's batch, 0 if none yet.
func TaskTime(f *TaskFuture) time.Duration {
	if b := f.batch(); b != nil {
		return time.Duration(b.nsPerTask.Load())
	}
	return 0
}

// ChunkBudget is how long a claimed chunk may take, once task times are known.
const ChunkBudget = time.Duration(chunkBudget)
