package model

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"
	"unsafe"
)

// The loops' hand-off (loop.go, loopsched.go): the caller runs indices
// [0, k) inline, then publishes [k, n) as one range record of blocks
// (loop.blocks, loop.publish) and helps run it while the workers claim
// blocks, then sleeps on the record as TaskFuture.Wait does. One step per
// atomic operation or locked section; k is any of 0..n (the timing that
// picks it is not modelled: every choice is checked).
//
// What it covers: the boundary between what runs inline and what is
// handed out (every index exactly once), the publish and the wake-up
// decision after it against a worker on its way to sleep (park), the
// workers' and the caller's claims of blocks, the finish and the caller's
// sleep, and a worker's spin (worker.spin) after the previous loop's block:
// it counts itself searching, so that the caller's wake-up decision leaves
// the record to it. What it leaves out: the waiter's spin before it sleeps
// (TaskFuture.spinDone: looks at done() that change no state), the queue (the record is the only one), the
// yield after the wake-up (a scheduling hint: it changes no shared
// state), and failures (a loop's error and panic paths are those of a
// range record, checked by the pool's model and the Goexit checker).

const (
	hN       = 4 // indices
	hBlocks  = 2 // blocks of the hand-off, as loop.blocks makes on 2 cores
	hWorkers = 2
	hProcs   = 1 + hWorkers
)

type hBug uint8

const (
	hBugOverlap           hBug = 1 << iota // the hand-off starts one index early: index k-1 runs twice
	hBugGap                                // the hand-off starts one index late: index k never runs
	hBugWakeBeforePublish                  // the caller decides on the wake-up before it publishes
	hBugSpinLeak                           // a spinner that times out parks as not searching, leaving searching counted
)

var hBugNames = map[hBug]string{
	hBugOverlap:           "an index run twice at the hand-off",
	hBugGap:               "an index never run",
	hBugWakeBeforePublish: "a hand-off whose wake-up is lost",
	hBugSpinLeak:          "a spin that leaves its searching count behind",
}

type hProc struct {
	pc        int8
	i         int8 // the next index to run
	hi        int8 // the end of the block being run
	searching bool
	ranRange  bool // the worker's last chunk was a range's: it may spin
	k         int8 // the caller's hand-off point
}

type hState struct {
	ran              [hN]int8
	published        bool
	from             int8 // the first index of the record
	cursor, finished int8 // blocks claimed, blocks finished
	sleepers
	mu                 int8 // none, or the proc holding Pool.mu
	ext, closed        bool
	spinner            int8 // the worker holding Pool.spinning, or none
	decided            bool // the caller has made its wake-up decision for the record
	sawSearch, sawIdle int8 // what the caller's decision loaded (bug order)
	procs              [hProcs]hProc
}

const (
	hpDone int8 = iota
	// caller
	hpChoose
	hpInline
	hpPublish
	hpSearch
	hpIdle
	hpWake
	hpHelp
	hpRun
	hpFinish
	hpSleep1
	hpSleep2
	hpSleep3
	hpSleep4
	// worker
	hpFront
	hpPark
	hpPark2
	hpParkLoop
	hpParkWoken
	hpWRun
	hpWFinish
	hpFound
	hpFound2
	hpFoundWake
	hpSpin
)

type hConfig struct {
	name string
	bugs hBug
}

type hChecker struct {
	cfg     *hConfig
	visited map[uint64]struct{}
	seed    maphash.Seed
	path    []pathStep
	fail    string
	ends    int
	limit   int
	limited bool
}

func (c *hChecker) has(b hBug) bool { return c.cfg.bugs&b != 0 }

// block returns the indices [lo, hi) of block b of a record from s.from.
func (c *hChecker) block(s *hState, b int8) (lo, hi int8) {
	rem := max(hN-s.from, 1)
	g := (rem + hBlocks - 1) / hBlocks
	lo, hi = s.from+b*g, min(s.from+(b+1)*g, hN)
	return lo, max(lo, hi)
}

