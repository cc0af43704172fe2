package benchmarks

// TEMPORARY: replaced by zeropool.Group when it lands. Delete this file and
// point the four names at the top of groups_test.go at zeropool.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/zeropool/zeropool"
	"golang.org/x/sync/errgroup"
)

// shimGroup has zeropool.Group's method set and is x/sync's errgroup
// underneath (a goroutine per Go), so that the group benchmarks and
// errgroup_compat_test.go compile and run before the real Group exists.
// Its rows measure errgroup, not zeropool; the tables of documented
// differences skip their zeropool rows while it is in place.
type shimGroup struct {
	// eg is set once, by the first method call of a zero shimGroup or by
	// the constructors; never changed after.
	eg atomic.Pointer[errgroup.Group]
}

func shimWithContext(ctx context.Context) (*shimGroup, context.Context) {
	eg, ctx := errgroup.WithContext(ctx)
	g := new(shimGroup)
	g.eg.Store(eg)
	return g, ctx
}

// shimNewGroup and shimNewGroupContext ignore p: the shim has no pool.
func shimNewGroup(p *zeropool.Pool) *shimGroup { return new(shimGroup) }

func shimNewGroupContext(p *zeropool.Pool, ctx context.Context) (*shimGroup, context.Context) {
	return shimWithContext(ctx)
}

func (g *shimGroup) group() *errgroup.Group {
	if eg := g.eg.Load(); eg != nil {
		return eg
	}
	g.eg.CompareAndSwap(nil, new(errgroup.Group))
	return g.eg.Load()
}

func (g *shimGroup) Go(fn func() error)         { g.group().Go(fn) }
func (g *shimGroup) TryGo(fn func() error) bool { return g.group().TryGo(fn) }
func (g *shimGroup) Wait() error                { return g.group().Wait() }

// SetLimit panics when errgroup's does, with the "zeropool:" prefix the
// contract gives the real Group's panic.
func (g *shimGroup) SetLimit(n int) {
	defer func() {
		if r := recover(); r != nil {
			panic("zeropool: " + strings.TrimPrefix(fmt.Sprint(r), "errgroup: "))
		}
	}()
	g.group().SetLimit(n)
}

// Cancel fails the group with ErrCanceled as a task would. Unlike the real
// Cancel it skips nothing, and at a full limit it blocks.
func (g *shimGroup) Cancel() { g.group().Go(func() error { return zeropool.ErrCanceled }) }

// isShim marks the stand-in: see groupIsShim.
func (*shimGroup) isShim() {}
