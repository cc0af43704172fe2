// Command global uses the process-wide pool: no New, no Close.
package main

import (
	"fmt"

	"github.com/zeropool/zeropool"
)

type squareParams struct {
	Index   int
	Results []int
}

func square(p *squareParams) { p.Results[p.Index] = p.Index * p.Index }

func main() {
	pool := zeropool.Global()
	results := make([]int, 10)
	params := make([]squareParams, len(results))
	for i := range params {
		params[i] = squareParams{Index: i, Results: results}
	}
	zeropool.SubmitBatchUniform(pool, square, params).Wait()
	fmt.Printf("Global pool (%d workers): squares %v\n", pool.Workers(), results)
}
