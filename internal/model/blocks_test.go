package model

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"
	"unsafe"
)

// The queue's blocks (queue.go: reserve, the link of a new block by
// CompareAndSwap and the tail's moves, publish, front, retire and the
// self-link, sweep), checked as a protocol of its own in the style of the
// Group's (group_test.go), with blocks of 2 slots instead of 124, so that
// three records already need two blocks and five need three. The pool's
// model keeps one block of slots: what it checks on top (wake-ups, Close,
// the claims of a batch) does not depend on where a slot's block is.
//
// Producers reserve a slot and publish a single task in it, one record
// after another; consumers (the workers' loop) find the front, retiring
// the blocks they find passed, take a run of the published slots with one
// CompareAndSwap of pop, then claim each against its waiter and finish it;
// waiters claim their own task (claimOwn) and finish it, out of order; a
// producer that links a block sweeps. One step per atomic operation of
// queue.go.
//
// In every state: no slot is handed out twice, the sweep never moves pop past a record that has not finished, and tail
// never points at a retired (self-linked) block, so no producer looks at
// a block after its self-link (queue.go's retire). In every end state:
// every producer and waiter returned, and every record was published,
// claimed once and finished.
//
// What it leaves out: batches and the stop record (a slot here is a
// single task: the pool's model has the rest, on one block), and the
// workers' sleep: a consumer that finds nothing takes no step until a
// record or a block to retire is there (the pool's model checks park and
// the wake-ups).

const (
	bkSlots     = 2 // slots a block holds (blockSlots)
	bkMaxBlocks = 3
	bkMaxRecs   = 5
	bkMaxProcs  = 4
)

type bkRole int8

const (
	bkProducer bkRole = iota
	bkConsumer
	bkWaiter
)

type bkProcCfg struct {
	role bkRole
	recs []int8 // a producer's records, in order; a waiter's record
}

type bkConfig struct {
	name  string
	recs  int8
	procs []bkProcCfg
	bugs  bkBug
}

type bkBug uint8

const (
	bkBugRetireNoTail bkBug = 1 << iota // retire does not move tail
	bkBugLinkPush0                      // a linked block's push starts at 0: its slot 0 is handed out twice
	bkBugSweepClaimed                   // the sweep passes a record claimed but not finished
	bkLastBug         = bkBugSweepClaimed
)

var bkBugNames = map[bkBug]string{
	bkBugRetireNoTail: "retire that does not move tail",
	bkBugLinkPush0:    "a slot handed out twice when a block is linked",
	bkBugSweepClaimed: "a sweep that passes a record claimed but not finished",
}

type bkBlock struct {
	push, pop int8 // push clamped at bkSlots: every value past it means full
	next      int8 // none, a block, or itself once retired
	rec       [bkSlots]int8
	pub       [bkSlots]bool
}

type bkRec struct {
	published bool
	claimed   bool
	finished  bool
}

type bkProc struct {
	pc   int8
	k    int8 // a producer's next record; a waiter's record
	b, i int8 // the block and index front or reserve found
	nb   int8 // the block a linker made
	j    int8 // a run's next slot, or the sweep's end
	end  int8 // a run's end
	ret  int8 // where front returns
	rb   int8 // the block and index of the slot reserve handed out
	ri   int8
}

type bkState struct {
	blocks     [bkMaxBlocks]bkBlock
	nblocks    int8
	head, tail int8
	recs       [bkMaxRecs]bkRec
	bad        int8 // a violation seen by a step: 1 slot twice, 3 sweep past unfinished
	badRec     int8
	procs      [bkMaxProcs]bkProc
}

const (
	bpDone int8 = iota
	// producer
	bpTail
	bpPush
	bpNext
	bpLink
	bpLinkTail
	bpHelpTail
	bpPublish
	bpSweep
	bpSweepLook
	bpSweepCAS
	// consumer
	bpFront
	bpTake
	bpClaim
	bpFinish
	// waiter
	bpOwn
	bpOwnFinish
	// front
	bpHead
	bpPop
	bpFrontNext
	bpRetireHead
	bpRetireTail
	bpSelfLink
)

