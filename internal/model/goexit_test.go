package model

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"
	"unsafe"
)

// Panics and runtime.Goexit with the replacement goroutine (run.go:
// runChunk, chunkRun.run, runFrom's deferred call, chunkRun.fail, goexit,
// handOff, runOrphan; worker.go: runWorker, runSlots, the loop's pass),
// checked as its own protocol, in the style of the Group's (group_test.go),
// rather than inside the pool's model: what it adds is a goroutine that
// ends and another that takes over its state, which the pool's model,
// whose procs are fixed, would carry into every configuration.
//
// One worker, whose state (w.next..w.end, its run of single slots, and
// passed) outlives the goroutine running it; the goroutines that run it
// one after another; waiters running their own tasks (claimOwn, help's
// claims) and the goroutines that take over a waiter's chunk
// (runOrphan); Close's wg.Wait. A task returns, panics, or calls
// Goexit; the panic handler, if there is one, returns or calls Goexit
// (t.Fatal in a handler does). One step per atomic operation (a claim, the
// failure's CompareAndSwap, finish's add, wg's Add and Done) and per call
// that may end the goroutine (the task, the handler); the goroutine-local
// moves between them (c.i, w.next) are folded into those steps.
//
// In every state: no task ran twice, finished never passes n, Close has
// not returned before a record finished, and some goroutine runs the
// worker until it exits (no worker lost). In every end state: every task
// ran exactly once, the failing ones included, every record finished and
// recorded its failure, the worker exited through its loop, and Close
// returned.
//
// What it leaves out: the queue (the worker's run of slots is given at the
// start and its loop claims from the batches in order, moving pop past
// each once, as the one worker does in the pool's model), the sleep in
// waitPassed and in Wait (the pool's model checks sleepOn; here a sleeper
// steps once what it waits for is done), ranges and error tasks (a range
// chunk resumes at its end, an error task's failure is the pool model's
// error stop), the Stats counts, and Cancel.

const (
	xMaxRecs  = 3
	xMaxProcs = 8
)

type xBody int8

const (
	xOK     xBody = iota // returns
	xPanic               // panics
	xGoexit              // calls runtime.Goexit
)

type xHandler int8

const (
	xhNone   xHandler = iota // no panic handler
	xhReturn                 // a handler that returns
	xhGoexit                 // a handler that calls runtime.Goexit
)

type xRecCfg struct {
	bodies []xBody // one per task: a single (len 1) is a slot of the worker's run
}

type xRole int8

const (
	xrNone   xRole = iota
	xrWorker       // a goroutine running the worker
	xrWaiter       // Wait on rec: claimOwn for a single, help's claims for a batch
	xrOrphan       // runOrphan: the rest of a waiter's chunk
	xrCloser       // Close: wg.Wait
)

type xProcCfg struct {
	role xRole
	rec  int8
}

type xConfig struct {
	name    string
	recs    []xRecCfg // the singles first: they are the worker's run, in order
	handler xHandler
	procs   []xProcCfg
	bugs    xBug
}

type xBug uint8

const (
	xBugNoHandOff    xBug = 1 << iota // goexit's deferred hand-off skipped
	xBugResumeAtFail                  // fail does not move c.i past the task that failed
	xBugHandlerFirst                  // fail calls the handler before it records the resume point
	xBugNilIsGoexit                   // runFrom takes a recover() of nil for a Goexit (panic(nil) under panicnil=1)
	xLastBug              = xBugNilIsGoexit

	// xBugNextAfterRun: runSlots moves w.next past a slot after running
	// it, not before claiming it. Not a bug, the check finds: the
	// replacement's runSlots then meets the slot again, but claimOne's
	// CompareAndSwap fails on it (stClaimed is never cleared), so it
	// passes it, finished, instead of running it twice. The order saves
	// that CAS; TestGoexitModelBenignVariants keeps the finding.
	xBugNextAfterRun xBug = 1 << 7
)

var xBugNames = map[xBug]string{
	xBugNextAfterRun: "w.next moved after the claim and the run",
	xBugNoHandOff:    "the hand-off (afterGoexit/handOff) skipped",
	xBugResumeAtFail: "resuming at the task that failed",
	xBugHandlerFirst: "the handler run before the resume point is recorded",
	xBugNilIsGoexit:  "panic(nil) taken for a Goexit",
}

type xRec struct {
	cursor   int8 // batchTask.cursor; for a single, 1 once claimed
	finished int8
	failed   bool // extra.err holds its first failure
	popped   bool // the worker moved pop past the batch
	ran      [3]int8
}

