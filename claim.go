package zeropool

// claimOne claims the task of a single-task slot, against the workers
// whose runs include the slot, against its waiter, and against Cancel:
// exactly one caller ever gets true. It is false for a batch.
func (t *task) claimOne() bool {
	v := t.state.Load()
	return v&(pubOne|stClaimed) == pubOne && t.state.CompareAndSwap(v, v|stClaimed)
}

// claimOwn is claimOne for t's own waiter: the claim also marks t as run
// by its waiter (stByWaiter), at no cost beyond the CAS it already makes.
func (t *task) claimOwn() bool {
	v := t.state.Load()
	return v&(pubOne|stClaimed) == pubOne && t.state.CompareAndSwap(v, v|stClaimed|stByWaiter)
}

// claim takes the next chunk [lo, hi) of unclaimed tasks. Chunks are a
// share of what is left, so they start large, which keeps claims (a
// contended CAS each) rare on big batches of small tasks, and shrink to
// single tasks near the end, which keeps the load balanced when tasks are
// slow. Once a chunk has shown how long a task takes, no chunk is claimed
// that would take longer than chunkBudget.
func (b *batchTask) claim() (lo, hi int, ok bool) {
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c >= n {
			return 0, 0, false
		}
		k := (n - c) / b.pool.split
		if ns := b.nsPerTask.Load(); ns > 0 {
			k = min(k, chunkBudget/ns)
		}
		if k < 1 {
			k = 1
		}
		if b.cursor.CompareAndSwap(c, c+k) {
			return int(c), int(c + k), true
		}
	}
}

// chunkBudget bounds, in nanoseconds, how long a chunk claimed once a
// batch's task time is known may take. A goroutine in Wait runs chunks
// beside the workers, so the runners can outnumber the cores, and one the
// scheduler preempts while it holds a chunk leaves that chunk for last,
// run alone while other cores idle: the budget bounds that loss.
const chunkBudget = 200_000

// claimRest claims every task of t not yet claimed and returns how many
// that was: the tasks Cancel and refuse keep from running. With all, it
// claims only if no task of t has been claimed yet. A batch it claims
// from is stopped (see batchTask.cursor).
func (t *task) claimRest(all bool) int {
	b := t.batch()
	if b == nil {
		if t.claimOne() {
			return 1
		}
		return 0
	}
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c >= n || all && c > 0 {
			return 0
		}
		if b.cursor.CompareAndSwap(c, n+1) {
			return int(n - c)
		}
	}
}

// stop stops b, even if every task is claimed already, and returns how
// many unclaimed tasks that kept from running.
func (b *batchTask) stop() int {
	n := int64(b.n)
	for {
		c := b.cursor.Load()
		if c > n {
			return 0
		}
		if b.cursor.CompareAndSwap(c, n+1) {
			return int(n - c)
		}
	}
}

// stopped reports whether b is stopped: the runner of an error task
// starts no task of b once it is.
func (b *batchTask) stopped() bool { return b.cursor.Load() > int64(b.n) }
