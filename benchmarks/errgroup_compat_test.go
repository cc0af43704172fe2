package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeropool/zeropool"
	"golang.org/x/sync/errgroup"
)

// group is the method set x/sync's errgroup.Group and zeropool.Group share.
type group interface {
	Go(fn func() error)
	TryGo(fn func() error) bool
	SetLimit(n int)
	Wait() error
}

// groupKind makes groups of one implementation each way errgroup code
// makes them. family names the implementation whose behaviour it must
// have: "errgroup" or "zeropool".
type groupKind struct {
	name, family string
	zero         func(t *testing.T) group // var g G
	newed        func(t *testing.T) group // new(G)
	withContext  func(t *testing.T, ctx context.Context) (group, context.Context)
	// onPool makes a group with a context on p (errgroup has no pool: it
	// ignores p and starts a goroutine per Go).
	onPool func(p *zeropool.Pool, ctx context.Context) (group, context.Context)
}

// groupPool is a pool of 4 workers, closed when t ends.
func groupPool(t *testing.T) *zeropool.Pool {
	p := zeropool.New(zeropool.WithWorkers(4))
	t.Cleanup(p.Close)
	return p
}

var groupKinds = []groupKind{
	{
		name: "errgroup", family: "errgroup",
		zero:  func(*testing.T) group { var g errgroup.Group; return &g },
		newed: func(*testing.T) group { return new(errgroup.Group) },
		withContext: func(_ *testing.T, ctx context.Context) (group, context.Context) {
			return errgroup.WithContext(ctx)
		},
		onPool: func(_ *zeropool.Pool, ctx context.Context) (group, context.Context) {
			return errgroup.WithContext(ctx)
		},
	},
	{
		name: "zeropool", family: "zeropool",
		zero:  func(*testing.T) group { var g zgroup; return &g },
		newed: func(*testing.T) group { return new(zgroup) },
		withContext: func(_ *testing.T, ctx context.Context) (group, context.Context) {
			return zWithContext(ctx)
		},
		onPool: func(p *zeropool.Pool, ctx context.Context) (group, context.Context) {
			return zNewGroupContext(p, ctx)
		},
	},
	{
		name: "zeropool-NewGroup", family: "zeropool",
		zero:  func(t *testing.T) group { return zNewGroup(groupPool(t)) },
		newed: func(t *testing.T) group { return zNewGroup(groupPool(t)) },
		withContext: func(t *testing.T, ctx context.Context) (group, context.Context) {
			return zNewGroupContext(groupPool(t), ctx)
		},
		onPool: func(p *zeropool.Pool, ctx context.Context) (group, context.Context) {
			return zNewGroupContext(p, ctx)
		},
	},
}

const groupTimeout = 10 * time.Second

// waitGroupBounded runs g.Wait on another goroutine and returns what it
// returns, failing t if it takes longer than groupTimeout.
func waitGroupBounded(t *testing.T, g group) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(groupTimeout):
		t.Fatalf("Wait did not return within %v", groupTimeout)
		return nil
	}
}

// recvBounded waits for ch to be closed, failing t after groupTimeout.
func recvBounded(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(groupTimeout):
		t.Fatalf("%s did not happen within %v", what, groupTimeout)
	}
}

// blocker returns a task that closes started once it runs and then waits
// for release, and release's closer, registered on t before anything can
// fail so that a failing test does not leave the task blocked.
func blocker(t *testing.T) (task func() error, started <-chan struct{}, release func()) {
	st, rel := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(rel)
		}
	}
	t.Cleanup(release)
	return func() error { close(st); <-rel; return nil }, st, release
}

var (
	errA = errors.New("task A failed")
	errB = errors.New("task B failed")
)