func (c *hChecker) blocks(s *hState) int8 {
	rem := hN - s.from
	if rem <= 0 {
		return 0
	}
	g := (rem + hBlocks - 1) / hBlocks
	return (rem + g - 1) / g
}

func (c *hChecker) unclaimed(s *hState) bool { return s.published && s.cursor < c.blocks(s) }

func (c *hChecker) steps(s0 *hState, id int) []hNext {
	p0 := &s0.procs[id]
	var out []hNext
	stepf := func(label string, a, b int8, f func(s *hState, p *hProc)) {
		s := *s0
		f(&s, &s.procs[id])
		out = append(out, hNext{s, label, a, b})
	}
	step := func(label string, f func(s *hState, p *hProc)) { stepf(label, 0, 0, f) }
	me := uint8(1) << id
	free := s0.mu == none
	switch p0.pc {
	case hpDone:
		return nil

	// ---- the caller: loop.run, handOff, publish, Wait ----
	case hpChoose:
		for k := int8(0); k <= hN; k++ {
			stepf("loop.run: the timing hands off at k = %d", k, 0, func(s *hState, p *hProc) {
				p.k, p.i, p.pc = k, 0, hpInline
			})
		}
	case hpInline:
		if p0.i < p0.k {
			stepf("loop.call: index %d runs inline", p0.i, 0, func(s *hState, p *hProc) { s.ran[p.i]++; p.i++ })
			break
		}
		step("loop.run returns k", func(s *hState, p *hProc) {
			switch {
			case p.k == hN:
				p.pc = hpDone
			case c.has(hBugWakeBeforePublish):
				p.pc = hpSearch
			default:
				p.pc = hpPublish
			}
		})
	case hpPublish:
		step("publish: p.submit stores the range record over [k, n)", func(s *hState, p *hProc) {
			s.from = p.k
			switch {
			case c.has(hBugOverlap) && p.k > 0:
				s.from = p.k - 1
			case c.has(hBugGap):
				s.from = p.k + 1
			}
			s.published = true
			p.pc = hpSearch
			if c.has(hBugWakeBeforePublish) {
				p.pc = hpWake
				if s.sawSearch != 0 || s.sawIdle == 0 {
					s.decided, p.pc = true, hpHelp
				}
			}
		})
	case hpSearch:
		step("submit: searching.Load() == 0", func(s *hState, p *hProc) {
			s.sawSearch = s.searching
			p.pc = hpIdle
		})
	case hpIdle:
		step("submit: idle.Load() > 0", func(s *hState, p *hProc) {
			s.sawIdle = s.idle
			if c.has(hBugWakeBeforePublish) {
				p.pc = hpPublish
				return
			}
			p.pc = hpWake
			if s.sawSearch != 0 || s.sawIdle == 0 {
				s.decided, p.pc = true, hpHelp
			}
		})
	case hpWake:
		if !free {
			break
		}
		for _, w := range signalChoices(s0.condWait) {
			step("wake: mu.Lock(); idle > 0 && searching == 0: Signal; mu.Unlock()", func(s *hState, p *hProc) {
				s.wake(w)
				s.decided = true
				p.pc = hpHelp
			})
		}
	case hpHelp:
		if s0.cursor >= c.blocks(s0) {
			step("help: nothing left to claim; sleepOn", func(s *hState, p *hProc) {
				s.decided = true
				p.pc = hpSleep1
			})
			break
		}
		step("help: claim() takes block %d", func(s *hState, p *hProc) {
			p.i, p.hi = c.block(s, s.cursor)
			s.cursor++
			p.pc = hpRun
		})
		out[len(out)-1].a = s0.cursor
	case hpRun, hpWRun:
		if p0.i < p0.hi {
			stepf("runChunk: index %d of the record runs", p0.i, 0, func(s *hState, p *hProc) { s.ran[p.i]++; p.i++ })
			break
		}
		step("finish: finished.Add(1); close ext if the last", func(s *hState, p *hProc) {
			s.finished++
			if s.finished == c.blocks(s) && s.ext {
				s.closed = true
			}
			if p.pc == hpRun {
				p.pc = hpHelp
				return
			}
			p.pc = hpFront
		})
	case hpSleep1:
		step("sleepOn: done()", func(s *hState, p *hProc) {
			p.pc = hpSleep2
			if s.finished == c.blocks(s) {
				p.pc = hpDone
			}
		})
	case hpSleep2:
		step("sleepOn: extras() installs ext", func(s *hState, p *hProc) { s.ext = true; p.pc = hpSleep3 })
	case hpSleep3:
		step("sleepOn: done() again", func(s *hState, p *hProc) {
			p.pc = hpSleep4
			if s.finished == c.blocks(s) {
				p.pc = hpDone
			}
		})
	case hpSleep4:
		if !s0.closed {
			break
		}
		step("<-x.done returns", func(s *hState, p *hProc) { p.pc = hpDone })

	// ---- a worker: loop, park, foundWork ----
	case hpFront:
		if c.unclaimed(s0) {
			step("loop: bt.claim() takes block %d", func(s *hState, p *hProc) {
				p.i, p.hi = c.block(s, s.cursor)
				s.cursor++
				p.pc = hpWRun
				p.ranRange = true
				if s.spinner == int8(id) {
					s.spinner = none // the spin found the record
				}
				if p.searching {
					p.pc = hpFound
				}
			})
			out[len(out)-1].a = s0.cursor
			break
		}
		if p0.ranRange && !p0.searching && s0.spinner == none {
			step("loop: q.front() finds nothing after a range's chunk: spin", func(s *hState, p *hProc) {
				p.ranRange = false
				s.spinner = int8(id)
				p.pc = hpSpin
			})
		}
		step("loop: q.front() finds nothing: park", func(s *hState, p *hProc) {
			p.ranRange = false
			if s.spinner == int8(id) {
				s.spinner = none // the spin timed out: spinning.Store(false)
				if c.has(hBugSpinLeak) {
					p.searching = false
				}
			}
			p.pc = hpPark
		})
	case hpSpin:
		if !free {
			break
		}
		// The spin's looks are hpFront's: a look that finds nothing
		// changes no state, so one look stands for any number.
		step("spin: mu.Lock(); searching.Add(1); mu.Unlock()", func(s *hState, p *hProc) {
			s.searching++
			p.searching, p.pc = true, hpFront
		})
	case hpFound:
		step("foundWork: searching.Add(-1)", func(s *hState, p *hProc) {
			p.searching = false
			s.searching--
			p.pc = hpWRun
			if s.searching == 0 {
				p.pc = hpFound2
			}
		})
	case hpFound2:
		step("foundWork: idle.Load() > 0 && !q.empty()", func(s *hState, p *hProc) {
			p.pc = hpWRun
			if s.idle > 0 && c.unclaimed(s) {
				p.pc = hpFoundWake
			}
		})
	case hpFoundWake:
		if !free {
			break
		}
		for _, w := range signalChoices(s0.condWait) {
			step("foundWork: wake()", func(s *hState, p *hProc) {
				s.wake(w)
				p.pc = hpWRun
			})
		}
	case hpPark:
		if !free {
			break
		}
		step("park: mu.Lock(); searching.Add(-1) if searching", func(s *hState, p *hProc) {
			s.mu = int8(id)
			if p.searching {
				s.searching--
				p.searching = false
			}
			p.pc = hpPark2
		})
	case hpPark2:
		step("park: idle.Add(1)", func(s *hState, p *hProc) { s.idle++; p.pc = hpParkLoop })
	case hpParkLoop:
		step("park: wakeups > 0, else !q.empty(), else work.Wait()", func(s *hState, p *hProc) {
			switch {
			case s.wakeups > 0:
				s.wakeups--
				p.searching, p.pc = true, hpFront
			case c.unclaimed(s):
				s.idle--
				s.searching++
				p.searching, p.pc = true, hpFront
			default:
				s.condWait |= me
				p.pc = hpParkWoken
			}
			s.mu = none
		})
	case hpParkWoken:
		if s0.woken&me == 0 || !free {
			break
		}
		step("park: work.Wait() returns (mu relocked)", func(s *hState, p *hProc) {
			s.woken &^= me
			s.mu = int8(id)
			p.pc = hpParkLoop
		})
	default:
		panic(fmt.Sprintf("hand-off model: pc %d has no step", p0.pc))
	}
	return out
}

