package zeropool_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeropool/zeropool"
)

func ExampleFor() {
	pool := zeropool.New()
	defer pool.Close()

	// Squares of 0..9999: each chunk writes only its own indices, and
	// everything For ran is readable once it returns.
	squares := make([]int, 10000)
	zeropool.For(pool, len(squares), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	})
	fmt.Println(squares[3], squares[9999])
	// Output: 9 99980001
}

func ExampleForErr() {
	pool := zeropool.New()
	defer pool.Close()

	lines := []string{"10", "20", "x", "40"}
	nums := make([]int, len(lines))
	// The first error stops the loop: no chunk starts after it.
	err := zeropool.ForErr(pool, len(lines), func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			n, err := strconv.Atoi(lines[i])
			if err != nil {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
			nums[i] = n
		}
		return nil
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, strconv.ErrSyntax))
	// Output:
	// line 3: strconv.Atoi: parsing "x": invalid syntax
	// true
}

func ExampleForEach() {
	pool := zeropool.New()
	defer pool.Close()

	type pixel struct{ r, g, b uint8 }
	img := []pixel{{10, 20, 30}, {200, 100, 50}, {0, 0, 0}}
	// fn gets a pointer to each element and may write through it.
	zeropool.ForEach(pool, img, func(px *pixel) {
		px.r, px.g, px.b = 255-px.r, 255-px.g, 255-px.b
	})
	fmt.Println(img)
	// Output: [{245 235 225} {55 155 205} {255 255 255}]
}

func ExampleMap() {
	pool := zeropool.New()
	defer pool.Close()

	words := []string{"zero", "pool", "loops"}
	// The results come back in input order.
	lens := zeropool.Map(pool, words, func(w *string) int { return len(*w) })
	fmt.Println(lens)
	// Output: [4 4 5]
}

func ExampleMapErr() {
	pool := zeropool.New()
	defer pool.Close()

	parse := func(s *string) (int, error) { return strconv.Atoi(*s) }
	nums, err := zeropool.MapErr(pool, []string{"1", "2", "3"}, parse)
	fmt.Println(nums, err)
	// The first error stops the rest, and MapErr returns nil with it.
	nums, err = zeropool.MapErr(pool, []string{"1", "two", "3"}, parse)
	fmt.Println(nums, err)
	// Output:
	// [1 2 3] <nil>
	// [] strconv.Atoi: parsing "two": invalid syntax
}

func ExampleReduce() {
	pool := zeropool.New()
	defer pool.Close()

	// The sum of 1..1000000: each chunk sums its own indices, and the
	// partial sums are combined in index order.
	sum := zeropool.Reduce(pool, 1000000, func(lo, hi int) int {
		s := 0
		for i := lo; i < hi; i++ {
			s += i + 1
		}
		return s
	}, func(a, b int) int { return a + b })
	fmt.Println(sum)

	// Index order makes a combine that is not commutative work: the
	// letters come back in order whoever built each chunk.
	abc := zeropool.Reduce(pool, 26, func(lo, hi int) string {
		var b strings.Builder
		for i := lo; i < hi; i++ {
			b.WriteByte(byte('a' + i))
		}
		return b.String()
	}, func(a, b string) string { return a + b })
	fmt.Println(abc)
	// Output:
	// 500000500000
	// abcdefghijklmnopqrstuvwxyz
}
