// Package model is an exhaustive check of zeropool's lock-free protocols:
// a model of them in Go, one step per atomic operation or locked section,
// explored over every interleaving of a small configuration by depth-first
// search with a visited set. It lives in the package's tests and runs with
// go test; nothing here is built into the library. The pool's protocols
// are in model_test.go (configurations in check_test.go); the Group's in
// group_test.go, panics and Goexit with the replacement goroutine in
// goexit_test.go, the queue's blocks in blocks_test.go, and the loops'
// hand-off in handoff_test.go, each a smaller
// checker of its own in the same style.
//
// The model is not the code: each step names the line of the library it
// stands for, and a change to a protocol in the library must be made here
// too. What each covers and leaves out is at the top of its file.
package model
