package model

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"strings"
	"unsafe"
)

// The model: the pool's shared state as small integers, and each goroutine
// as a program counter and a few locals. One step is one atomic operation
// of the library, or one locked section (the lock-free reads inside a
// locked section are steps of their own; the lock-free writes that follow
// a decision inside one are merged into it). Every step is labelled with
// the function and the statement of the library it stands for.
//
// It has the sweep as a waiter runs it after its batch (dropSpent), extras
// as the get-or-install it is (split into its Load and a Store under the
// planted bug that makes it one), and goroutines that wait on a future
// they did not submit (the waiter role).
//
// What it leaves out, and where that is checked instead: the queue's
// blocks (one block here; blocks_test.go checks reserve, the link, the
// tail's moves, retire, the self-link and the linker's sweep on blocks of
// 2 slots), panics and Goexit (goexit_test.go checks the hand-off to the
// replacement goroutine), and the chunk sizes: a claim takes any k of the
// tasks left (and a worker any run of the published singles), a superset
// of what claim and runAt choose.

const (
	maxRecs  = 4 // records, the stop record included
	maxTasks = 3 // tasks of one record
	maxProcs = 6
	none     = -1
)

type recKind int8

const (
	kSingle recKind = iota + 1
	kBatch
	kStop
)

// A record's first failure, as extra.err holds it.
const (
	failNone int8 = iota
	failCanceled
	failError
)

type rec struct {
	published bool // publish has stored the slot's state word
	accepted  bool // its submit returned a future
	refused   bool // its submit panicked with ErrClosed
	ext       int8 // extras' channel: 0 until installed, then 1 + the id of the goroutine that made it
	closed    int8 // the channel the completer closed (ext as it loaded it), or 0
	cursor    int8 // batchTask.cursor; for a single, 1 once claimed (stClaimed)
	finished  int8 // batchTask.finished; for a single, 1 once stFinished
	fail      int8 // extra.err
	seen      int8 // 1 + the failure a returned Wait saw; 0 if none returned
	ran       [maxTasks]int8
}

type proc struct {
	pc        int8
	searching bool // the worker's searching flag (loop's local)
	ok        bool // the last claim succeeded
	sawExt    int8 // for the planted bug that loads ext before the add
	ch        int8 // the channel sleepOn returned: what <-x.done waits on
	rec       int8 // the record being claimed or run
	slot, end int8 // a run of single slots, or the slot of a batch
	lo, hi, j int8 // the chunk being run, and its next task
	k         int8 // tasks a stop or Cancel claimed
	saw       int8 // a value loaded by the step before (split-CAS bugs)
	finAmt    int8 // what finish adds
	finRet    int8 // where finish returns
	runRet    int8 // where runChunk returns
	sleepRet  int8 // where sleepOn's wait returns
	wakeRet   int8 // where wake returns
	foundRet  int8 // where foundWork returns
	sleepRec  int8 // the record slept on
	afterStop int8 // tasks of this chunk started once its batch was stopped
	passed    uint8
}

type state struct {
	recs             [maxRecs]rec
	slotRec          [maxRecs]int8 // the record published in each slot
	push, pop        int8
	closed, stopping bool
	sleepers
	mu    int8 // none, or the proc holding Pool.mu
	wg    int8
	procs [maxProcs]proc
}

type role int8

const (
	worker role = iota
	submitter
	canceler
	closer
	waiter // waits on rec, as wait says, once its submit has returned it
)

type waitMode int8

const (
	noWait   waitMode = iota
	waitHelp          // Wait: help, then sleepOn
	waitCtx           // WaitContext: sleepOn only
)

type procCfg struct {
	role role
	rec  int8
	wait waitMode
}

type recCfg struct {
	kind    recKind
	n       int8
	errTask bool
	failAt  int8 // the task that returns an error; none for none
}

// A bug is a planted mistake, switched on in the model only.
type bug uint32

const (
	bugWakeBeforePublish bug = 1 << iota // submit decides on the wake-up before publish
	bugNoSecondLook                      // sleepOn sleeps without its second look at done
	bugExtBeforeProgress                 // finish loads ext before it records its progress
	bugClaimLoadStore                    // claims load, then store, instead of a CAS
	bugNoPass                            // a worker moves pop past a running record without noting it for Close
	bugChunkStop                         // the error stop is looked at only between chunks
	bugRefuseClaimed                     // refuse takes back a submit whose tasks have begun
	bugCancelLateRecord                  // Cancel records ErrCanceled after its finish
	bugNoClosedCheck                     // submit skips its look at closed after publish
	bugRefuseNoWake                      // a refused submit skips the wake-up (it looks at closed first)
	bugParkLooksFirst                    // park looks at the queue before it counts itself idle
	bugExtStore                          // extras stores its channel instead of a CompareAndSwap
	bugSweepUnfinished                   // sweep passes a record claimed in full but not finished
	bugStopAtAnyRecord                   // a closing worker exits at any record at the front, not only the stop record
)

// lastBug is the last planted bug of the pool's model.
const lastBug = bugStopAtAnyRecord

var bugNames = map[bug]string{
	bugWakeBeforePublish: "wake-up decided before publish",
	bugNoSecondLook:      "waiter's second look skipped",
	bugExtBeforeProgress: "completer looks for the channel before recording progress",
	bugClaimLoadStore:    "claim by load-then-store",
	bugNoPass:            "Close not waiting for records passed while a waiter ran them",
	bugChunkStop:         "error stop checked only at chunk boundaries",
	bugRefuseClaimed:     "refuse after a worker began the batch",
	bugCancelLateRecord:  "Cancel records ErrCanceled after the completion",
	bugNoClosedCheck:     "submit accepted behind the stop record",
	bugRefuseNoWake:      "a refused submit skips the wake-up",
	bugParkLooksFirst:    "park looks at the queue before it counts itself idle",
	bugExtStore:          "a second waiter's store overwrites the first's channel",
	bugSweepUnfinished:   "a sweep that passes an unfinished record",
	bugStopAtAnyRecord:   "a closing worker exits at any record at the front",
}

