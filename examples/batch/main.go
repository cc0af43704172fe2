// Command batch submits 100 tasks as one uniform batch, as the second
// example of the zero-pool README does, and prints their results.
package main

import (
	"fmt"

	"github.com/zeropool/zeropool"
)

// ComputeParams is one task's input and where it writes its output.
type ComputeParams struct {
	WorkAmount uint64
	Result     *uint64
}

func compute(p *ComputeParams) {
	var sum uint64
	for i := range p.WorkAmount {
		sum += i
	}
	*p.Result = sum
}

func main() {
	pool := zeropool.New()
	defer pool.Close()

	results := make([]uint64, 100)
	params := make([]ComputeParams, len(results))
	for i := range params {
		params[i] = ComputeParams{WorkAmount: 1000, Result: &results[i]}
	}
	future := zeropool.SubmitBatchUniform(pool, compute, params)
	future.Wait()
	fmt.Println("First result:", results[0])
	fmt.Println("Last result:", results[len(results)-1])
}