type bkChecker struct {
	cfg     *bkConfig
	visited map[uint64]struct{}
	seed    maphash.Seed
	path    []pathStep
	fail    string
	ends    int
	limit   int
	limited bool
}

func (c *bkChecker) has(b bkBug) bool { return c.cfg.bugs&b != 0 }

func (c *bkChecker) initial() bkState {
	var s bkState
	s.nblocks = 1
	for b := range s.blocks {
		s.blocks[b].next = none
		s.blocks[b].rec = [bkSlots]int8{none, none}
	}
	for id, pc := range c.cfg.procs {
		p := &s.procs[id]
		p.b, p.nb = none, none
		switch pc.role {
		case bkProducer:
			p.pc = bpTail
		case bkConsumer:
			p.pc = bpFront
		case bkWaiter:
			p.pc, p.k = bpOwn, pc.recs[0]
		}
	}
	return s
}

// work reports whether a consumer has something to do at the front: a
// published slot at the head's pop, or a passed block with its successor
// linked (to retire). Otherwise it sleeps (see the doc above).
func (c *bkChecker) work(s *bkState) bool {
	h := &s.blocks[s.head]
	if h.pop < bkSlots {
		return h.pub[h.pop]
	}
	return h.next != none && h.next != s.head
}

// front starts queue.front, returning to ret with p.b, p.i set and
// p.j the record at the front (none if nothing is published there).
func front(p *bkProc, ret int8) { p.ret, p.pc = ret, bpHead }