// TestGroupLikeErrgroup runs every behaviour errgroup documents (and the
// ones errgroup code relies on) against x/sync's errgroup and zeropool's
// Group in one table, so that a difference shows as a failing row.
func TestGroupLikeErrgroup(t *testing.T) {
	behaviours := []struct {
		name string
		run  func(t *testing.T, k groupKind)
	}{
		{"zero value var", func(t *testing.T, k groupKind) { runAll(t, k.zero(t)) }},
		{"zero value new", func(t *testing.T, k groupKind) { runAll(t, k.newed(t)) }},
		{"Wait returns nil when all succeed", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			var ran atomic.Int64
			for range 100 {
				g.Go(func() error { ran.Add(1); return nil })
			}
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if got := ran.Load(); got != 100 {
				t.Fatalf("ran %d tasks; want 100", got)
			}
		}},
		{"Wait returns the first error in time order", func(t *testing.T, k groupKind) {
			// B is given first and fails only once A's error has
			// canceled the context: in submission order B's error
			// would come first.
			g, ctx := k.withContext(t, context.Background())
			bStarted := make(chan struct{})
			g.Go(func() error { close(bStarted); <-ctx.Done(); return errB })
			recvBounded(t, bStarted, "task B's start")
			g.Go(func() error { return errA })
			if err := waitGroupBounded(t, g); err != errA {
				t.Fatalf("Wait = %v; want %v", err, errA)
			}
		}},
		{"reuse after Wait keeps the first error", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			g.Go(func() error { return nil })
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("round 1: Wait = %v; want nil", err)
			}
			g.Go(func() error { return errA })
			if err := waitGroupBounded(t, g); err != errA {
				t.Fatalf("round 2: Wait = %v; want %v", err, errA)
			}
			g.Go(func() error { return errB })
			if err := waitGroupBounded(t, g); err != errA {
				t.Fatalf("round 3: Wait = %v; want %v (the first error stays)", err, errA)
			}
		}},
		{"reuse after a successful Wait with a context", func(t *testing.T, k groupKind) {
			// Wait cancels the group's own context; that is not a
			// failure of the group, so a second round runs.
			g, ctx := k.withContext(t, context.Background())
			g.Go(func() error { return nil })
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("round 1: Wait = %v; want nil", err)
			}
			if ctx.Err() == nil {
				t.Fatal("ctx not canceled by Wait")
			}
			var ran atomic.Bool
			g.Go(func() error { ran.Store(true); return nil })
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("round 2: Wait = %v; want nil", err)
			}
			if !ran.Load() {
				t.Fatal("round 2's task did not run")
			}
		}},
		{"WithContext is canceled at the first error with it as cause", func(t *testing.T, k groupKind) {
			g, ctx := k.withContext(t, context.Background())
			g.Go(func() error { return errA })
			recvBounded(t, ctx.Done(), "the context's cancel")
			if got := context.Cause(ctx); got != errA {
				t.Fatalf("Cause before Wait = %v; want %v", got, errA)
			}
			if err := waitGroupBounded(t, g); err != errA {
				t.Fatalf("Wait = %v; want %v", err, errA)
			}
			if got := context.Cause(ctx); got != errA {
				t.Fatalf("Cause after Wait = %v; want %v", got, errA)
			}
		}},
		{"WithContext is canceled at Wait with context.Canceled", func(t *testing.T, k groupKind) {
			g, ctx := k.withContext(t, context.Background())
			for range 10 {
				g.Go(func() error { return nil })
			}
			if err := ctx.Err(); err != nil {
				t.Fatalf("ctx.Err before Wait = %v; want nil", err)
			}
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if ctx.Err() != context.Canceled || context.Cause(ctx) != context.Canceled {
				t.Fatalf("after Wait: Err %v, Cause %v; want %v for both", ctx.Err(), context.Cause(ctx), context.Canceled)
			}
		}},
		{"SetLimit(3) never runs more than 3", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			g.SetLimit(3)
			var running, most atomic.Int64
			var out [200]uint64
			for i := range out {
				g.Go(func() error {
					n := running.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					out[i] = lcg20(uint64(i))
					runtime.Gosched() // let others overlap this one
					running.Add(-1)
					return nil
				})
			}
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if m := most.Load(); m < 1 || m > 3 {
				t.Fatalf("at most %d ran at once; want 1..3", m)
			}
		}},
		{"SetLimit(0): TryGo returns false", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			g.SetLimit(0)
			var ran atomic.Bool
			if g.TryGo(func() error { ran.Store(true); return nil }) {
				t.Fatal("TryGo = true at a limit of 0; want false")
			}
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if ran.Load() {
				t.Fatal("a task TryGo refused ran")
			}
		}},
		{"TryGo: true under the limit, false at it", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			g.SetLimit(2)
			b1, _, release1 := blocker(t)
			b2, _, release2 := blocker(t)
			if !g.TryGo(b1) || !g.TryGo(b2) {
				t.Fatal("TryGo = false under a limit of 2; want true")
			}
			var ran atomic.Int64
			if g.TryGo(func() error { ran.Add(1); return nil }) {
				t.Fatal("TryGo = true with 2 active at a limit of 2; want false")
			}
			release1()
			release2()
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if !g.TryGo(func() error { ran.Add(1); return nil }) {
				t.Fatal("TryGo after Wait = false; want true")
			}
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("second Wait = %v; want nil", err)
			}
			if got := ran.Load(); got != 1 {
				t.Fatalf("%d of the TryGo tasks ran; want 1 (the accepted one)", got)
			}
		}},
		{"Go blocks at the limit until one finishes", func(t *testing.T, k groupKind) {
			g := k.zero(t)
			g.SetLimit(1)
			a, aStarted, releaseA := blocker(t)
			var aDone, bRanEarly atomic.Bool
			g.Go(func() error { err := a(); aDone.Store(true); return err })
			recvBounded(t, aStarted, "task A's start")
			returned := make(chan struct{})
			go func() {
				g.Go(func() error { bRanEarly.Store(!aDone.Load()); return nil })
				close(returned)
			}()
			// A Go that did not block would usually return in this time;
			// the one that does block must not return before release.
			select {
			case <-returned:
				t.Fatal("Go returned while the limit of 1 was held")
			case <-time.After(20 * time.Millisecond):
			}
			releaseA()
			recvBounded(t, returned, "Go's return after the release")
			if err := waitGroupBounded(t, g); err != nil {
				t.Fatalf("Wait = %v; want nil", err)
			}
			if bRanEarly.Load() {
				t.Fatal("task B started before task A finished")
			}
		}},
	}
	for _, b := range behaviours {
		for _, k := range groupKinds {
			t.Run(b.name+"/"+k.name, func(t *testing.T) { b.run(t, k) })
		}
	}
}