type hNext struct {
	s     hState
	label string
	a, b  int8
}

// check: no index runs twice; and once the caller has decided on the
// wake-up for the published record, the workers do not all sleep while a
// block is unclaimed and no wake-up is on its way (the lost wake-up: it
// costs the loop its second core, though the caller still runs every
// block itself).
func (c *hChecker) check(s *hState) string {
	for i, k := range s.ran {
		if k > 1 {
			return fmt.Sprintf("index %d ran %d times", i, k)
		}
	}
	if s.decided && c.unclaimed(s) && s.wakeups == 0 {
		for id := 1; id < hProcs; id++ {
			if p := &s.procs[id]; p.pc != hpParkWoken || s.woken&(1<<id) != 0 {
				return "" // this worker will look at the queue again
			}
		}
		return "every worker sleeps while the handed-out record has an unclaimed block and no wake-up is on its way"
	}
	return ""
}

func (c *hChecker) checkEnd(s *hState) string {
	if p := &s.procs[0]; p.pc != hpDone {
		return fmt.Sprintf("the caller is blocked for good at pc %d", p.pc)
	}
	for i, k := range s.ran {
		if k != 1 {
			return fmt.Sprintf("the loop returned with index %d run %d times", i, k)
		}
	}
	return ""
}

func (c *hChecker) seen(s *hState) bool {
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

func (c *hChecker) dfs(s *hState) {
	any := false
	for id := range hProcs {
		for _, nx := range c.steps(s, id) {
			any = true
			c.path = append(c.path, pathStep{id, nx.label, nx.a, nx.b})
			if msg := c.check(&nx.s); msg != "" {
				c.report(msg)
			} else if !c.seen(&nx.s) {
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

func (c *hChecker) report(msg string) {
	c.fail = interleaving(c.cfg.name, msg, c.path, func(_ int, st pathStep) (string, string) {
		if st.id == 0 {
			return "p0", "caller"
		}
		return fmt.Sprintf("p%d", st.id), "worker"
	})
}

func (c *hChecker) run() string {
	var s hState
	s.mu, s.spinner = none, none
	s.procs[0].pc = hpChoose
	for id := 1; id < hProcs; id++ {
		// Each worker has just run a block of the loop before: it may
		// spin (worker.spin) before it sleeps.
		s.procs[id].pc = hpFront
		s.procs[id].ranRange = true
	}
	c.seen(&s)
	c.dfs(&s)
	return c.fail
}

func newHChecker(cfg *hConfig) *hChecker {
	return &hChecker{cfg: cfg, visited: map[uint64]struct{}{}, seed: maphash.MakeSeed(), limit: stateLimit}
}

var hConfig0 = hConfig{name: "loop hand-off: a caller over 4 indices, inline up to any k, 2 blocks after, 2 workers"}

func TestHandOffModel(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	start := time.Now()
	c := newHChecker(&hConfig0)
	if msg := c.run(); msg != "" {
		t.Fatal(msg)
	}
	t.Logf("%s: %d states, %d end states, in %v", hConfig0.name, len(c.visited), c.ends, time.Since(start).Round(time.Millisecond))
}

func TestHandOffModelCatchesPlantedBugs(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for b := hBug(1); b <= hBugSpinLeak; b <<= 1 {
		t.Run(hBugNames[b], func(t *testing.T) {
			cfg := hConfig0
			cfg.bugs = b
			c := newHChecker(&cfg)
			c.limit = 2_000_000
			if msg := c.run(); msg == "" || c.limited {
				t.Fatalf("the model did not catch the planted bug %q", hBugNames[b])
			} else {
				t.Logf("caught after %d states:\n%s", len(c.visited), msg)
			}
		})
	}
}