type xProc struct {
	pc     int8
	role   xRole
	rec    int8 // the record whose chunk it runs (or the waiter's)
	i      int8 // chunkRun.i
	lo, hi int8
	dying  bool // in a Goexit: the goroutine ends once its deferred calls have run
	pend   bool // xBugHandlerFirst: the resume point is not yet recorded
	slot   bool // the chunk is a slot this goroutine's runSlots claimed
	ret    int8 // where the chunk's finish returns
}

type xState struct {
	recs      [xMaxRecs]xRec
	next, end int8  // w.next, w.end: the worker's run of slots
	passed    uint8 // w.passed, by record
	wg        int8
	exited    bool // the worker's goroutine returned from runWorker
	closeDone bool // Close returned
	procs     [xMaxProcs]xProc
}

const (
	xpDone int8 = iota
	xpSlots
	xpSlotPass
	xpLoop
	xpPassB
	xpExit
	xpRun
	xpFail
	xpHandler
	xpHandOff
	xpDie
	xpWaiter
	xpClose
)

type xChecker struct {
	cfg     *xConfig
	visited map[uint64]struct{}
	seed    maphash.Seed
	path    []pathStep
	names   []string // each step's proc, for the report
	fail    string
	ends    int
	limit   int
	limited bool
}

func (c *xChecker) has(b xBug) bool { return c.cfg.bugs&b != 0 }

func (c *xChecker) n(r int8) int8 { return int8(len(c.cfg.recs[r].bodies)) }

func (c *xChecker) singles() int8 {
	k := int8(0)
	for _, r := range c.cfg.recs {
		if len(r.bodies) == 1 {
			k++
		}
	}
	return k
}

func (c *xChecker) done(s *xState, r int8) bool { return s.recs[r].finished == c.n(r) }

func (c *xChecker) initial() xState {
	var s xState
	s.end = c.singles()
	for i, pc := range c.cfg.procs {
		p := &s.procs[i]
		p.role, p.rec = pc.role, pc.rec
		switch pc.role {
		case xrWorker:
			p.pc = xpSlots
			s.wg++
		case xrWaiter:
			p.pc = xpWaiter
		case xrCloser:
			p.pc = xpClose
		}
	}
	return s
}

// chunk starts the run of [lo, hi) of r from i, returning to ret.
func chunk(p *xProc, r, i, lo, hi, ret int8) {
	p.rec, p.i, p.lo, p.hi, p.ret, p.pc = r, i, lo, hi, ret, xpRun
}

// spawn starts a goroutine running the chunk p holds from p.i.
func (c *xChecker) spawn(s *xState, p *xProc, role xRole) {
	for k := range s.procs {
		q := &s.procs[k]
		if q.role != xrNone {
			continue
		}
		*q = xProc{role: role}
		ret := xpDone
		if role == xrWorker {
			ret = xpSlots // runWorker: the chunk, then runSlots, then the loop
		}
		chunk(q, p.rec, p.i, p.lo, p.hi, ret)
		return
	}
	panic("goexit model: too many goroutines")
}

