package model

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"
	"unsafe"
)

// The Group's protocol (group.go), checked the same way as the pool's:
// every interleaving of a small configuration, one step per atomic
// operation or locked section. What it covers: Go (the look at the stop,
// started's count, publish, the poke of sleepers), a runner's claim and its
// look at the stop before the task (the error, then the parent's Done
// channel), a task's failure (record's CompareAndSwap and the context's
// cancel), Cancel, Go from inside a task, finish (finished's count and the
// poke), and Wait: its look at the counts, runGroup, and park's sleep.
//
// What it leaves out: the queue under the slots (a slot here is claimed
// by one CompareAndSwap from any runner, a superset of the order in which
// the queue hands them out: see the pool's model for the queue), the
// limit (SetLimit's acquire and release), panics (a panic is recorded as
// an error is, through the same record), and the workers' sleep (a worker
// here claims whatever is published; a worker with nothing to claim is
// blocked, which is not a failure).

const (
	gMaxSlots = 3
	gMaxProcs = 4
)

// A task's body, as a configuration gives it.
type gBody int8

const (
	gOK       gBody = iota // returns nil
	gFail                  // returns an error
	gCancel                // calls g.Cancel()
	gGoSlot2               // calls g.Go for slot 2, then returns nil
	gGoSlot2F              // calls g.Go for slot 2, then returns an error
)

// The group's first failure (Group.err), and the cause its context ended
// with (ctxCause adds gCauseWait: canceled by Wait, context.Canceled).
const (
	gNone int8 = iota
	gErr
	gCanceled
	gParent
	gCauseWait
)

type gRole int8

const (
	gCaller  gRole = iota // Go for each of its slots, then Wait
	gWorker               // claims and runs published slots
	gEnder                // ends the parent context
	gCancels              // calls g.Cancel()
)

type gProcCfg struct {
	role  gRole
	slots []int8 // for gCaller: the slots it gives, in order
}

type gConfig struct {
	name   string
	bodies []gBody
	procs  []gProcCfg
	bugs   gBug
}

type gBug uint8

const (
	gBugNoStopCheck        gBug = 1 << iota // the runner starts a task without looking at the stop
	gBugFinishLooksFirst                    // finish reads sleepers before it counts the task
	gBugCountAfterPublish                   // Go counts started after it publishes the task
	gBugSleeperLooksFirst                   // park looks at the counts before it counts itself a sleeper
	gBugCancelBeforeRecord                  // record cancels the context before its CompareAndSwap
	gBugParentUnseen                        // the runner looks only at err, not at the parent's Done channel
)

var gBugNames = map[gBug]string{
	gBugNoStopCheck:        "a stop that lets a queued task start",
	gBugFinishLooksFirst:   "a Wait that sleeps through the last finish (finish reads sleepers first)",
	gBugCountAfterPublish:  "a Go whose task is published before it is counted",
	gBugSleeperLooksFirst:  "a Wait that sleeps through the last finish (park looks before it counts itself)",
	gBugCancelBeforeRecord: "the context ends with a failure that is not the first",
	gBugParentUnseen:       "a queued task starts after the parent context ended",
}

type gSlot struct {
	given     bool // Go has counted it in started
	published bool
	claimed   bool
	ran       int8 // its body started this many times
	skipped   bool
	finished  bool
	refused   bool // Go saw the group stopped and queued nothing
}

type gProc struct {
	pc     int8
	next   int8 // gCaller: index of the next slot to give
	slot   int8 // the slot being run or given
	giving int8 // the slot a task's nested Go gives
	ret    int8 // where the running subroutine returns
	goRet  int8 // where Go returns
	saw    int8 // a count loaded by the step before
	sawS   bool // finish (bug): sleepers seen before the count
	armed  bool // looked at the stop and found none: the task may start
	won    bool // record's CompareAndSwap succeeded
	fail   int8 // the failure record is recording
	ch     int8 // the channel a sleeper waits on
	inPark bool // runGroup was entered from park
}

