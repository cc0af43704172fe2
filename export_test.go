package zeropool

import (
	"fmt"
	"unsafe"
)

// Queue is the pool's record queue, for tests that drive it directly.
type Queue struct{ q queue }

// Record is a queue record carrying two numbers for the test to check.
type Record struct {
	t             task // first, so that Pop can convert back
	producer, seq int
}

func NewQueue() *Queue {
	q := new(Queue)
	q.q.init()
	return q
}

func NewRecord(producer, seq int) *Record {
	return &Record{producer: producer, seq: seq}
}

func (r *Record) Producer() int { return r.producer }
func (r *Record) Seq() int      { return r.seq }

func (q *Queue) Push(r *Record) { q.q.push(&r.t) }

// Pop unlinks and returns the first record, or nil if the queue looks empty.
func (q *Queue) Pop() *Record {
	for {
		h, first := q.q.peek()
		if first == nil {
			return nil
		}
		if q.q.advance(h, first) {
			// first is the t field, the only one, of a Record.
			return (*Record)(unsafe.Pointer(first))
		}
	}
}

// SelfLinked reports whether the retired record r points at itself (true) or
// still at the record queued after it.
func (r *Record) SelfLinked() bool { return r.t.next.Load() == &r.t }

// DebugState describes the pool's scheduling state for a failing test.
func (p *Pool) DebugState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.q.head.Load()
	s := p.sentinel
	desc := func(t *task) string {
		if t == nil {
			return "nil"
		}
		return fmt.Sprintf("%p{n=%d cursor=%d finished=%d next=%p sentinel=%v}", t, t.n, t.cursor.Load(), t.finished.Load(), t.next.Load(), t == s)
	}
	return fmt.Sprintf("idle=%d searching=%d wakeups=%d helpers=%d closed=%v head=%s first=%s tail=%s sentinel=%s",
		p.idle.Load(), p.searching.Load(), p.wakeups, p.helpers.Load(), p.closed.Load(),
		desc(h), desc(h.next.Load()), desc(p.q.tail.Load()), desc(s))
}

// QueueLen counts the records reachable from the queue's head. Only for
// a quiet queue: it does not follow concurrent unlinking.
func (p *Pool) QueueLen() int {
	n := 0
	for t := p.q.head.Load().next.Load(); t != nil; t = t.next.Load() {
		n++
	}
	return n
}

// RecordSize is the size of a queue record.
const RecordSize = unsafe.Sizeof(task{})

// TakeRecord hands out a record as a submit would, without queueing it.
func (p *Pool) TakeRecord() unsafe.Pointer { return unsafe.Pointer(p.newRecord()) }