func (c *xChecker) steps(s0 *xState, id int) []next3 {
	p0 := &s0.procs[id]
	var out []next3
	stepf := func(label string, a, b int8, f func(s *xState, p *xProc)) {
		s := *s0
		f(&s, &s.procs[id])
		out = append(out, next3{s, label, a, b})
	}
	step := func(label string, f func(s *xState, p *xProc)) { stepf(label, 0, 0, f) }
	switch p0.pc {
	case xpDone:
		return nil

	// ---- the worker: runSlots, the loop, the exit ----
	case xpSlots:
		if s0.next == s0.end {
			step("runSlots: the run is done", func(s *xState, p *xProc) { p.pc = xpLoop })
			break
		}
		step("runSlots: t := slots[w.next]; w.next++; t.claimOne()", func(s *xState, p *xProc) {
			r := s.next
			if !c.has(xBugNextAfterRun) {
				s.next++
			}
			if s.recs[r].cursor == 0 {
				s.recs[r].cursor = 1
				chunk(p, r, 0, 0, 1, xpSlots)
				p.slot = true
				return
			}
			p.rec, p.pc = r, xpSlotPass
		})
	case xpSlotPass:
		step("runSlots: w.pass(t): t.done()", func(s *xState, p *xProc) {
			if !c.done(s, p.rec) {
				s.passed |= 1 << p.rec
			}
			if c.has(xBugNextAfterRun) {
				s.next++
			}
			p.pc = xpSlots
		})
	case xpLoop:
		r := int8(none)
		for k := range c.cfg.recs {
			if c.n(int8(k)) > 1 && !s0.recs[k].popped {
				r = int8(k)
				break
			}
		}
		if r == none {
			step("loop: the queue is drained (up to Close's stop record)", func(s *xState, p *xProc) { p.pc = xpExit })
			break
		}
		n, cur := c.n(r), s0.recs[r].cursor
		if cur >= n {
			step("loop: bt.claim() finds it spent", func(s *xState, p *xProc) { p.rec, p.hi, p.pc = r, 0, xpPassB })
			break
		}
		for k := int8(1); k <= n-cur; k++ {
			stepf("loop: bt.claim() takes [%d, %d)", cur, cur+k, func(s *xState, p *xProc) {
				s.recs[r].cursor = cur + k
				chunk(p, r, cur, cur, cur+k, xpLoop)
				if cur+k == n {
					p.pc = xpPassB
				}
			})
		}
	case xpPassB:
		step("loop: b.pop.CompareAndSwap(i, i+1); w.pass(rec): t.done()", func(s *xState, p *xProc) {
			s.recs[p.rec].popped = true
			if !c.done(s, p.rec) {
				s.passed |= 1 << p.rec
			}
			p.pc = xpRun
			if p.hi == 0 { // the claim found it spent
				p.pc = xpLoop
			}
		})
	case xpExit:
		for r := range c.cfg.recs {
			if s0.passed&(1<<r) != 0 && !c.done(s0, int8(r)) {
				return nil // waitPassed sleeps on it
			}
		}
		step("runWorker: w.waitPassed() returns; wg.Done(); exits", func(s *xState, p *xProc) {
			s.passed = 0
			s.wg--
			s.exited = true
			*p = xProc{}
		})

	// ---- runChunk, run, runFrom, fail, goexit, handOff ----
	case xpRun:
		if p0.i == p0.hi {
			step("runChunk: c.ended = true; t.finish(hi - lo)", func(s *xState, p *xProc) {
				s.recs[p.rec].finished += p.hi - p.lo
				if p.slot && c.has(xBugNextAfterRun) {
					s.next++
				}
				p.slot = false
				p.pc = p.ret
				if p.pc == xpDone {
					*p = xProc{}
				}
			})
			break
		}
		stepf("runFrom: task %d of record %d runs", p0.i, p0.rec, func(s *xState, p *xProc) {
			s.recs[p.rec].ran[p.i]++
			switch c.cfg.recs[p.rec].bodies[p.i] {
			case xOK:
				p.i++
			case xPanic:
				// runFrom's deferred call: c.failed; recover stops it.
				p.pc = xpFail
				if c.has(xBugNilIsGoexit) {
					// recover() returned nil: taken for a Goexit, a
					// replacement starts from c.i, and runFrom returns
					// as if the task had, at c.i.
					c.spawn(s, p, p.role)
					if p.role == xrWorker {
						s.wg++
					}
					p.i++
					p.pc = xpRun
				}
			case xGoexit:
				// runFrom's deferred call marks it failed; runChunk's
				// deferred goexit defers handOff and calls fail.
				p.dying, p.pc = true, xpFail
			}
		})
	case xpFail:
		step("fail: c.i = resume; t.fail(v): err.CompareAndSwap(nil, f)", func(s *xState, p *xProc) {
			if c.has(xBugHandlerFirst) {
				p.pend, p.pc = true, xpHandler
				return
			}
			c.record(s, p)
			p.pc = xpHandler
		})
	case xpHandler:
		h := c.cfg.handler
		if h == xhNone {
			step("report: no panic handler", func(s *xState, p *xProc) { c.afterHandler(s, p) })
			break
		}
		if h == xhGoexit {
			step("report: the panic handler calls runtime.Goexit", func(s *xState, p *xProc) {
				p.dying = true
				p.pc = xpHandOff // goexit's deferred call; c.failed is already clear
			})
			break
		}
		step("report: the panic handler returns", func(s *xState, p *xProc) { c.afterHandler(s, p) })
	case xpHandOff:
		if c.has(xBugNoHandOff) {
			step("goexit (bug): no hand-off", func(s *xState, p *xProc) { c.die(s, p) })
			break
		}
		if p0.role == xrWorker {
			step("handOff: c.ended = true; wg.Add(1); go p.runWorker(w, t, c.i, lo, hi)", func(s *xState, p *xProc) {
				s.wg++
				c.spawn(s, p, xrWorker)
				c.die(s, p)
			})
			break
		}
		step("handOff: c.ended = true; go t.runOrphan(c.i, lo, hi)", func(s *xState, p *xProc) {
			c.spawn(s, p, xrOrphan)
			c.die(s, p)
		})
	case xpDie:
		step("runWorker's deferred wg.Done(): the goroutine ends", func(s *xState, p *xProc) {
			s.wg--
			*p = xProc{}
		})

	// ---- a waiter: Wait on its own future ----
	case xpWaiter:
		r := p0.rec
		if c.n(r) == 1 {
			step("Wait: help(): t.claimOwn()", func(s *xState, p *xProc) {
				if s.recs[r].cursor != 0 {
					*p = xProc{} // Wait sleeps; the worker runs it
					return
				}
				s.recs[r].cursor = 1
				chunk(p, r, 0, 0, 1, xpDone)
			})
			break
		}
		n, cur := c.n(r), s0.recs[r].cursor
		if cur >= n {
			step("Wait: help(): b.claim() finds nothing", func(s *xState, p *xProc) { *p = xProc{} })
			break
		}
		for k := int8(1); k <= n-cur; k++ {
			stepf("Wait: help(): b.claim() takes [%d, %d)", cur, cur+k, func(s *xState, p *xProc) {
				s.recs[r].cursor = cur + k
				chunk(p, r, cur, cur, cur+k, xpWaiter)
			})
		}

	// ---- Close ----
	case xpClose:
		if s0.wg != 0 {
			break
		}
		step("Close: wg.Wait() returns", func(s *xState, p *xProc) {
			s.closeDone = true
			*p = xProc{}
		})
	default:
		panic(fmt.Sprintf("goexit model: pc %d has no step", p0.pc))
	}
	return out
}