type gState struct {
	slots             [gMaxSlots]gSlot
	started, finished int8
	err               int8
	ctxCause          int8
	parentDone        bool
	sleepers          int8
	wake, nextCh      int8
	closed            uint8 // channels closed, by id bit
	waitDone          bool  // a Wait returned
	waitSaw           int8  // the failure it returned
	bad               int8  // a task started after Wait returned (1) or after the stop (2)
	badProc, badSlot  int8
	procs             [gMaxProcs]gProc
}

// Program counters.
const (
	gpDone int8 = iota
	// caller
	gpGive
	gpWait1
	gpWait2
	gpWaitRun
	gpPark1
	gpPark2
	gpPark3
	gpParkRun
	gpParkSleep
	gpPark6
	// worker
	gpClaim
	// runner: runGroupTask and finish
	gpCheckErr
	gpCheckParent
	gpBody
	gpRecord
	gpRecord2
	gpAfterBody
	gpFin1
	gpFin2
	gpFin3
	gpFinBug
	// Go
	gpGo1
	gpGo2
	gpGo3
	gpGo4
	// others
	gpEnd
	gpCancel
	gpCancel2
)

type gChecker struct {
	cfg     *gConfig
	visited map[uint64]struct{}
	seed    maphash.Seed
	path    []pathStep
	fail    string
	ends    int
	limit   int
	limited bool
}

func (c *gChecker) has(b gBug) bool { return c.cfg.bugs&b != 0 }

func (c *gChecker) stopped(s *gState) bool { return s.err != gNone || s.parentDone }

func (c *gChecker) initial() gState {
	var s gState
	for i, pc := range c.cfg.procs {
		p := &s.procs[i]
		p.slot, p.giving = none, none
		switch pc.role {
		case gCaller:
			p.pc = gpGive
		case gWorker:
			p.pc = gpClaim
		case gEnder:
			p.pc = gpEnd
		case gCancels:
			p.pc = gpCancel
		}
	}
	return s
}

// claimable lists the slots a runner may claim.
func (c *gChecker) claimable(s *gState) []int8 {
	var out []int8
	for i := range c.cfg.bodies {
		if sl := &s.slots[i]; sl.published && !sl.claimed {
			out = append(out, int8(i))
		}
	}
	return out
}

// runThen starts the run of a claimed slot, returning to ret.
func (c *gChecker) runThen(p *gProc, slot, ret int8) {
	p.slot, p.ret, p.armed = slot, ret, false
	p.pc = gpCheckErr
	if c.has(gBugNoStopCheck) {
		p.pc = gpBody // unarmed: the invariant catches a start after the stop
	}
}

// goThen starts Go for slot k, returning to ret.
func (c *gChecker) goThen(p *gProc, k, ret int8) {
	p.giving, p.goRet, p.pc = k, ret, gpGo1
}

// poke is Group.poke: one locked section.
func poke(s *gState) {
	if s.wake != 0 {
		s.closed |= 1 << s.wake
		s.wake = 0
	}
}

