// Command single submits one task, as the first example of the zero-pool
// README does, and prints the result it wrote.
package main

import (
	"fmt"

	"github.com/zeropool/zeropool"
)

// CalculationParams is the task's input and where it writes its output.
type CalculationParams struct {
	Iterations uint64
	Result     *uint64
}

func calculate(p *CalculationParams) {
	var sum uint64
	for i := range p.Iterations {
		sum += i
	}
	*p.Result = sum
}

func main() {
	pool := zeropool.New()
	defer pool.Close()

	var result uint64
	task := CalculationParams{Iterations: 1000, Result: &result}
	future := zeropool.Submit(pool, calculate, &task)
	future.Wait()
	fmt.Println("Result:", result)
}