// record is the part of fail before the handler: the resume point past the
// failed task, and the failure's CompareAndSwap.
func (c *xChecker) record(s *xState, p *xProc) {
	if !c.has(xBugResumeAtFail) {
		p.i++
	}
	s.recs[p.rec].failed = true
	p.pend = false
}

// afterHandler: the handler returned. A goroutine in a Goexit goes on to
// handOff (goexit's deferred call); one that recovered a panic runs on.
func (c *xChecker) afterHandler(s *xState, p *xProc) {
	if p.pend {
		c.record(s, p)
	}
	p.pc = xpRun
	if p.dying {
		p.pc = xpHandOff
	}
}

// die ends p's goroutine once handOff has run (or, with the bug, not).
func (c *xChecker) die(s *xState, p *xProc) {
	if p.role == xrWorker {
		p.pc = xpDie
		p.role = xrOrphan // no longer the worker's: it only has its wg.Done left
		return
	}
	*p = xProc{}
}

type next3 struct {
	s     xState
	label string
	a, b  int8
}

func (c *xChecker) check(s *xState) string {
	for r := int8(0); r < int8(len(c.cfg.recs)); r++ {
		rc := &s.recs[r]
		for j, k := range rc.ran {
			if k > 1 {
				return fmt.Sprintf("task %d of record %d ran %d times", j, r, k)
			}
		}
		if rc.finished > c.n(r) {
			return fmt.Sprintf("record %d finished %d of %d tasks", r, rc.finished, c.n(r))
		}
		if s.closeDone && !c.done(s, r) {
			return fmt.Sprintf("Close returned before record %d finished", r)
		}
	}
	if !s.exited {
		live := false
		for _, p := range s.procs {
			live = live || p.role == xrWorker
		}
		if !live {
			return "no goroutine runs the worker: the worker is lost"
		}
	}
	return ""
}

func (c *xChecker) checkEnd(s *xState) string {
	for id, p := range s.procs {
		if p.role != xrNone {
			return fmt.Sprintf("goroutine %d is blocked for good at pc %d", id, p.pc)
		}
	}
	if !s.exited {
		return "the worker never exited"
	}
	for r := int8(0); r < int8(len(c.cfg.recs)); r++ {
		rc := &s.recs[r]
		if !c.done(s, r) {
			return fmt.Sprintf("record %d never finished", r)
		}
		for j, b := range c.cfg.recs[r].bodies {
			if rc.ran[j] != 1 {
				return fmt.Sprintf("task %d of record %d ran %d times", j, r, rc.ran[j])
			}
			if b != xOK && !rc.failed {
				return fmt.Sprintf("record %d: the failure of task %d was not recorded", r, j)
			}
		}
	}
	return ""
}