type config struct {
	name string
	big  bool // over two million states: skipped under -short
	// noSweep: Wait's help ends without dropSpent's sweep, as the model
	// had it before the sweep was in it. Set on the two largest
	// configurations, where the sweep's steps cost a third more states
	// and the time budget; the others, and the sweep configuration, keep it.
	noSweep bool
	recs    []recCfg
	procs   []procCfg
	bugs    bug
}

// Program counters. Each role's steps, then the shared subroutines.
const (
	pcDone int8 = iota
	// worker
	wFront
	wPopRun
	wSlot
	wSlot2
	wSlotPass
	wClaim
	wClaim2
	wPassPop
	wPass
	wFound
	wFound2
	wFound3
	wPark
	wPark2
	wParkLoop
	wParkGo
	wParkStop
	wParkWoken
	wParkLook
	wExit
	// submitter
	sEarly
	sReserve
	sPublish
	sSearch
	sIdle
	sClosed
	sClosedFirst
	sRefuse
	sHelp
	sDrop
	swFront
	swLook
	swCAS
	sWaited
	// waiter
	wtStart
	// canceler
	cCancel
	cRecord
	cRecordLate
	// closer
	clClosed
	clReserve
	clPublish
	clStopping
	clWait
	// subroutines
	pcWake
	pcRunCheck
	pcRunTask
	pcStop
	pcRecErr
	pcFinAdd
	pcFinExt
	pcFinExtFirst
	pcFinAdd2
	pcSleep1
	pcSleep2
	pcSleepStore
	pcSleep3
	pcSleep4
	// returns that only move locals, folded into the step before
	rSlotNext
	rRunFinish
	rRefused
	rRunStart
	rAccepted
)

// checker explores every interleaving of cfg.
type checker struct {
	cfg        *config
	stop       int8                // the stop record, none without a closer
	visited    map[uint64]struct{} // hashes of the states seen (see seen)
	twoWorkers bool                // procs 0 and 1 are the only workers
	seed       maphash.Seed
	path       []pathStep
	fail       string // the first violation, with its interleaving
	ends       int    // end states reached
	limit      int    // states to explore at most (stateLimit unless set)
	limited    bool   // fail is the limit, not a violation
}

func (c *checker) n(r int8) int8 {
	if r == c.stop {
		return 0
	}
	return c.cfg.recs[r].n
}

func (c *checker) kind(r int8) recKind {
	if r == c.stop {
		return kStop
	}
	return c.cfg.recs[r].kind
}

func (c *checker) has(b bug) bool { return c.cfg.bugs&b != 0 }

func (c *checker) done(s *state, r int8) bool { return s.recs[r].finished == c.n(r) }

// front is queue.front: the record published at the pop index, or none.
func (c *checker) front(s *state) int8 {
	i := s.pop
	if i >= s.push {
		return none
	}
	r := s.slotRec[i]
	if !s.recs[r].published {
		return none
	}
	return r
}

func (c *checker) empty(s *state) bool {
	r := c.front(s)
	return r == none || r == c.stop
}

// stopped reports whether the batch r is stopped (cursor > n).
func (c *checker) stopped(s *state, r int8) bool {
	return c.kind(r) == kBatch && s.recs[r].cursor > c.n(r)
}

// errBatch: the runner looks at the stop before each task.
func (c *checker) errBatch(r int8) bool {
	return c.kind(r) == kBatch && c.cfg.recs[r].errTask
}

func newChecker(cfg *config) *checker {
	c := &checker{cfg: cfg, stop: none, visited: map[uint64]struct{}{}, seed: maphash.MakeSeed(), limit: stateLimit}
	workers := 0
	for _, p := range cfg.procs {
		if p.role == closer {
			c.stop = int8(len(cfg.recs))
		}
		if p.role == worker {
			workers++
		}
	}
	c.twoWorkers = workers == 2 && cfg.procs[0].role == worker && cfg.procs[1].role == worker
	return c
}

func (c *checker) initial() state {
	var s state
	s.mu = none
	for i := range s.slotRec {
		s.slotRec[i] = none
	}
	for i, pc := range c.cfg.procs {
		p := &s.procs[i]
		p.rec, p.sleepRec = none, none
		switch pc.role {
		case worker:
			p.pc = wFront
			s.wg++
		case submitter:
			p.pc = sEarly
			p.rec = pc.rec
		case canceler:
			p.pc = cCancel
			p.rec = pc.rec
		case closer:
			p.pc = clClosed
		case waiter:
			p.pc = wtStart
			p.rec = pc.rec
		}
	}
	return s
}

// next is a successor state and the step that led to it. The label is a
// format with up to two %d verbs filled from a and b, rendered only when a
// violation prints the interleaving.
type next struct {
	s     state
	label string
	a, b  int8
}

// step is an entry of the interleaving being explored.
type pathStep struct {
	id    int
	label string
	a, b  int8
}

// ret moves p to pc, doing at once the returns that only move locals.
func (c *checker) ret(s *state, id int, pc int8) {
	p := &s.procs[id]
	for {
		switch pc {
		case rSlotNext:
			p.slot++
			pc = wSlot
			continue
		case rRunFinish:
			p.finAmt, p.finRet = p.hi-p.lo, p.runRet
			pc = pcFinAdd
			if c.has(bugExtBeforeProgress) {
				pc = pcFinExtFirst
			}
		case rRefused:
			s.recs[p.rec].refused = true
			pc = pcDone
		case rRunStart:
			p.j, p.afterStop = p.lo, 0
			pc = pcRunTask
			if c.errBatch(p.rec) && !c.has(bugChunkStop) {
				pc = pcRunCheck
			}
		case rAccepted:
			c.afterSubmit(s, id)
			return
		}
		p.pc = pc
		return
	}
}

