// Command hashtree walks a directory tree and hashes its files as it
// walks, on a zeropool Group: the walk queues a task per file, the
// workers hash while the walk goes on, and the first error (a file over
// -max bytes, or one that cannot be read) stops both. It prints a digest
// of the whole tree, the same on every run over the same files.
//
//	go run ./examples/hashtree -root . -max 1048576
//
// Reading files blocks a worker for the read's length; the reads here are
// small and the hashing is the work. For a fan-out that mostly waits on
// I/O, errgroup's goroutine per task is the better tool.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/zeropool/zeropool"
)

type fileSum struct {
	path string
	sum  [sha256.Size]byte
}

func main() {
	root := flag.String("root", ".", "directory to hash")
	limit := flag.Int64("max", 8<<20, "largest file to hash, in bytes; a larger one stops the walk")
	flag.Parse()

	sums, err := hashTree(context.Background(), *root, *limit)
	if err != nil {
		log.Fatal(err)
	}
	tree := sha256.New()
	for _, s := range sums {
		fmt.Fprintf(tree, "%x  %s\n", s.sum, s.path)
	}
	fmt.Printf("%d files, tree digest %x\n", len(sums), tree.Sum(nil)[:8])

	// The same walk with a limit of 0 bytes stops at its first file.
	if _, err := hashTree(context.Background(), *root, 0); errors.Is(err, errTooBig) {
		fmt.Println("with -max 0: stopped at the first file:", err != nil)
	}
}

var errTooBig = errors.New("file over the size limit")

// hashTree hashes every regular file under root while it walks, and stops
// at the first error.
func hashTree(ctx context.Context, root string, limit int64) ([]fileSum, error) {
	g, ctx := zeropool.WithContext(ctx)
	var mu sync.Mutex
	var sums []fileSum
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return filepath.SkipAll // a task failed: Wait reports why
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		g.Go(func() error {
			s, err := hashFile(path, limit)
			if err != nil {
				return err
			}
			mu.Lock()
			sums = append(sums, s)
			mu.Unlock()
			return nil
		})
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if walkErr != nil {
		return nil, walkErr
	}
	slices.SortFunc(sums, func(a, b fileSum) int {
		switch {
		case a.path < b.path:
			return -1
		case a.path > b.path:
			return 1
		}
		return 0
	})
	return sums, nil
}

func hashFile(path string, limit int64) (fileSum, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileSum{}, err
	}
	if info.Size() > limit {
		return fileSum{}, fmt.Errorf("%s: %d bytes: %w", path, info.Size(), errTooBig)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fileSum{}, err
	}
	return fileSum{path: path, sum: sha256.Sum256(data)}, nil
}