func (c *xChecker) seen(s *xState) bool {
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

func (c *xChecker) dfs(s *xState) {
	any := false
	for id := range s.procs {
		for _, nx := range c.steps(s, id) {
			any = true
			c.path = append(c.path, pathStep{id, nx.label, nx.a, nx.b})
			c.names = append(c.names, xRoleName(s.procs[id].role))
			if msg := c.check(&nx.s); msg != "" {
				c.report(msg)
			} else if !c.seen(&nx.s) {
				c.dfs(&nx.s)
			}
			c.path = c.path[:len(c.path)-1]
			c.names = c.names[:len(c.names)-1]
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

func (c *xChecker) report(msg string) {
	c.fail = interleaving(c.cfg.name, msg, c.path, func(i int, st pathStep) (string, string) {
		return fmt.Sprintf("g%d", st.id), c.names[i]
	})
}

func xRoleName(r xRole) string {
	return [...]string{"-", "worker", "waiter", "orphan", "closer"}[r]
}

func (c *xChecker) run() string {
	s := c.initial()
	c.seen(&s)
	c.dfs(&s)
	return c.fail
}

func newXChecker(cfg *xConfig) *xChecker {
	return &xChecker{cfg: cfg, visited: map[uint64]struct{}{}, seed: maphash.MakeSeed(), limit: stateLimit}
}

var xConfigs = []xConfig{
	{
		name:    "goexit: a worker's run of 2 singles (the first calls Goexit, the second panics), a batch of 3 (task 1 calls Goexit) with its waiter; the handler returns; Close",
		recs:    []xRecCfg{{bodies: []xBody{xGoexit}}, {bodies: []xBody{xPanic}}, {bodies: []xBody{xOK, xGoexit, xOK}}},
		handler: xhReturn,
		procs:   []xProcCfg{{role: xrWorker}, {role: xrWaiter, rec: 2}, {role: xrCloser}},
	},
	{
		name:    "goexit: the handler calls Goexit; a worker's run of 2 singles (the first panics, the second's waiter claims it), a batch of 3 (task 0 panics, task 2 calls Goexit) with its waiter; Close",
		recs:    []xRecCfg{{bodies: []xBody{xPanic}}, {bodies: []xBody{xOK}}, {bodies: []xBody{xPanic, xOK, xGoexit}}},
		handler: xhGoexit,
		procs:   []xProcCfg{{role: xrWorker}, {role: xrWaiter, rec: 1}, {role: xrWaiter, rec: 2}, {role: xrCloser}},
	},
	{
		name:    "goexit: no handler; a single in the worker's run whose waiter claims it and calls Goexit in it, a batch of 3 (tasks 1 and 2 call Goexit) with its waiter; Close",
		recs:    []xRecCfg{{bodies: []xBody{xGoexit}}, {bodies: []xBody{xOK, xGoexit, xGoexit}}},
		handler: xhNone,
		procs:   []xProcCfg{{role: xrWorker}, {role: xrWaiter, rec: 0}, {role: xrWaiter, rec: 1}, {role: xrCloser}},
	},
}

// TestGoexitModel checks every interleaving of each configuration.
func TestGoexitModel(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for _, cfg := range xConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c := newXChecker(&cfg)
			if msg := c.run(); msg != "" {
				t.Fatal(msg)
			}
			t.Logf("%d states, %d end states, in %v", len(c.visited), c.ends, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestGoexitModelCatchesPlantedBugs: each planted bug makes at least one
// configuration fail.
func TestGoexitModelCatchesPlantedBugs(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for b := xBug(1); b <= xLastBug; b <<= 1 {
		t.Run(xBugNames[b], func(t *testing.T) {
			t.Parallel()
			for _, cfg := range xConfigs {
				cfg.bugs = b
				c := newXChecker(&cfg)
				c.limit = 2_000_000
				if msg := c.run(); msg != "" && !c.limited {
					t.Logf("caught after %d states:\n%s", len(c.visited), msg)
					return
				}
			}
			t.Fatalf("no configuration caught the planted bug %q", xBugNames[b])
		})
	}
}

// TestGoexitModelBenignVariants: variants of the code that look like bugs
// and that the check finds correct, with why in their docs. Each must
// pass every configuration; if one ever fails, a guard it leans on has
// gone.
func TestGoexitModelBenignVariants(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for _, b := range []xBug{xBugNextAfterRun} {
		for _, cfg := range xConfigs {
			cfg.bugs = b
			c := newXChecker(&cfg)
			if msg := c.run(); msg != "" {
				t.Fatalf("%s: %s", xBugNames[b], msg)
			}
			t.Logf("%s: %s: %d states, no violation", xBugNames[b], cfg.name, len(c.visited))
		}
	}
}