// finishThen starts finish(k) of p.rec, returning to ret.
func (c *checker) finishThen(s *state, id int, k int8, ret int8) {
	p := &s.procs[id]
	p.finAmt, p.finRet = k, ret
	if c.has(bugExtBeforeProgress) {
		p.pc = pcFinExtFirst
	} else {
		p.pc = pcFinAdd
	}
}

// afterSubmit is where a submit that returned a future goes.
func (c *checker) afterSubmit(s *state, id int) {
	p := &s.procs[id]
	s.recs[p.rec].accepted = true
	switch c.cfg.procs[id].wait {
	case noWait:
		p.pc = pcDone
	case waitHelp:
		p.pc = sHelp
	case waitCtx:
		p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
	}
}

// sleepers is the pool's sleep state, shared by the pool's and the
// hand-off's models: Pool.idle, Pool.searching and Pool.wakeups, and
// work's waiters.
type sleepers struct {
	idle, searching int8
	wakeups         int8
	condWait, woken uint8 // procs in work.Wait; procs signalled, to relock
}

// wake is Pool.wake's locked section, its Signal waking w (see
// signalChoices): one idle worker becomes searching, unless one is already.
func (s *sleepers) wake(w uint8) {
	if s.idle > 0 && s.searching == 0 {
		s.idle--
		s.searching++
		s.wakeups++
		s.condWait &^= w
		s.woken |= w
	}
}

// signalChoices lists whom a Signal may wake among the sleepers in
// condWait (any one: a superset of Go's FIFO); 0 if none sleeps.
func signalChoices(condWait uint8) []uint8 {
	if condWait == 0 {
		return []uint8{0}
	}
	var out []uint8
	for w := condWait; w != 0; w &= w - 1 {
		out = append(out, w&-w)
	}
	return out
}

