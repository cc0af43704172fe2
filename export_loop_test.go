package zeropool

// SetLoopEstimate sets the time an index of the loop body fn takes, as if
// measured: with ns large a loop of fn is handed to the pool before its
// first index, with ns tiny it runs inline without a clock read.
func SetLoopEstimate[F any](fn F, ns float64) {
	s := siteOf(fn)
	s.slot.Store(&siteEst{pc: s.pc, ns: ns, trusted: true})
}

// ForgetLoopEstimate drops fn's estimate: its next loop measures from the
// first index.
func ForgetLoopEstimate[F any](fn F) {
	s := siteOf(fn)
	s.slot.Store(nil)
}

// LoopEstimate returns fn's estimate in ns per index, 0 if none.
func LoopEstimate[F any](fn F) float64 {
	if e := siteOf(fn).load(); e != nil {
		return e.ns
	}
	return 0
}

// LoopEstimateSetter returns a func that sets fn's estimate as
// SetLoopEstimate does, without allocating, for AllocsPerRun.
func LoopEstimateSetter[F any](fn F, ns float64) func() {
	s := siteOf(fn)
	e := &siteEst{pc: s.pc, ns: ns, trusted: true}
	return func() { s.slot.Store(e) }
}

// SetYieldOnHandOff sets whether a loop's hand-off yields after it woke a
// worker, and returns the previous setting.
func SetYieldOnHandOff(on bool) bool {
	old := yieldOnHandOff
	yieldOnHandOff = on
	return old
}