func (c *bkChecker) steps(s0 *bkState, id int) []next4 {
	p0 := &s0.procs[id]
	var out []next4
	stepf := func(label string, a, b int8, f func(s *bkState, p *bkProc)) {
		s := *s0
		f(&s, &s.procs[id])
		out = append(out, next4{s, label, a, b})
	}
	step := func(label string, f func(s *bkState, p *bkProc)) { stepf(label, 0, 0, f) }
	recs := c.cfg.procs[id].recs
	switch p0.pc {
	case bpDone:
		return nil

	// ---- a producer: reserve, publish ----
	case bpTail:
		step("reserve: b := q.tail.Load()", func(s *bkState, p *bkProc) { p.b, p.pc = s.tail, bpPush })
	case bpPush:
		stepf("reserve: b%d.push.Add(1)", p0.b, 0, func(s *bkState, p *bkProc) {
			b := &s.blocks[p.b]
			if b.push >= bkSlots {
				p.pc = bpNext
				return
			}
			p.i = b.push
			b.push++
			c.reserved(s, p, recs[p.k])
		})
	case bpNext:
		stepf("reserve: b%d.next.Load()", p0.b, 0, func(s *bkState, p *bkProc) {
			switch nx := s.blocks[p.b].next; nx {
			case none:
				p.pc = bpLink
			case p.b:
				p.pc = bpTail // retired: tail moved already
			default:
				p.nb, p.pc = nx, bpHelpTail
			}
		})
	case bpLink:
		stepf("reserve: b%d.next.CompareAndSwap(nil, nb)", p0.b, 0, func(s *bkState, p *bkProc) {
			if s.blocks[p.b].next != none {
				p.pc = bpTail
				return
			}
			if s.nblocks == bkMaxBlocks {
				panic("blocks model: too many blocks")
			}
			nb := s.nblocks
			s.nblocks++
			s.blocks[nb].push = 1 // nb.push.Store(1): slot 0 is ours
			if c.has(bkBugLinkPush0) {
				s.blocks[nb].push = 0
			}
			s.blocks[p.b].next = nb
			p.nb, p.pc = nb, bpLinkTail
		})
	case bpLinkTail:
		stepf("reserve: q.tail.CompareAndSwap(b, nb%d)", p0.nb, 0, func(s *bkState, p *bkProc) {
			if s.tail == p.b {
				s.tail = p.nb
			}
			p.b, p.i = p.nb, 0
			c.reserved(s, p, recs[p.k])
			front(p, bpSweep) // once a block, sweep, then return the slot
		})
	case bpHelpTail:
		stepf("reserve: q.tail.CompareAndSwap(b, next%d)", p0.nb, 0, func(s *bkState, p *bkProc) {
			if s.tail == p.b {
				s.tail = p.nb
			}
			p.pc = bpTail
		})
	case bpPublish:
		stepf("publish(slot): state.Store (record %d)", recs[p0.k], 0, func(s *bkState, p *bkProc) {
			r := recs[p.k]
			s.recs[r].published = true
			s.blocks[p.rb].pub[p.ri] = true
			p.k++
			p.pc = bpTail
			if int(p.k) == len(recs) {
				*p = bkProc{b: none, nb: none}
			}
		})

	// ---- sweep (the linker's) ----
	case bpSweep:
		step("sweep: front returned", func(s *bkState, p *bkProc) {
			p.j, p.pc = p.i, bpSweepLook
			if p.i >= bkSlots {
				p.pc = bpPublish // front found nothing (the next block unlinked)
			}
		})
	case bpSweepLook:
		stepf("sweep: rec.done() at b%d slot %d", p0.b, p0.j, func(s *bkState, p *bkProc) {
			b := &s.blocks[p.b]
			if r := b.rec[p.j]; b.pub[p.j] {
				done := s.recs[r].finished
				if c.has(bkBugSweepClaimed) {
					done = s.recs[r].claimed
				}
				if done {
					if p.j++; p.j < bkSlots {
						return
					}
				}
			}
			p.pc = bpSweepCAS
			if p.j == p.i {
				p.pc = bpPublish
			}
		})
	case bpSweepCAS:
		stepf("sweep: b%d.pop.CompareAndSwap(i, %d)", p0.b, p0.j, func(s *bkState, p *bkProc) {
			b := &s.blocks[p.b]
			if b.pop != p.i {
				p.pc = bpPublish
				return
			}
			for i := p.i; i < p.j; i++ {
				if !s.recs[b.rec[i]].finished && s.bad == 0 {
					s.bad, s.badRec = 3, b.rec[i]
				}
			}
			b.pop = p.j
			p.pc = bpPublish
			if p.j == bkSlots {
				front(p, bpSweep) // on into the next block
			}
		})

	// ---- a consumer: the loop's front, a run's CAS, claimOne, finish ----
	case bpFront:
		if !c.work(s0) {
			break // asleep until there is work
		}
		step("loop: q.front()", func(s *bkState, p *bkProc) { front(p, bpTake) })
	case bpTake:
		if p0.i >= bkSlots || !s0.blocks[p0.b].pub[p0.i] {
			step("loop: nothing at the front", func(s *bkState, p *bkProc) { p.pc = bpFront })
			break
		}
		b := &s0.blocks[p0.b]
		run := int8(0)
		for i := p0.i; i < bkSlots && b.pub[i]; i++ {
			run++
		}
		for k := int8(1); k <= run; k++ {
			stepf("loop: b%d.pop.CompareAndSwap(i, i+%d)", p0.b, k, func(s *bkState, p *bkProc) {
				if s.blocks[p.b].pop != p.i {
					p.pc = bpFront
					return
				}
				s.blocks[p.b].pop = p.i + k
				p.j, p.end, p.pc = p.i, p.i+k, bpClaim
			})
		}
	case bpClaim:
		if p0.j == p0.end {
			step("runSlots: the run is done", func(s *bkState, p *bkProc) { p.pc = bpFront })
			break
		}
		r := s0.blocks[p0.b].rec[p0.j]
		stepf("runSlots: claimOne (record %d)", r, 0, func(s *bkState, p *bkProc) {
			if s.recs[r].claimed {
				p.j++
				return
			}
			s.recs[r].claimed = true
			p.pc = bpFinish
		})
	case bpFinish:
		r := s0.blocks[p0.b].rec[p0.j]
		stepf("finish: state.Or(stFinished) (record %d)", r, 0, func(s *bkState, p *bkProc) {
			s.recs[r].finished = true
			p.j++
			p.pc = bpClaim
		})

	// ---- a waiter: claimOwn ----
	case bpOwn:
		if !s0.recs[p0.k].published {
			break
		}
		stepf("Wait: t.claimOwn() (record %d)", p0.k, 0, func(s *bkState, p *bkProc) {
			if s.recs[p.k].claimed {
				*p = bkProc{b: none, nb: none} // the worker has it; Wait sleeps
				return
			}
			s.recs[p.k].claimed = true
			p.pc = bpOwnFinish
		})
	case bpOwnFinish:
		stepf("finish: state.Or(stFinished) (record %d)", p0.k, 0, func(s *bkState, p *bkProc) {
			s.recs[p.k].finished = true
			*p = bkProc{b: none, nb: none}
		})

	// ---- queue.front and retire ----
	case bpHead:
		step("front: b := q.head.Load()", func(s *bkState, p *bkProc) { p.b, p.pc = s.head, bpPop })
	case bpPop:
		stepf("front: i := b%d.pop.Load(); slots[i].record()", p0.b, 0, func(s *bkState, p *bkProc) {
			p.i = s.blocks[p.b].pop
			p.pc = p.ret
			if p.i >= bkSlots {
				p.pc = bpFrontNext
			}
		})
	case bpFrontNext:
		stepf("front: b%d.next.Load()", p0.b, 0, func(s *bkState, p *bkProc) {
			switch nx := s.blocks[p.b].next; nx {
			case none:
				p.pc = p.ret // the next block is still being linked
			case p.b:
				p.pc = bpHead // retired after we loaded head
			default:
				p.nb, p.pc = nx, bpRetireHead
			}
		})
	case bpRetireHead:
		stepf("retire: q.head.CompareAndSwap(b, b%d)", p0.nb, 0, func(s *bkState, p *bkProc) {
			if s.head != p.b {
				p.pc = bpHead
				return
			}
			s.head = p.nb
			p.pc = bpRetireTail
			if c.has(bkBugRetireNoTail) {
				p.pc = bpSelfLink
			}
		})
	case bpRetireTail:
		stepf("retire: q.tail.CompareAndSwap(b, b%d)", p0.nb, 0, func(s *bkState, p *bkProc) {
			if s.tail == p.b {
				s.tail = p.nb
			}
			p.pc = bpSelfLink
		})
	case bpSelfLink:
		stepf("retire: b%d.next.Store(b): the self-link", p0.b, 0, func(s *bkState, p *bkProc) {
			s.blocks[p.b].next = p.b
			p.pc = bpHead
		})
	default:
		panic(fmt.Sprintf("blocks model: pc %d has no step", p0.pc))
	}
	return out
}