// steps returns p's successors from s: none if p is done or blocked.
func (c *checker) steps(s0 *state, id int) []next {
	p0 := &s0.procs[id]
	var out []next
	// step copies s0, applies f, and records the successor.
	stepf := func(label string, a, b int8, f func(s *state, p *proc)) {
		s := *s0
		f(&s, &s.procs[id])
		out = append(out, next{s, label, a, b})
	}
	step := func(label string, f func(s *state, p *proc)) { stepf(label, 0, 0, f) }
	me := uint8(1) << id
	free := s0.mu == none
	switch p0.pc {
	case pcDone:
		return nil

	// ---- worker: Pool.loop, runSlots, park, foundWork, runWorker ----
	case wFront:
		r := c.front(s0)
		switch {
		case r == none || r == c.stop:
			step("loop: q.front() finds nothing: park", func(s *state, p *proc) { p.pc = wPark })
		case c.kind(r) == kSingle:
			run := int8(0)
			for i := s0.pop; i < s0.push; i++ {
				q := s0.slotRec[i]
				if !s0.recs[q].published || c.kind(q) != kSingle {
					break
				}
				run++
			}
			for k := int8(1); k <= run; k++ {
				stepf("loop: runAt: a run of %d single(s)", k, 0, func(s *state, p *proc) {
					p.slot, p.end, p.pc = s.pop, s.pop+k, wPopRun
				})
			}
		default:
			step("loop: q.front() finds a batch", func(s *state, p *proc) {
				p.rec, p.slot, p.pc = r, s.pop, wClaim
			})
		}
	case wPopRun:
		step("loop: b.pop.CompareAndSwap(i, i+k)", func(s *state, p *proc) {
			if s.pop != p.slot {
				p.pc = wFront
				return
			}
			s.pop = p.end
			p.pc = wSlot
			if p.searching {
				p.foundRet, p.pc = wSlot, wFound
			}
		})
	case wSlot:
		if p0.slot == p0.end {
			step("runSlots: the run is done", func(s *state, p *proc) { p.pc = wFront })
			break
		}
		if c.has(bugClaimLoadStore) {
			step("runSlots: claimOne (bug): load state", func(s *state, p *proc) {
				p.rec = s.slotRec[p.slot]
				p.saw, p.pc = s.recs[p.rec].cursor, wSlot2
			})
			break
		}
		step("runSlots: t.claimOne()", func(s *state, p *proc) {
			p.rec = s.slotRec[p.slot]
			if s.recs[p.rec].cursor != 0 {
				p.pc = wSlotPass
				return
			}
			s.recs[p.rec].cursor = 1
			p.lo, p.hi, p.runRet = 0, 1, rSlotNext
			c.ret(s, id, rRunStart)
		})
	case wSlot2:
		step("runSlots: claimOne (bug): store claimed", func(s *state, p *proc) {
			if p.saw != 0 {
				p.pc = wSlotPass
				return
			}
			s.recs[p.rec].cursor = 1
			p.lo, p.hi, p.runRet = 0, 1, rSlotNext
			c.ret(s, id, rRunStart)
		})
	case wSlotPass:
		step("runSlots: w.pass(t): t.done()", func(s *state, p *proc) {
			if !c.done(s, p.rec) && !c.has(bugNoPass) {
				p.passed |= 1 << p.rec
			}
			c.ret(s, id, rSlotNext)
		})
	case wClaim:
		n := c.n(p0.rec)
		cur := s0.recs[p0.rec].cursor
		if c.has(bugClaimLoadStore) {
			step("loop: bt.claim() (bug): load cursor", func(s *state, p *proc) { p.saw, p.pc = cur, wClaim2 })
			break
		}
		if cur >= n {
			step("loop: bt.claim() finds it spent", func(s *state, p *proc) { p.ok, p.pc = false, wPassPop })
			break
		}
		for k := int8(1); k <= n-cur; k++ {
			stepf("loop: bt.claim() takes [%d, %d)", cur, cur+k, func(s *state, p *proc) {
				s.recs[p.rec].cursor = cur + k
				c.claimed(s, id, cur, cur+k)
			})
		}
	case wClaim2:
		n := c.n(p0.rec)
		if p0.saw >= n {
			step("loop: bt.claim() (bug) finds it spent", func(s *state, p *proc) { p.ok, p.pc = false, wPassPop })
			break
		}
		for k := int8(1); k <= n-p0.saw; k++ {
			stepf("loop: bt.claim() (bug) stores cursor %d", p0.saw+k, 0, func(s *state, p *proc) {
				s.recs[p.rec].cursor = p.saw + k
				c.claimed(s, id, p.saw, p.saw+k)
			})
		}
	case wPassPop:
		step("loop: b.pop.CompareAndSwap(i, i+1) past the batch", func(s *state, p *proc) {
			if s.pop == p.slot {
				s.pop++
				p.pc = wPass
				return
			}
			c.afterClaim(s, id)
		})
	case wPass:
		step("loop: w.pass(rec): t.done()", func(s *state, p *proc) {
			if !c.done(s, p.rec) && !c.has(bugNoPass) {
				p.passed |= 1 << p.rec
			}
			c.afterClaim(s, id)
		})
	case wFound:
		step("foundWork: searching.Add(-1)", func(s *state, p *proc) {
			p.searching = false
			s.searching--
			if s.searching == 0 {
				p.pc = wFound2
				return
			}
			c.ret(s, id, p.foundRet)
		})
	case wFound2:
		step("foundWork: idle.Load() > 0", func(s *state, p *proc) {
			if s.idle > 0 {
				p.pc = wFound3
				return
			}
			c.ret(s, id, p.foundRet)
		})
	case wFound3:
		step("foundWork: !q.empty()", func(s *state, p *proc) {
			if !c.empty(s) {
				p.wakeRet, p.pc = p.foundRet, pcWake
				return
			}
			c.ret(s, id, p.foundRet)
		})
	case wPark:
		if !free {
			break
		}
		step("park: mu.Lock(); searching.Add(-1) if searching", func(s *state, p *proc) {
			s.mu = int8(id)
			if p.searching {
				s.searching--
				p.searching = false
			}
			p.pc = wPark2
			if c.has(bugParkLooksFirst) {
				p.pc = wParkLook
			}
		})
	case wParkLook:
		step("park (bug): !q.empty() before idle.Add(1)", func(s *state, p *proc) {
			p.saw = 1
			if !c.empty(s) {
				p.saw = 2
			}
			p.pc = wPark2
		})
	case wPark2:
		step("park: idle.Add(1)", func(s *state, p *proc) { s.idle++; p.pc = wParkLoop })
	case wParkLoop:
		step("park: wakeups > 0, else !q.empty()", func(s *state, p *proc) {
			nonEmpty := !c.empty(s)
			if p.saw != 0 { // bugParkLooksFirst: the look made before idle.Add(1)
				nonEmpty, p.saw = p.saw == 2, 0
			}
			switch {
			case s.wakeups > 0:
				s.wakeups--
				s.mu = none
				p.searching, p.pc = true, wFront
			case nonEmpty:
				p.pc = wParkGo
			default:
				p.pc = wParkStop
			}
		})
	case wParkGo:
		step("park: idle.Add(-1); searching.Add(1); mu.Unlock()", func(s *state, p *proc) {
			s.idle--
			s.searching++
			s.mu = none
			p.searching, p.pc = true, wFront
		})
	case wParkStop:
		step("park: p.stoppedLocked(), else work.Wait()", func(s *state, p *proc) {
			// Its own look: the one in wParkLoop may have found the
			// front slot unpublished, and a producer may have published
			// it since.
			f := c.front(s)
			if s.stopping && (f == c.stop || c.has(bugStopAtAnyRecord) && f != none) {
				s.idle--
				s.woken |= s.condWait
				s.condWait = 0
				s.mu = none
				p.pc = wExit
				return
			}
			s.condWait |= me
			s.mu = none
			p.pc = wParkWoken
		})
	case wParkWoken:
		if s0.woken&me == 0 || !free {
			break
		}
		step("park: work.Wait() returns (mu relocked)", func(s *state, p *proc) {
			s.woken &^= me
			s.mu = int8(id)
			p.pc = wParkLoop
		})
	case wExit:
		if p0.passed == 0 {
			step("runWorker: exits (wg.Done)", func(s *state, p *proc) { s.wg--; p.pc = pcDone })
			break
		}
		step("runWorker: w.waitPassed() on a passed record", func(s *state, p *proc) {
			r := int8(bits.TrailingZeros8(p.passed))
			p.passed &^= 1 << r
			p.sleepRec, p.sleepRet, p.pc = r, wExit, pcSleep1
		})

	// ---- submitter: Pool.submit, refuse, then Wait or WaitContext ----
	case sEarly:
		step("submit: p.closed.Load() (early)", func(s *state, p *proc) {
			if s.closed {
				s.recs[p.rec].refused = true
				p.pc = pcDone
				return
			}
			p.pc = sReserve
		})
	case sReserve:
		step("submit: q.reserve()", func(s *state, p *proc) {
			s.slotRec[s.push] = p.rec
			s.push++
			p.pc = sPublish
			if c.has(bugWakeBeforePublish) {
				p.pc = sSearch
			}
		})
	case sPublish:
		step("submit: publish(slot): state.Store", func(s *state, p *proc) {
			s.recs[p.rec].published = true
			p.pc = sSearch
			switch {
			case c.has(bugWakeBeforePublish):
				p.pc = sClosed
			case c.has(bugRefuseNoWake):
				p.pc = sClosedFirst
			}
		})
	case sClosedFirst:
		step("submit (bug): p.closed.Load() before the wake-up", func(s *state, p *proc) {
			p.pc = sSearch
			if s.closed {
				p.pc = sRefuse
			}
		})
	case sSearch:
		step("submit: searching.Load() == 0", func(s *state, p *proc) {
			if s.searching == 0 {
				p.pc = sIdle
				return
			}
			c.ret(s, id, c.afterWake(s, p))
		})
	case sIdle:
		step("submit: idle.Load() > 0", func(s *state, p *proc) {
			if s.idle > 0 {
				p.wakeRet, p.pc = c.afterWake(s, p), pcWake
				return
			}
			c.ret(s, id, c.afterWake(s, p))
		})
	case sClosed:
		step("submit: p.closed.Load() after publish", func(s *state, p *proc) {
			if s.closed && !c.has(bugNoClosedCheck) {
				p.pc = sRefuse
				return
			}
			c.afterSubmit(s, id)
		})
	case sRefuse:
		step("refuse: f.claimRest(true)", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			n := c.n(p.rec)
			if r.cursor == 0 || c.has(bugRefuseClaimed) && r.cursor < n {
				k := n - r.cursor
				r.cursor = n
				if c.kind(p.rec) == kBatch {
					r.cursor = n + 1
				}
				c.finishThen(s, id, k, rRefused)
				return
			}
			c.afterSubmit(s, id)
		})
	case sHelp:
		r := p0.rec
		n := c.n(r)
		cur := s0.recs[r].cursor
		if cur >= n {
			step("Wait: help() finds nothing to claim", func(s *state, p *proc) {
				p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
				if c.kind(p.rec) == kBatch && !c.cfg.noSweep {
					p.pc = sDrop
				}
			})
			break
		}
		for k := int8(1); k <= n-cur; k++ {
			stepf("Wait: help() claims [%d, %d)", cur, cur+k, func(s *state, p *proc) {
				s.recs[r].cursor = cur + k
				p.lo, p.hi, p.runRet = cur, cur+k, sHelp
				c.ret(s, id, rRunStart)
			})
		}
	case sDrop:
		step("help: q.dropSpent(t): q.front() == t", func(s *state, p *proc) {
			p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
			if c.front(s) == p.rec {
				p.pc = swFront
			}
		})
	case swFront:
		step("sweep: q.front()", func(s *state, p *proc) {
			p.slot, p.end, p.pc = s.pop, s.pop, swLook
		})
	case swLook:
		stepf("sweep: rec.done() at slot %d", p0.end, 0, func(s *state, p *proc) {
			if r := s.slotRec[p.end]; p.end < s.push && r != c.stop && s.recs[r].published {
				done := c.done(s, r)
				if c.has(bugSweepUnfinished) {
					done = s.recs[r].cursor >= c.n(r) // claimed in full
				}
				if done {
					p.end++
					return
				}
			}
			p.pc = swCAS
			if p.end == p.slot {
				p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
			}
		})
	case swCAS:
		step("sweep: b.pop.CompareAndSwap(i, j)", func(s *state, p *proc) {
			if s.pop == p.slot {
				s.pop = p.end
			}
			p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
		})
	case sWaited:
		step("Wait returns: f.failure()", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			r.seen = r.fail + 1
			p.pc = pcDone
		})

	// ---- waiter: Wait or WaitContext on a future another goroutine submitted ----
	case wtStart:
		if s0.recs[p0.rec].refused {
			step("waiter: none (the submit panicked: there is no future)", func(s *state, p *proc) { p.pc = pcDone })
			break
		}
		if !s0.recs[p0.rec].accepted {
			break // no future yet
		}
		step("waiter: Wait or WaitContext on the future", func(s *state, p *proc) {
			p.pc = sHelp
			if c.cfg.procs[id].wait == waitCtx {
				p.sleepRec, p.sleepRet, p.pc = p.rec, sWaited, pcSleep1
			}
		})

	// ---- canceler: TaskFuture.Cancel ----
	case cCancel:
		if s0.recs[p0.rec].refused {
			step("Cancel: none (the submit panicked: there is no future)", func(s *state, p *proc) { p.pc = pcDone })
			break
		}
		if !s0.recs[p0.rec].accepted {
			break // no future yet
		}
		step("Cancel: t.claimRest(false)", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			n := c.n(p.rec)
			if r.cursor >= n {
				p.pc = pcDone
				return
			}
			p.k = n - r.cursor
			r.cursor = n
			if c.kind(p.rec) == kBatch {
				r.cursor = n + 1
			}
			if c.has(bugCancelLateRecord) {
				c.finishThen(s, id, p.k, cRecordLate)
				return
			}
			p.pc = cRecord
		})
	case cRecord, cRecordLate:
		step("Cancel: t.extras().err.CompareAndSwap(nil, canceled)", func(s *state, p *proc) {
			c.extras(s, id, p.rec)
			if s.recs[p.rec].fail == failNone {
				s.recs[p.rec].fail = failCanceled
			}
			if p.pc == cRecordLate {
				p.pc = pcDone
				return
			}
			c.finishThen(s, id, p.k, pcDone)
		})

	// ---- closer: Pool.Close ----
	case clClosed:
		step("Close: closed.Store(true)", func(s *state, p *proc) { s.closed = true; p.pc = clReserve })
	case clReserve:
		step("Close: q.reserve() for stopRecord", func(s *state, p *proc) {
			s.slotRec[s.push] = c.stop
			s.push++
			p.pc = clPublish
		})
	case clPublish:
		step("Close: publish(stopRecord)", func(s *state, p *proc) { s.recs[c.stop].published = true; p.pc = clStopping })
	case clStopping:
		if !free {
			break
		}
		step("Close: mu.Lock(); stopping = true; Broadcast(); mu.Unlock()", func(s *state, p *proc) {
			s.stopping = true
			s.woken |= s.condWait
			s.condWait = 0
			p.pc = clWait
		})
	case clWait:
		if s0.wg != 0 {
			break
		}
		step("Close: wg.Wait() returns", func(s *state, p *proc) { p.pc = pcDone })

	// ---- subroutines ----
	case pcWake:
		if !free {
			break
		}
		for _, w := range signalChoices(s0.condWait) {
			step("wake: mu.Lock(); idle > 0 && searching == 0: Signal; mu.Unlock()", func(s *state, p *proc) {
				s.wake(w)
				c.ret(s, id, p.wakeRet)
			})
		}
	case pcRunCheck:
		step("runErrs: b.stopped()", func(s *state, p *proc) {
			if c.stopped(s, p.rec) {
				p.j = p.hi
				c.ret(s, id, rRunFinish)
				return
			}
			p.pc = pcRunTask
		})
	case pcRunTask:
		stepf("runFrom: task %d of record %d starts", p0.j, p0.rec, func(s *state, p *proc) {
			r := &s.recs[p.rec]
			r.ran[p.j]++
			if c.errBatch(p.rec) && c.stopped(s, p.rec) {
				p.afterStop++
			}
			cfg := c.cfg.recs[p.rec]
			if cfg.errTask && p.j == cfg.failAt {
				p.j = p.hi
				p.pc = pcStop
				if c.kind(p.rec) != kBatch {
					p.k, p.pc = 0, pcRecErr
				}
				return
			}
			p.j++
			switch {
			case p.j == p.hi:
				c.ret(s, id, rRunFinish)
			case c.errBatch(p.rec) && !c.has(bugChunkStop):
				p.pc = pcRunCheck
			}
		})
	case pcStop:
		step("failWith: b.stop()", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			n := c.n(p.rec)
			p.k = 0
			if r.cursor <= n {
				p.k = n - r.cursor
				r.cursor = n + 1
			}
			p.pc = pcRecErr
		})
	case pcRecErr:
		step("failWith: t.extras().err.CompareAndSwap(nil, err)", func(s *state, p *proc) {
			c.extras(s, id, p.rec)
			if s.recs[p.rec].fail == failNone {
				s.recs[p.rec].fail = failError
			}
			if p.k > 0 {
				c.finishThen(s, id, p.k, rRunFinish)
				return
			}
			c.ret(s, id, rRunFinish)
		})
	case pcFinAdd:
		step("finish: finished.Add(k) / state.Or(stFinished)", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			r.finished += p.finAmt
			if r.finished == c.n(p.rec) {
				p.pc = pcFinExt
				return
			}
			c.ret(s, id, p.finRet)
		})
	case pcFinExt:
		step("finish: t.ext.Load(); close(x.done)", func(s *state, p *proc) {
			s.recs[p.rec].closed = s.recs[p.rec].ext
			c.ret(s, id, p.finRet)
		})
	case pcFinExtFirst:
		step("finish (bug): t.ext.Load() before the add", func(s *state, p *proc) {
			p.sawExt, p.pc = s.recs[p.rec].ext, pcFinAdd2
		})
	case pcFinAdd2:
		step("finish (bug): the add, then close if ext was seen", func(s *state, p *proc) {
			r := &s.recs[p.rec]
			r.finished += p.finAmt
			if r.finished == c.n(p.rec) {
				r.closed = p.sawExt
			}
			c.ret(s, id, p.finRet)
		})
	case pcSleep1:
		step("sleepOn: t.done()", func(s *state, p *proc) {
			if c.done(s, p.sleepRec) {
				c.ret(s, id, p.sleepRet)
				return
			}
			p.pc = pcSleep2
		})
	case pcSleep2:
		if c.has(bugExtStore) {
			step("extras (bug): t.ext.Load()", func(s *state, p *proc) {
				p.ch, p.pc = s.recs[p.sleepRec].ext, pcSleep3
				if p.ch == 0 {
					p.pc = pcSleepStore
				}
			})
			break
		}
		// Load, then CompareAndSwap(nil, x) if nil, then Load if that
		// failed: ext is set once, so this is one get-or-install, at the
		// CAS (or at the Load that finds it set).
		step("sleepOn: t.extras(): ext.Load(), else ext.CompareAndSwap(nil, x)", func(s *state, p *proc) {
			p.ch = c.extras(s, id, p.sleepRec)
			p.pc = pcSleep3
			if c.has(bugNoSecondLook) {
				p.pc = pcSleep4
			}
		})
	case pcSleepStore:
		step("extras (bug): t.ext.Store(x)", func(s *state, p *proc) {
			s.recs[p.sleepRec].ext = int8(id) + 1
			p.ch, p.pc = int8(id)+1, pcSleep3
		})
	case pcSleep3:
		step("sleepOn: t.done() again", func(s *state, p *proc) {
			if c.done(s, p.sleepRec) {
				c.ret(s, id, p.sleepRet)
				return
			}
			p.pc = pcSleep4
		})
	case pcSleep4:
		if s0.recs[p0.sleepRec].closed != p0.ch {
			break
		}
		step("<-x.done returns", func(s *state, p *proc) { c.ret(s, id, p.sleepRet) })
	default:
		panic(fmt.Sprintf("model: pc %d has no step", p0.pc))
	}
	return out
}

