package zeropool

import (
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestClosingWorkerExitsOnlyAtStop: a worker of a closing pool exits only
// when the stop record is at the queue's front, not when any record is.
// The race it guards is too narrow to hit from outside: a worker's look
// in park finds the front slot unpublished (a producer between reserve
// and publish, ahead of Close's stop record, so accepted), and the
// producer publishes before the worker's next look, under the same lock,
// asks whether the pool has stopped. So the test plays the producer by
// hand: it reserves a slot, lets Close begin, publishes, and then asks
// that question while it holds the lock, as the worker would.
func TestClosingWorkerExitsOnlyAtStop(t *testing.T) {
	p := New(WithWorkers(1))
	deadline := time.Now().Add(5 * time.Second)
	for p.idle.Load() != 1 { // the worker parks
		if time.Now().After(deadline) {
			t.Fatal("the worker never parked")
		}
		time.Sleep(time.Millisecond)
	}
	s, i := p.q.reserve() // accepted: closed is still false
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	for {
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if stopping {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close never set stopping")
		}
		time.Sleep(time.Millisecond)
	}
	// Close's Broadcast woke the worker, which found the front slot
	// unpublished: it must not exit.
	select {
	case <-closed:
		t.Fatal("Close returned while an accepted slot was still unpublished")
	case <-time.After(20 * time.Millisecond):
	}
	var ran atomic.Int32
	run := func(c *atomic.Int32) { c.Add(1) }
	s.fn, s.base = *(*func(unsafe.Pointer))(unsafe.Pointer(&run)), unsafe.Pointer(&ran)
	// With the lock held, the worker is in park (asleep, or waiting for
	// the lock): it cannot take the record before the look below.
	p.mu.Lock()
	publish(s, i, &s.task, 0)
	stopped := p.stoppedLocked()
	p.mu.Unlock()
	if stopped {
		t.Fatal("a closing pool counts as stopped with an accepted record, not the stop record, at its front: its worker would exit and the record never run")
	}
	p.wake() // as submit does after publish
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close did not return: %s", p.DebugState())
	}
	if ran.Load() != 1 || !s.IsComplete() {
		t.Fatalf("the accepted record ran %d times, complete %v, by the time Close returned", ran.Load(), s.IsComplete())
	}
}