// runAll gives g ten tasks that each write their index and checks that
// Wait returns nil with every one written.
func runAll(t *testing.T, g group) {
	t.Helper()
	var out [10]atomic.Int64
	for i := range out {
		g.Go(func() error { out[i].Store(int64(i) + 1); return nil })
	}
	if err := waitGroupBounded(t, g); err != nil {
		t.Fatalf("Wait = %v; want nil", err)
	}
	for i := range out {
		if got := out[i].Load(); got != int64(i)+1 {
			t.Fatalf("out[%d] = %d; want %d", i, got, i+1)
		}
	}
}

// TestGroupSetLimitPanics: SetLimit panics while tasks counted against a
// previous limit are active, exactly when errgroup's does. errgroup looks
// only at its current semaphore: a group with no limit, or one set to -1
// since, has none, whatever is still running. want is errgroup's answer;
// every kind must give the same. (errgroup's SetLimit(n) over tasks
// started with no limit does not panic, but those tasks then block at
// their end on a token they never took, and Wait never returns.)
func TestGroupSetLimitPanics(t *testing.T) {
	cases := []struct {
		name   string
		before []int // limits set in turn, with one task kept active after the first
		after  int   // the SetLimit that may panic
		active bool  // whether the task is still active at it
		want   bool
	}{
		{"limit 2, one active, SetLimit(3)", []int{2}, 3, true, true},
		{"limit 2, one active, SetLimit(2)", []int{2}, 2, true, true},
		{"limit 2, one active, SetLimit(0)", []int{2}, 0, true, true},
		{"limit 2, one active, SetLimit(-1)", []int{2}, -1, true, false},
		{"limit 2, one active, SetLimit(-1), SetLimit(2)", []int{2, -1}, 2, true, false},
		{"no limit, one active, SetLimit(1)", []int{-1}, 1, true, false},
		{"limit 1, all done, SetLimit(2)", []int{1}, 2, false, false},
	}
	for _, c := range cases {
		for _, k := range groupKinds {
			t.Run(c.name+"/"+k.name, func(t *testing.T) {
				g := k.zero(t)
				task, started, release := blocker(t)
				g.SetLimit(c.before[0])
				g.Go(task)
				recvBounded(t, started, "the task's start")
				for _, n := range c.before[1:] {
					g.SetLimit(n)
				}
				if !c.active {
					release()
					if err := waitGroupBounded(t, g); err != nil {
						t.Fatalf("Wait = %v; want nil", err)
					}
				}
				r := func() (r any) {
					defer func() { r = recover() }()
					g.SetLimit(c.after)
					return nil
				}()
				if got := r != nil; got != c.want {
					t.Fatalf("SetLimit(%d) panicked: %v (%v); want %v", c.after, got, r, c.want)
				}
				if prefix := k.family + ":"; r != nil && !strings.HasPrefix(fmt.Sprint(r), prefix) {
					t.Errorf("panic %q; want the prefix %q", r, prefix)
				}
				if r == nil {
					// errgroup's task, started under no limit, would
					// wait at its end for a token of the new limit that
					// it never took, and Wait would never return: drop
					// the limit again before it ends.
					g.SetLimit(-1)
				}
				release()
				if err := waitGroupBounded(t, g); err != nil {
					t.Fatalf("Wait = %v; want nil", err)
				}
			})
		}
	}
}