// extras is task.extras as one get-or-install step: ext is only ever set
// once, from nil, so its Load, CompareAndSwap and the Load after a failed
// CompareAndSwap act as one atomic step. It returns the channel.
func (c *checker) extras(s *state, id int, r int8) int8 {
	if s.recs[r].ext == 0 {
		s.recs[r].ext = int8(id) + 1
	}
	return s.recs[r].ext
}

// claimed is where a worker's successful claim of [lo, hi) goes.
func (c *checker) claimed(s *state, id int, lo, hi int8) {
	p := &s.procs[id]
	p.lo, p.hi, p.ok = lo, hi, true
	if hi == c.n(p.rec) {
		p.pc = wPassPop
		return
	}
	c.afterClaim(s, id)
}

// afterClaim: run the claimed chunk (after foundWork if searching), or,
// if the claim failed, look at the queue again.
func (c *checker) afterClaim(s *state, id int) {
	p := &s.procs[id]
	if !p.ok {
		p.pc = wFront
		return
	}
	p.runRet = wFront
	if p.searching {
		p.foundRet, p.pc = rRunStart, wFound
		return
	}
	c.ret(s, id, rRunStart)
}

// afterWake is where a submit goes once it has decided on the wake-up.
func (c *checker) afterWake(s *state, p *proc) int8 {
	switch {
	case !s.recs[p.rec].published:
		return sPublish // bugWakeBeforePublish
	case c.has(bugRefuseNoWake):
		return rAccepted // closed was looked at before
	}
	return sClosed
}