// reserved: reserve handed p slot p.i of block p.b for record r.
func (c *bkChecker) reserved(s *bkState, p *bkProc, r int8) {
	b := &s.blocks[p.b]
	if b.rec[p.i] != none && s.bad == 0 {
		s.bad, s.badRec = 1, r
	}
	b.rec[p.i] = r
	p.rb, p.ri = p.b, p.i
	p.pc = bpPublish
}

type next4 struct {
	s     bkState
	label string
	a, b  int8
}

func (c *bkChecker) check(s *bkState) string {
	switch s.bad {
	case 1:
		return fmt.Sprintf("the slot of record %d was handed out twice", s.badRec)
	case 3:
		return fmt.Sprintf("the sweep moved pop past record %d, which has not finished", s.badRec)
	}
	if s.blocks[s.tail].next == s.tail {
		return fmt.Sprintf("tail points at b%d, retired (self-linked): a producer there finds only the self-link", s.tail)
	}
	return ""
}

func (c *bkChecker) checkEnd(s *bkState) string {
	for id, pc := range c.cfg.procs {
		p := &s.procs[id]
		if p.pc == bpDone || pc.role == bkConsumer && p.pc == bpFront {
			continue
		}
		return fmt.Sprintf("proc %d is blocked for good at pc %d", id, p.pc)
	}
	for r := int8(0); r < c.cfg.recs; r++ {
		rc := &s.recs[r]
		if !rc.published || !rc.claimed || !rc.finished {
			return fmt.Sprintf("record %d: published %v, claimed %v, finished %v", r, rc.published, rc.claimed, rc.finished)
		}
	}
	return ""
}

// canon clears what no later step reads.
func (c *bkChecker) canon(s *bkState) {
	for id := range c.cfg.procs {
		p := &s.procs[id]
		switch p.pc {
		case bpDone, bpFront, bpTail, bpOwn, bpOwnFinish:
			p.b, p.i, p.nb, p.j, p.end, p.ret = none, 0, none, 0, 0, 0
		}
	}
}