// TestGroupDiffersFromErrgroup: where zeropool's Group is documented to
// differ from errgroup (design.md, "Groups"), each implementation has its
// own expected outcome. The contract: once a task has failed (or the
// parent context has ended), no queued task starts and a later Go queues
// nothing, and Wait returns the parent's cause; errgroup runs every
// function it was given and reports only its tasks' errors. The zeropool
// rows skip while zgroup is the errgroup stand-in.
func TestGroupDiffersFromErrgroup(t *testing.T) {
	errParent := errors.New("the parent ended")
	cases := []struct {
		name string
		// run returns how many of the tasks that the difference
		// concerns ran, and what Wait returned.
		run  func(t *testing.T, k groupKind) (int64, error)
		want map[string]string // by family: "wait=<error> ran=<n>"
	}{
		{"Go after the first failure", func(t *testing.T, k groupKind) (int64, error) {
			g, ctx := k.withContext(t, context.Background())
			g.Go(func() error { return errA })
			recvBounded(t, ctx.Done(), "the context's cancel")
			var ran atomic.Int64
			g.Go(func() error { ran.Add(1); return nil })
			err := waitGroupBounded(t, g)
			return ran.Load(), err
		}, map[string]string{
			"errgroup": "wait=task A failed ran=1",
			"zeropool": "wait=task A failed ran=0",
		}},
		{"reuse after a failed Wait", func(t *testing.T, k groupKind) (int64, error) {
			g := k.zero(t)
			g.Go(func() error { return errA })
			if err := waitGroupBounded(t, g); err != errA {
				t.Fatalf("round 1: Wait = %v; want %v", err, errA)
			}
			var ran atomic.Int64
			g.Go(func() error { ran.Add(1); return nil })
			err := waitGroupBounded(t, g)
			return ran.Load(), err
		}, map[string]string{
			"errgroup": "wait=task A failed ran=1",
			"zeropool": "wait=task A failed ran=0",
		}},
		{"99 tasks queued behind a failure on 1 worker", func(t *testing.T, k groupKind) (int64, error) {
			// A holds the only worker while the 99 are queued, then
			// fails; Wait (which would run queued tasks itself) is
			// called only once the failure has canceled the context.
			p := zeropool.New(zeropool.WithWorkers(1))
			t.Cleanup(p.Close)
			g, ctx := k.onPool(p, context.Background())
			aStarted, releaseA := make(chan struct{}), make(chan struct{})
			t.Cleanup(func() {
				select {
				case <-releaseA:
				default:
					close(releaseA)
				}
			})
			g.Go(func() error { close(aStarted); <-releaseA; return errA })
			recvBounded(t, aStarted, "task A's start")
			var ran atomic.Int64
			for range 99 {
				g.Go(func() error { ran.Add(1); return nil })
			}
			close(releaseA)
			recvBounded(t, ctx.Done(), "the context's cancel")
			err := waitGroupBounded(t, g)
			return ran.Load(), err
		}, map[string]string{
			"errgroup": "wait=task A failed ran=99",
			"zeropool": "wait=task A failed ran=0",
		}},
		{"the parent context ends", func(t *testing.T, k groupKind) (int64, error) {
			parent, cancel := context.WithCancelCause(context.Background())
			t.Cleanup(func() { cancel(nil) })
			g, ctx := k.withContext(t, parent)
			g.Go(func() error { return nil })
			cancel(errParent)
			recvBounded(t, ctx.Done(), "the context's cancel")
			var ran atomic.Int64
			g.Go(func() error { ran.Add(1); return nil })
			err := waitGroupBounded(t, g)
			return ran.Load(), err
		}, map[string]string{
			"errgroup": "wait=<nil> ran=1",
			"zeropool": "wait=the parent ended ran=0",
		}},
	}
	for _, c := range cases {
		for _, k := range groupKinds {
			t.Run(c.name+"/"+k.name, func(t *testing.T) {
				ran, err := c.run(t, k)
				got := fmt.Sprintf("wait=%v ran=%d", err, ran)
				if want := c.want[k.family]; got != want {
					t.Fatalf("got %s; want %s", got, want)
				}
			})
		}
	}
}