// check reports the first invariant s breaks, or "".
func (c *checker) check(s *state) string {
	for r := int8(0); r < int8(len(c.cfg.recs)); r++ {
		rc := &s.recs[r]
		for j, k := range rc.ran {
			if k > 1 {
				return fmt.Sprintf("task %d of record %d ran %d times", j, r, k)
			}
		}
		if rc.refused {
			for j, k := range rc.ran {
				if k > 0 {
					return fmt.Sprintf("record %d was refused (its submit panicked with ErrClosed) but its task %d ran", r, j)
				}
			}
		}
		if rc.finished > c.n(r) {
			return fmt.Sprintf("record %d finished %d of %d tasks", r, rc.finished, c.n(r))
		}
		if rc.seen != 0 && rc.seen != rc.fail+1 {
			return fmt.Sprintf("record %d: Err changed after a Wait returned (saw %d, now %d)", r, rc.seen-1, rc.fail)
		}
		if rc.seen != 0 && rc.fail == failNone {
			for j := int8(0); j < c.n(r); j++ {
				if rc.ran[j] == 0 {
					return fmt.Sprintf("record %d: Wait returned with Err nil though task %d was skipped", r, j)
				}
			}
		}
	}
	if s.idle < 0 || s.searching < 0 {
		return fmt.Sprintf("idle %d, searching %d", s.idle, s.searching)
	}
	for id := range c.cfg.procs {
		p := &s.procs[id]
		if p.afterStop > 1 {
			return fmt.Sprintf("proc %d started %d tasks of record %d after the stop", id, p.afterStop, p.rec)
		}
		if c.cfg.procs[id].role == closer && p.pc == pcDone {
			for r := int8(0); r < int8(len(c.cfg.recs)); r++ {
				if s.recs[r].accepted && !c.done(s, r) {
					return fmt.Sprintf("Close returned before record %d (accepted) finished", r)
				}
			}
		}
	}
	return ""
}