func (c *gChecker) steps(s0 *gState, id int) []next2 {
	p0 := &s0.procs[id]
	var out []next2
	stepf := func(label string, a, b int8, f func(s *gState, p *gProc)) {
		s := *s0
		f(&s, &s.procs[id])
		out = append(out, next2{s, label, a, b})
	}
	step := func(label string, f func(s *gState, p *gProc)) { stepf(label, 0, 0, f) }
	switch p0.pc {
	case gpDone:
		return nil

	// ---- the caller: Go for each slot, then Wait ----
	case gpGive:
		slots := c.cfg.procs[id].slots
		if int(p0.next) == len(slots) {
			step("caller: Wait()", func(s *gState, p *gProc) { p.pc = gpWait1 })
			break
		}
		step("caller: g.Go(slot %d)", func(s *gState, p *gProc) {
			k := slots[p.next]
			p.next++
			c.goThen(p, k, gpGive)
		})
		out[len(out)-1].a = slots[p0.next]
	case gpWait1:
		step("Wait: idle(): finished.Load()", func(s *gState, p *gProc) { p.saw, p.pc = s.finished, gpWait2 })
	case gpWait2:
		step("Wait: idle(): started.Load()", func(s *gState, p *gProc) {
			if p.saw == s.started {
				s.waitDone, s.waitSaw = true, s.err
				// Wait cancels the context: with the failure, or
				// context.Canceled.
				if s.ctxCause == gNone {
					s.ctxCause = gCauseWait
					if s.err != gNone {
						s.ctxCause = s.err
					}
				}
				p.pc = gpDone
				return
			}
			p.pc = gpWaitRun
		})
	case gpWaitRun, gpParkRun:
		inPark := p0.pc == gpParkRun
		ks := c.claimable(s0)
		if len(ks) == 0 {
			step("runGroup: no unclaimed task of g", func(s *gState, p *gProc) {
				if inPark {
					p.pc = gpParkSleep
					return
				}
				p.pc = gpPark1
				if c.has(gBugSleeperLooksFirst) {
					p.pc = gpPark2 // looks first, counts itself at gpParkSleep
				}
			})
			break
		}
		for _, k := range ks {
			stepf("runGroup: claimOwn(slot %d)", k, 0, func(s *gState, p *gProc) {
				s.slots[k].claimed = true
				ret := gpWait1
				if inPark {
					ret = gpPark6
				}
				c.runThen(p, k, ret)
			})
		}
	case gpPark1:
		step("park: mu.Lock(); make wake if nil; sleepers.Add(1); mu.Unlock()", func(s *gState, p *gProc) {
			if s.wake == 0 {
				s.nextCh++
				s.wake = s.nextCh
			}
			p.ch = s.wake
			s.sleepers++
			p.pc = gpPark2
			if c.has(gBugSleeperLooksFirst) {
				p.pc = gpParkSleep
			}
		})
	case gpPark2:
		step("park: ready(g): finished.Load()", func(s *gState, p *gProc) { p.saw, p.pc = s.finished, gpPark3 })
	case gpPark3:
		step("park: ready(g): started.Load()", func(s *gState, p *gProc) {
			if p.saw == s.started {
				p.pc = gpPark6
				if c.has(gBugSleeperLooksFirst) {
					p.pc = gpWait1 // not counted yet
				}
				return
			}
			p.pc = gpParkRun
			if c.has(gBugSleeperLooksFirst) {
				p.pc = gpPark1
			}
		})
	case gpParkSleep:
		if s0.closed&(1<<p0.ch) == 0 {
			break
		}
		step("park: <-ch returns", func(s *gState, p *gProc) { p.pc = gpPark6 })
	case gpPark6:
		step("park: sleepers.Add(-1)", func(s *gState, p *gProc) { s.sleepers--; p.ch = 0; p.pc = gpWait1 })

	// ---- a worker ----
	case gpClaim:
		for _, k := range c.claimable(s0) {
			stepf("worker: claimOne(slot %d)", k, 0, func(s *gState, p *gProc) {
				s.slots[k].claimed = true
				c.runThen(p, k, gpClaim)
			})
		}

	// ---- runGroupTask ----
	case gpCheckErr:
		step("runGroupTask: g.stopped(): err.Load()", func(s *gState, p *gProc) {
			if s.err != gNone {
				s.slots[p.slot].skipped = true
				p.pc = gpFin1
				return
			}
			p.pc = gpCheckParent
			if c.has(gBugParentUnseen) {
				// Armed only if the parent had not ended either: the
				// invariant judges by the contract, not by the look.
				p.armed, p.pc = !s.parentDone, gpBody
			}
		})
	case gpCheckParent:
		step("runGroupTask: g.stopped(): select <-parentDone", func(s *gState, p *gProc) {
			if s.parentDone {
				c.record(s, p, gParent)
				s.slots[p.slot].skipped = true
				p.pc = gpFin1
				return
			}
			p.armed, p.pc = true, gpBody
		})
	case gpBody:
		stepf("task of slot %d starts", p0.slot, 0, func(s *gState, p *gProc) {
			sl := &s.slots[p.slot]
			sl.ran++
			switch {
			case s.waitDone:
				s.bad = 1
			case c.stopped(s) && !p.armed:
				s.bad = 2
			}
			s.badProc, s.badSlot = int8(id), p.slot
			p.armed = false
			switch c.cfg.bodies[p.slot] {
			case gOK:
				p.pc = gpFin1
			case gFail:
				p.fail, p.pc = gErr, gpRecord
				if c.has(gBugCancelBeforeRecord) {
					p.pc = gpRecord2
				}
			case gCancel:
				p.fail, p.pc = gCanceled, gpRecord
				if c.has(gBugCancelBeforeRecord) {
					p.pc = gpRecord2
				}
			case gGoSlot2, gGoSlot2F:
				c.goThen(p, 2, gpAfterBody)
			}
		})
	case gpAfterBody:
		step("task returns", func(s *gState, p *gProc) {
			if c.cfg.bodies[p.slot] == gGoSlot2F {
				p.fail, p.pc = gErr, gpRecord
				return
			}
			p.pc = gpFin1
		})
	case gpRecord:
		step("record: err.CompareAndSwap(nil, f)", func(s *gState, p *gProc) {
			p.won = s.err == gNone
			if p.won {
				s.err = p.fail
			}
			p.pc = gpRecord2
			if c.has(gBugCancelBeforeRecord) {
				p.pc = gpFin1
			}
		})
	case gpRecord2:
		step("record: g.cancel(f.err) if first", func(s *gState, p *gProc) {
			if (p.won || c.has(gBugCancelBeforeRecord)) && s.ctxCause == gNone {
				s.ctxCause = p.fail
			}
			p.pc = gpFin1
			if c.has(gBugCancelBeforeRecord) {
				p.pc = gpRecord
			}
		})

	// ---- finish of a group's slot: taskDone ----
	case gpFin1:
		if c.has(gBugFinishLooksFirst) {
			step("taskDone (bug): sleepers.Load() first", func(s *gState, p *gProc) { p.sawS, p.pc = s.sleepers > 0, gpFinBug })
			break
		}
		step("taskDone: finished.Add(1)", func(s *gState, p *gProc) {
			s.slots[p.slot].finished = true
			s.finished++
			p.saw, p.pc = s.finished, gpFin2
		})
	case gpFinBug:
		step("taskDone (bug): finished.Add(1); started.Load(); poke if seen", func(s *gState, p *gProc) {
			s.slots[p.slot].finished = true
			s.finished++
			if p.sawS && s.finished == s.started {
				poke(s)
			}
			p.slot, p.pc = none, p.ret
		})
	case gpFin2:
		step("taskDone: sleepers.Load() > 0", func(s *gState, p *gProc) {
			if s.sleepers > 0 {
				p.pc = gpFin3
				return
			}
			p.slot, p.pc = none, p.ret
		})
	case gpFin3:
		step("taskDone: n == started.Load(): poke()", func(s *gState, p *gProc) {
			if p.saw == s.started {
				poke(s)
			}
			p.slot, p.pc = none, p.ret
		})

	// ---- Go(fn) for slot p.giving ----
	case gpGo1:
		step("Go: g.stopped()", func(s *gState, p *gProc) {
			if s.err != gNone {
				s.slots[p.giving].refused = true
				p.giving, p.pc = none, p.goRet
				return
			}
			if s.parentDone {
				c.record(s, p, gParent)
				s.slots[p.giving].refused = true
				p.giving, p.pc = none, p.goRet
				return
			}
			p.pc = gpGo2
			if c.has(gBugCountAfterPublish) {
				p.pc = gpGo3
			}
		})
	case gpGo2:
		step("Go: started.Add(1)", func(s *gState, p *gProc) {
			s.started++
			s.slots[p.giving].given = true
			p.pc = gpGo3
			if c.has(gBugCountAfterPublish) {
				p.pc = gpGo4
			}
		})
	case gpGo3:
		step("Go: publish(slot)", func(s *gState, p *gProc) {
			s.slots[p.giving].published = true
			p.pc = gpGo4
			if c.has(gBugCountAfterPublish) {
				p.pc = gpGo2
			}
		})
	case gpGo4:
		step("Go: sleepers.Load() > 0: poke()", func(s *gState, p *gProc) {
			if s.sleepers > 0 {
				poke(s)
			}
			p.giving, p.pc = none, p.goRet
		})

	// ---- the parent context ends; Cancel ----
	case gpEnd:
		step("the parent context ends", func(s *gState, p *gProc) {
			s.parentDone = true
			if s.ctxCause == gNone {
				s.ctxCause = gParent // the derived context ends with it
			}
			p.pc = gpDone
		})
	case gpCancel:
		step("g.Cancel(): record(canceled)", func(s *gState, p *gProc) {
			p.fail, p.pc = gCanceled, gpCancel2
			p.won = s.err == gNone
			if p.won {
				s.err = gCanceled
			}
		})
	case gpCancel2:
		step("Cancel: g.cancel(ErrCanceled) if first", func(s *gState, p *gProc) {
			if p.won && s.ctxCause == gNone {
				s.ctxCause = gCanceled
			}
			p.pc = gpDone
		})
	default:
		panic(fmt.Sprintf("group model: pc %d has no step", p0.pc))
	}
	return out
}