// groupPanicChild, when set, makes TestGroupPanicDiffers the child: it
// runs a group of that kind whose task panics and prints what Wait did.
const groupPanicChild = "ZEROPOOL_GROUP_PANIC_CHILD"

// TestGroupPanicDiffers: a task's panic. errgroup does not recover it
// (errgroup.go says why): the process dies with it. zeropool's Group
// carries it to Wait, which panics with a *zeropool.PanicError, and the
// pool goes on. Each kind runs in a child process, so that errgroup's
// crash can be observed.
func TestGroupPanicDiffers(t *testing.T) {
	if name := os.Getenv(groupPanicChild); name != "" {
		groupPanicAsChild(t, name)
		return
	}
	want := map[string]string{
		"errgroup": "exit=2 panic: boom",
		"zeropool": "exit=0 Wait panicked: *zeropool.PanicError; then Wait = <nil>",
	}
	for _, k := range groupKinds {
		t.Run(k.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGroupPanicDiffers$", "-test.v")
			cmd.Env = append(os.Environ(), groupPanicChild+"="+k.name)
			out, _ := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the child did not finish within %v:\n%s", groupTimeout, out)
			}
			// errgroup's child may print "Wait returned" before it dies:
			// the crashing task's deferred Done runs as its panic
			// unwinds, and lets Wait return nil first.
			got := fmt.Sprintf("exit=%d", cmd.ProcessState.ExitCode())
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "Wait panicked") {
					got += " " + line
					break
				}
			}
			if got != want[k.family] {
				t.Fatalf("got %s; want %s\nchild output:\n%s", got, want[k.family], out)
			}
		})
	}
}

// groupPanicAsChild calls Wait on this goroutine, so that a panic it
// carries can be recovered; the parent bounds the child's time.
func groupPanicAsChild(t *testing.T, name string) {
	for _, k := range groupKinds {
		if k.name != name {
			continue
		}
		g := k.zero(t)
		g.Go(func() error { panic("boom") })
		r := func() (r any) {
			defer func() { r = recover() }()
			_ = g.Wait()
			return nil
		}()
		if r == nil {
			fmt.Println("Wait returned")
			return
		}
		g2 := k.zero(t)
		g2.Go(func() error { return nil })
		fmt.Printf("Wait panicked: %T; then Wait = %v\n", r, g2.Wait())
	}
}
