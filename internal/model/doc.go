// Package model is an exhaustive check of zeropool's lock-free protocols:
// a model of them in Go, one step per atomic operation or locked section,
// explored over every interleaving of a small configuration by depth-first
// search with a visited set. It lives in the package's tests (model_test.go)
// and runs with go test; nothing here is built into the library.
//
// The model is not the code: each step names the line of the library it
// stands for, and a change to a protocol in the library must be made here
// too. What it covers and what it leaves out is in model_test.go.
package model