// record is Group.record done in one step, where a runner or Go saw the
// parent's end (the CAS and the cancel; the context ended already).
func (c *gChecker) record(s *gState, p *gProc, f int8) {
	if s.err == gNone {
		s.err = f
	}
}

type next2 struct {
	s     gState
	label string
	a, b  int8
}

// check reports the first invariant s breaks.
func (c *gChecker) check(s *gState) string {
	switch s.bad {
	case 1:
		return fmt.Sprintf("proc %d started the task of slot %d after Wait returned", s.badProc, s.badSlot)
	case 2:
		return fmt.Sprintf("proc %d started the task of slot %d after the group stopped", s.badProc, s.badSlot)
	}
	for i := range c.cfg.bodies {
		sl := &s.slots[i]
		if sl.ran > 1 {
			return fmt.Sprintf("slot %d ran %d times", i, sl.ran)
		}
		if s.waitDone && sl.given && !sl.finished {
			return fmt.Sprintf("Wait returned before slot %d, given to the group, finished", i)
		}
	}
	if s.started < s.finished {
		return fmt.Sprintf("finished %d > started %d", s.finished, s.started)
	}
	if s.waitDone && s.waitSaw != gNone && s.waitSaw != s.err {
		return fmt.Sprintf("the first failure changed after Wait returned it (%d, now %d)", s.waitSaw, s.err)
	}
	if s.err != gNone && s.ctxCause != gNone && s.ctxCause != gParent && s.ctxCause != gCauseWait && s.ctxCause != s.err {
		return fmt.Sprintf("the context ended with failure %d, but the first failure is %d", s.ctxCause, s.err)
	}
	return ""
}