func (c *bkChecker) seen(s *bkState) bool {
	h := maphash.Bytes(c.seed, unsafe.Slice((*byte)(unsafe.Pointer(s)), unsafe.Sizeof(*s)))
	if _, ok := c.visited[h]; ok {
		return true
	}
	c.visited[h] = struct{}{}
	if len(c.visited) > c.limit && c.fail == "" {
		c.limited = true
		c.fail = fmt.Sprintf("%s: over %d states", c.cfg.name, c.limit)
	}
	return false
}

func (c *bkChecker) dfs(s *bkState) {
	any := false
	for id := range c.cfg.procs {
		for _, nx := range c.steps(s, id) {
			any = true
			c.path = append(c.path, pathStep{id, nx.label, nx.a, nx.b})
			if msg := c.check(&nx.s); msg != "" {
				c.report(msg)
			} else if c.canon(&nx.s); !c.seen(&nx.s) {
				c.dfs(&nx.s)
			}
			c.path = c.path[:len(c.path)-1]
			if c.fail != "" {
				return
			}
		}
	}
	if !any {
		c.ends++
		if msg := c.checkEnd(s); msg != "" {
			c.report(msg)
		}
	}
}

func (c *bkChecker) report(msg string) {
	c.fail = interleaving(c.cfg.name, msg, c.path, func(i int, st pathStep) (string, string) {
		return fmt.Sprintf("p%d", st.id), [...]string{"producer", "consumer", "waiter"}[c.cfg.procs[st.id].role]
	})
}

func (c *bkChecker) run() string {
	s := c.initial()
	c.seen(&s)
	c.dfs(&s)
	return c.fail
}

func newBkChecker(cfg *bkConfig) *bkChecker {
	return &bkChecker{cfg: cfg, visited: map[uint64]struct{}{}, seed: maphash.MakeSeed(), limit: stateLimit}
}

var bkConfigs = []bkConfig{
	{
		name:  "blocks: 2 blocks; a producer of 2 singles, another of 1 (whose waiter claims it), a consumer",
		recs:  3,
		procs: []bkProcCfg{{role: bkProducer, recs: []int8{0, 1}}, {role: bkProducer, recs: []int8{2}}, {role: bkConsumer}, {role: bkWaiter, recs: []int8{2}}},
	},
	{
		name:  "blocks: 3 blocks; producers of 3 and 2 singles (the first's waited on by a waiter), a consumer",
		recs:  5,
		procs: []bkProcCfg{{role: bkProducer, recs: []int8{0, 1, 2}}, {role: bkProducer, recs: []int8{3, 4}}, {role: bkConsumer}, {role: bkWaiter, recs: []int8{0}}},
	},
	{
		name:  "blocks: 3 blocks; producers of 3 and 2 singles, 2 consumers",
		recs:  5,
		procs: []bkProcCfg{{role: bkProducer, recs: []int8{0, 1, 2}}, {role: bkProducer, recs: []int8{3, 4}}, {role: bkConsumer}, {role: bkConsumer}},
	},
}

// TestBlocksModel checks every interleaving of each configuration.
func TestBlocksModel(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for _, cfg := range bkConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c := newBkChecker(&cfg)
			if msg := c.run(); msg != "" {
				t.Fatal(msg)
			}
			t.Logf("%d states, %d end states, in %v", len(c.visited), c.ends, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestBlocksModelCatchesPlantedBugs: each planted bug makes at least one
// configuration fail.
func TestBlocksModelCatchesPlantedBugs(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for b := bkBug(1); b <= bkLastBug; b <<= 1 {
		t.Run(bkBugNames[b], func(t *testing.T) {
			t.Parallel()
			for _, cfg := range bkConfigs {
				cfg.bugs = b
				c := newBkChecker(&cfg)
				c.limit = 2_000_000
				if msg := c.run(); msg != "" && !c.limited {
					t.Logf("caught after %d states:\n%s", len(c.visited), msg)
					return
				}
			}
			t.Fatalf("no configuration caught the planted bug %q", bkBugNames[b])
		})
	}
}
