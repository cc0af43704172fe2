// Command mixed has a single task, a batch and a batch of a second task
// type in flight at once, as the third example of the zero-pool README
// does, and waits on them in an order of its choosing.
package main

import (
	"fmt"

	"github.com/zeropool/zeropool"
)

// ComputeParams is the first task type: sum the numbers below WorkAmount.
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

// MultiplyParams is the second task type.
type MultiplyParams struct {
	X, Y   uint64
	Result *uint64
}

func multiply(p *MultiplyParams) { *p.Result = p.X * p.Y }

func main() {
	pool := zeropool.New()
	defer pool.Close()

	// Individual task: its own memory location.
	var single uint64
	singleParams := ComputeParams{WorkAmount: 1000, Result: &single}

	// Uniform batch: separate memory from the above.
	batch := make([]uint64, 50)
	batchParams := make([]ComputeParams, len(batch))
	for i := range batchParams {
		batchParams[i] = ComputeParams{WorkAmount: uint64(500 + i), Result: &batch[i]}
	}

	// A batch of the second task type.
	products := make([]uint64, 10)
	multiplyParams := make([]MultiplyParams, len(products))
	for i := range multiplyParams {
		multiplyParams[i] = MultiplyParams{X: uint64(i), Y: uint64(i + 1), Result: &products[i]}
	}

	f1 := zeropool.Submit(pool, compute, &singleParams)
	f2 := zeropool.SubmitBatchUniform(pool, compute, batchParams)
	f3 := zeropool.SubmitBatchUniform(pool, multiply, multiplyParams)

	// Wait in any order; completion order is not guaranteed.
	f3.Wait()
	f1.Wait()
	f2.Wait()

	fmt.Println("Single:", single)
	fmt.Printf("Batch completed: %d tasks, first %d, last %d\n", len(batch), batch[0], batch[len(batch)-1])
	fmt.Println("Products:", products)
}
