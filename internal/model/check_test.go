package model

import (
	"cmp"
	"slices"
	"testing"
	"time"
)

// The configurations the check covers. Records are numbered in order;
// procs name the record they submit, wait on or cancel. Together they
// take every protocol through its races: a wake-up against a worker on its
// way to sleep, a slot claimed by a worker's run, its waiter and Cancel,
// a waiter going to sleep against completion, two waiters installing
// their channels on one future, the sweep a waiter runs after its batch
// against workers and Close, Close against submits and waiters, and the
// error stop. The smallest come first: the planted bugs are looked for in
// this order.
var configs = []config{
	{
		name: "wake-up: 2 workers, 2 submitters of a single each, nobody waits",
		recs: []recCfg{{kind: kSingle, n: 1}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0}, {role: submitter, rec: 1},
		},
	},
	{
		name: "two waiters: 1 worker, a single waited with WaitContext by its submitter and by another goroutine",
		recs: []recCfg{{kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker},
			{role: submitter, rec: 0, wait: waitCtx}, {role: waiter, rec: 0, wait: waitCtx},
		},
	},
	{
		name: "two waiters: 1 worker, a batch of 2 waited with Wait by its submitter and with WaitContext by another, Close",
		recs: []recCfg{{kind: kBatch, n: 2}},
		procs: []procCfg{
			{role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: waiter, rec: 0, wait: waitCtx},
			{role: closer},
		},
	},
	{
		name: "close: 1 worker, a batch of 3 nobody waits on racing Close, a single waited with Wait",
		recs: []recCfg{{kind: kBatch, n: 3}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker},
			{role: submitter, rec: 0}, {role: submitter, rec: 1, wait: waitHelp},
			{role: closer},
		},
	},
	{
		name: "sweep: 1 worker, a batch of 2 and a single, each waited with Wait (the batch's sweeps), Close",
		recs: []recCfg{{kind: kBatch, n: 2}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: submitter, rec: 1, wait: waitHelp},
			{role: closer},
		},
	},
	{
		name: "slots: 2 workers; a single waited with Wait, another with WaitContext and canceled",
		recs: []recCfg{{kind: kSingle, n: 1}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: submitter, rec: 1, wait: waitCtx},
			{role: canceler, rec: 1},
		},
	},
	{
		name: "error stop: 2 workers, an error batch of 3 failing at task 0 (Wait), a Cancel, Close",
		recs: []recCfg{{kind: kBatch, n: 3, errTask: true, failAt: 0}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: canceler, rec: 0}, {role: closer},
		},
	},
	{
		name:    "batch: 2 workers, a batch of 3 waited with Wait and canceled, a single waited with WaitContext",
		big:     true,
		noSweep: true,
		recs:    []recCfg{{kind: kBatch, n: 3}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: submitter, rec: 1, wait: waitCtx},
			{role: canceler, rec: 0},
		},
	},
	{
		name:    "close: 2 workers, a batch of 3 (Wait) and a single racing Close, a Cancel",
		big:     true,
		noSweep: true,
		recs:    []recCfg{{kind: kBatch, n: 3}, {kind: kSingle, n: 1}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: submitter, rec: 1},
			{role: canceler, rec: 1}, {role: closer},
		},
	},
	{
		name: "error stop: 2 workers, an error batch of 3 failing at task 1, an error single (WaitContext)",
		big:  true,
		recs: []recCfg{{kind: kBatch, n: 3, errTask: true, failAt: 1}, {kind: kSingle, n: 1, errTask: true, failAt: 0}},
		procs: []procCfg{
			{role: worker}, {role: worker},
			{role: submitter, rec: 0, wait: waitHelp}, {role: submitter, rec: 1, wait: waitCtx},
		},
	},
}

// TestModel checks every interleaving of each configuration: about 21.6
// million states in all, about two minutes of CPU. It is skipped under the
// race detector (it has no concurrency of its own, and would take ten
// times as long: CI runs it without), and under -short it checks only the
// configurations of under two million states.
func TestModel(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			if cfg.big && testing.Short() {
				t.Skip("over two million states; skipped under -short")
			}
			t.Parallel()
			start := time.Now()
			c := newChecker(&cfg)
			if msg := c.run(); msg != "" {
				t.Fatal(msg)
			}
			t.Logf("%d states, %d end states, in %v", len(c.visited), c.ends, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestModelCatchesPlantedBugs: each planted bug must make the check fail
// in at least one configuration, well within a budget of states (a
// configuration that reaches the budget is passed over, not counted); the
// interleaving that caught it is printed.
func TestModelCatchesPlantedBugs(t *testing.T) {
	if raceEnabled {
		t.Skip("the model has no concurrency; CI runs it without -race")
	}
	for b := bug(1); b <= lastBug; b <<= 1 {
		t.Run(bugNames[b], func(t *testing.T) {
			t.Parallel()
			// The small configurations first: most bugs show there.
			order := slices.SortedStableFunc(slices.Values(configs), func(a, b config) int {
				return cmp.Compare(btoi(a.big), btoi(b.big))
			})
			for _, cfg := range order {
				cfg.bugs = b
				c := newChecker(&cfg)
				c.limit = 2_000_000
				if msg := c.run(); msg != "" && !c.limited {
					t.Logf("caught after %d states:\n%s", len(c.visited), msg)
					return
				}
			}
			t.Fatalf("no configuration caught the planted bug %q", bugNames[b])
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
