package zeropool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zeropool/zeropool"
)

// corpus is what the group examples search: three kinds of documents,
// each searched by a CPU-bound scan.
var corpus = map[string][]string{
	"web":   {"golang.org", "go.dev/doc", "pkg.go.dev"},
	"image": {"gopher.png", "logo.svg"},
	"video": {"gophercon-2026.mp4"},
}

// search returns the documents of one kind that contain query.
func search(kind, query string) ([]string, error) {
	docs, ok := corpus[kind]
	if !ok {
		return nil, fmt.Errorf("no index for %q", kind)
	}
	var hits []string
	for _, d := range docs {
		if strings.Contains(d, query) {
			hits = append(hits, d)
		}
	}
	return hits, nil
}

// ExampleGroup is errgroup's parallel search, on the pool: each search
// writes its own slot of results, and Wait returns the first error.
func ExampleGroup() {
	var g zeropool.Group // ready: runs on zeropool.Global()
	kinds := []string{"web", "image", "video"}
	results := make([][]string, len(kinds))
	for i, kind := range kinds {
		g.Go(func() error {
			hits, err := search(kind, "go")
			results[i] = hits
			return err
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Println("error:", err)
		return
	}
	for i, kind := range kinds {
		fmt.Println(kind, results[i])
	}
	// Output:
	// web [golang.org go.dev/doc pkg.go.dev]
	// image [gopher.png logo.svg]
	// video [gophercon-2026.mp4]
}

// ExampleWithContext: the first failure ends the group's context, with
// the failure as its cause, and no queued task starts after it.
func ExampleWithContext() {
	g, ctx := zeropool.WithContext(context.Background())
	for _, kind := range []string{"web", "audio", "image"} {
		g.Go(func() error {
			_, err := search(kind, "go")
			return err
		})
	}
	err := g.Wait()
	fmt.Println("Wait:", err)
	fmt.Println("cause:", context.Cause(ctx))
	// Output:
	// Wait: no index for "audio"
	// cause: no index for "audio"
}

// ExampleGroup_Cancel: a search for one answer cancels the rest once it
// has found it; tasks not yet started never run.
func ExampleGroup_Cancel() {
	pool := zeropool.New(zeropool.WithWorkers(2))
	defer pool.Close()

	g := pool.NewGroup()
	var found [2]int // written once, by the task that cancels: Wait publishes it
	for a := range 1000 {
		g.Go(func() error {
			for b := a; b < 1000; b++ {
				if a*a+b*b == 1009 && a < b { // 1009 = 15² + 28², a prime
					found = [2]int{a, b}
					g.Cancel()
				}
			}
			return nil
		})
	}
	err := g.Wait()
	fmt.Println(found, errors.Is(err, zeropool.ErrCanceled))
	// Output: [15 28] true
}

// ExampleGroup_SetLimit: at most two tasks of the group are queued or
// running at once; Go waits (running the group's tasks) at the limit.
func ExampleGroup_SetLimit() {
	g := zeropool.Global().NewGroup()
	g.SetLimit(2)
	var sizes [5]int
	for i := range sizes {
		g.Go(func() error { sizes[i] = len(strings.Repeat("ab", i)); return nil })
	}
	_ = g.Wait()
	fmt.Println(slices.Max(sizes[:]))
	// Output: 8
}