// checkEnd: in an end state every proc but the workers is done, every
// task given has finished, and no task that could run is left unclaimed.
func (c *gChecker) checkEnd(s *gState) string {
	for id, pc := range c.cfg.procs {
		p := &s.procs[id]
		if p.pc == gpDone || pc.role == gWorker && p.pc == gpClaim {
			continue
		}
		return fmt.Sprintf("proc %d is blocked for good at pc %d: a lost wake-up", id, p.pc)
	}
	for i := range c.cfg.bodies {
		if sl := &s.slots[i]; sl.given && !sl.finished {
			return fmt.Sprintf("slot %d was given but never finished", i)
		}
	}
	return ""
}

// canon clears what no later step reads.
func (c *gChecker) canon(s *gState) {
	for id := range c.cfg.procs {
		p := &s.procs[id]
		if p.pc == gpDone {
			*p = gProc{pc: gpDone, slot: none, giving: none}
			continue
		}
		switch p.pc {
		case gpWait2, gpPark3, gpFin2, gpFin3:
		default:
			p.saw = 0
		}
		if p.pc != gpFinBug {
			p.sawS = false
		}
		if p.pc != gpRecord2 && p.pc != gpCancel2 && !(p.pc == gpRecord && c.has(gBugCancelBeforeRecord)) {
			p.won = false
		}
		if p.pc < gpRecord || p.pc > gpRecord2 {
			if p.pc != gpCancel2 && p.fail > 0 {
				p.fail = 0
			}
		}
		if p.pc < gpGo1 || p.pc > gpGo4 {
			p.goRet = 0
		}
		if p.slot == none {
			p.ret = 0
		}
		if p.pc != gpParkSleep && p.pc != gpPark2 && p.pc != gpPark3 && p.pc != gpParkRun && p.pc != gpPark6 {
			p.ch = 0
		}
	}
}