// checkEnd reports what is wrong with an end state: one in which no
// goroutine can take a step.
func (c *checker) checkEnd(s *state) string {
	parked := false
	for id, pc := range c.cfg.procs {
		p := &s.procs[id]
		if p.pc == pcDone {
			continue
		}
		if pc.role == worker && p.pc == wParkWoken && s.woken&(1<<id) == 0 {
			parked = true
			continue
		}
		return fmt.Sprintf("proc %d (%s) is blocked for good at pc %d: a lost wake-up or completion", id, roleName(pc.role), p.pc)
	}
	for r := int8(0); r < int8(len(c.cfg.recs)); r++ {
		rc := &s.recs[r]
		if rc.accepted && !c.done(s, r) {
			return fmt.Sprintf("record %d was accepted but never finished", r)
		}
		if parked && rc.published && !rc.refused && rc.cursor < c.n(r) {
			return fmt.Sprintf("workers sleep while record %d has unclaimed tasks", r)
		}
	}
	return ""
}

func roleName(r role) string {
	return [...]string{"worker", "submitter", "canceler", "closer", "waiter"}[r]
}

// run explores every interleaving from the initial state and returns the
// first violation with its interleaving, or "".
func (c *checker) run() string {
	s := c.initial()
	c.seen(&s)
	c.dfs(&s)
	return c.fail
}

// seen records s and reports whether it was there already. The visited set
// holds 64-bit hashes, not states (hash compaction, as SPIN offers): a
// collision would prune a state unexplored, with odds of about n²/2⁶⁵ for
// n states, under 10⁻⁴ here. Two workers are interchangeable, so a state
// and the one with workers 0 and 1 swapped are one state: the smaller of
// their hashes stands for both.
func (c *checker) seen(s *state) bool {
	h := c.hash(s)
	if c.twoWorkers {
		if h2 := c.hash(swapWorkers(s)); h2 < h {
			h = h2
		}
	}
	if _, ok := c.visited[h]; ok {
		return true
	}
	c.visited[h] = struct{}{}
	if len(c.visited) > c.limit && c.fail == "" {
		c.limited = true
		c.fail = fmt.Sprintf("%s: over %d states; the configuration is too big to check", c.cfg.name, c.limit)
	}
	return false
}