func (c *gChecker) seen(s *gState) bool {
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

func (c *gChecker) dfs(s *gState) {
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

func (c *gChecker) report(msg string) {
	c.fail = interleaving(c.cfg.name, msg, c.path, func(i int, st pathStep) (string, string) {
		return fmt.Sprintf("p%d", st.id), gRoleName(c.cfg.procs[st.id].role)
	})
}

func gRoleName(r gRole) string { return [...]string{"caller", "worker", "parent", "canceler"}[r] }

func (c *gChecker) run() string {
	s := c.initial()
	c.seen(&s)
	c.dfs(&s)
	return c.fail
}

func newGChecker(cfg *gConfig) *gChecker {
	return &gChecker{cfg: cfg, visited: map[uint64]struct{}{}, seed: maphash.MakeSeed(), limit: stateLimit}
}

var gConfigs = []gConfig{
	{
		name:   "group: 1 worker; the caller gives 2 tasks, the first failing, and Waits",
		bodies: []gBody{gFail, gOK},
		procs:  []gProcCfg{{role: gCaller, slots: []int8{0, 1}}, {role: gWorker}},
	},
	{
		name:   "group: 1 worker; task 0 gives task 2 from inside and fails, task 1 Cancels; the caller Waits",
		bodies: []gBody{gGoSlot2F, gCancel, gOK},
		procs:  []gProcCfg{{role: gCaller, slots: []int8{0, 1}}, {role: gWorker}},
	},
	{
		name:   "group: 2 workers; task 0 gives task 2 from inside; the caller Waits",
		bodies: []gBody{gGoSlot2, gOK, gOK},
		procs:  []gProcCfg{{role: gCaller, slots: []int8{0, 1}}, {role: gWorker}, {role: gWorker}},
	},
	{
		name:   "group with context: 1 worker; 2 tasks, the parent ends, a Cancel; the caller Waits",
		bodies: []gBody{gOK, gFail},
		procs:  []gProcCfg{{role: gCaller, slots: []int8{0, 1}}, {role: gWorker}, {role: gEnder}, {role: gCancels}},
	},
}

// TestGroupModel checks every interleaving of each group configuration.
func TestGroupModel(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for _, cfg := range gConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c := newGChecker(&cfg)
			if msg := c.run(); msg != "" {
				t.Fatal(msg)
			}
			t.Logf("%d states, %d end states, in %v", len(c.visited), c.ends, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestGroupModelCatchesPlantedBugs: each planted bug in the group's
// protocol makes at least one configuration fail.
func TestGroupModelCatchesPlantedBugs(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for b := gBug(1); b <= gBugParentUnseen; b <<= 1 {
		t.Run(gBugNames[b], func(t *testing.T) {
			t.Parallel()
			for _, cfg := range gConfigs {
				cfg.bugs = b
				c := newGChecker(&cfg)
				c.limit = 2_000_000
				if msg := c.run(); msg != "" && !c.limited {
					t.Logf("caught after %d states:\n%s", len(c.visited), msg)
					return
				}
			}
			t.Fatalf("no configuration caught the planted bug %q", gBugNames[b])
		})
	}
}