// hash hashes s's bytes: state is all one-byte fields, so it has no
// padding and its bytes are its value.
func (c *checker) hash(s *state) uint64 {
	return maphash.Bytes(c.seed, unsafe.Slice((*byte)(unsafe.Pointer(s)), unsafe.Sizeof(*s)))
}

// swapWorkers returns s with procs 0 and 1 (both workers) exchanged.
func swapWorkers(s *state) *state {
	t := *s
	t.procs[0], t.procs[1] = s.procs[1], s.procs[0]
	swapBits := func(m uint8) uint8 { return m&^3 | m&1<<1 | m&2>>1 }
	t.condWait, t.woken = swapBits(s.condWait), swapBits(s.woken)
	if s.mu == 0 || s.mu == 1 {
		t.mu = 1 - s.mu
	}
	return &t
}

// stateLimit bounds the search, so that a configuration too big fails
// rather than exhausting memory.
const stateLimit = 30_000_000

// canon clears the locals no later step reads, so that states that differ
// only in them are one state. What is live at each pc is read off the
// steps above: a local set by a step and read by a later one is kept
// between them, and nowhere else.
func (c *checker) canon(s *state) {
	// ext is set once and every goroutine then uses the one installed,
	// so which goroutine made it matters only with the planted bug that
	// lets a second store replace it: one state for every maker.
	one := func(x *int8) {
		if *x != 0 && !c.has(bugExtStore) {
			*x = 1
		}
	}
	for r := range s.recs {
		one(&s.recs[r].ext)
		one(&s.recs[r].closed)
	}
	for id, pc := range c.cfg.procs {
		p := &s.procs[id]
		if p.pc == pcDone {
			*p = proc{}
			continue
		}
		q := proc{pc: p.pc, searching: p.searching, passed: p.passed}
		if pc.role != worker || !(p.pc == wFront || p.pc >= wPark && p.pc <= wExit || p.pc == wPopRun || p.pc == wSlot) {
			q.rec = p.rec
		}
		fin := p.pc == pcFinAdd || p.pc == pcFinExt || p.pc == pcFinExtFirst || p.pc == pcFinAdd2
		if fin {
			q.finAmt, q.finRet = p.finAmt, p.finRet
			if p.pc == pcFinAdd2 {
				q.sawExt = p.sawExt
			}
		}
		// ret is where p goes once its current subroutine returns.
		ret := int8(none)
		switch {
		case fin:
			ret = p.finRet
		case p.pc == pcWake:
			ret, q.wakeRet = p.wakeRet, p.wakeRet
		case p.pc == wFound || p.pc == wFound2 || p.pc == wFound3:
			ret, q.foundRet = p.foundRet, p.foundRet
		case p.pc >= pcSleep1 && p.pc <= pcSleep4:
			q.sleepRec, q.sleepRet = p.sleepRec, p.sleepRet
			if p.pc == pcSleep3 || p.pc == pcSleep4 {
				q.ch = p.ch
			}
		}
		run := p.pc == pcRunCheck || p.pc == pcRunTask || p.pc == pcStop || p.pc == pcRecErr || ret == rRunFinish
		if run || ret == rRunStart || p.pc == wPassPop || p.pc == wPass {
			q.lo, q.hi, q.runRet = p.lo, p.hi, p.runRet
		}
		if run {
			q.afterStop = p.afterStop
			if p.pc == pcRunCheck || p.pc == pcRunTask {
				q.j = p.j
			}
		}
		if p.pc == pcRecErr || p.pc == cRecord {
			q.k = p.k
		}
		switch p.pc {
		case wPopRun, wSlot, wSlot2, wSlotPass, wClaim, wClaim2, wPassPop, swLook, swCAS:
			q.slot, q.end = p.slot, p.end
		}
		if p.pc == wSlot2 || p.pc == wClaim2 || p.pc == wPark2 || p.pc == wParkLoop {
			q.saw = p.saw
		}
		if p.pc == wPassPop || p.pc == wPass {
			q.ok = p.ok
		}
		if (run || ret == rRunFinish) && p.runRet == rSlotNext || ret == rSlotNext || ret == wSlot {
			q.slot, q.end = p.slot, p.end
		}
		one(&q.ch)
		one(&q.sawExt)
		*p = q
	}
}

func (c *checker) dfs(s *state) {
	any := false
	for id := range c.cfg.procs {
		for _, nx := range c.steps(s, id) {
			any = true
			c.path = append(c.path, pathStep{id, nx.label, nx.a, nx.b})
			// Checked before canon, which may clear what it looks at.
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

// interleaving renders a violation and the steps that led to it; who
// names a step's goroutine and its role. A label's %d verbs are filled
// from the step's a and b.
func interleaving(name, msg string, path []pathStep, who func(i int, st pathStep) (id, role string)) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\ninterleaving (%d steps):\n", name, msg, len(path))
	for i, st := range path {
		label := st.label
		switch strings.Count(label, "%d") {
		case 1:
			label = fmt.Sprintf(label, st.a)
		case 2:
			label = fmt.Sprintf(label, st.a, st.b)
		}
		id, role := who(i, st)
		fmt.Fprintf(&b, "  %3d  %s %-9s %s\n", i+1, id, role, label)
	}
	return b.String()
}

func (c *checker) report(msg string) {
	c.fail = interleaving(c.cfg.name, msg, c.path, func(i int, st pathStep) (string, string) {
		return fmt.Sprintf("p%d", st.id), roleName(c.cfg.procs[st.id].role)
	})
}
