module github.com/zeropool/zeropool/benchmarks

go 1.26.0

replace github.com/zeropool/zeropool => ../

tool golang.org/x/perf/cmd/benchstat

require github.com/zeropool/zeropool v0.0.0-00010101000000-000000000000

require (
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	github.com/alitto/pond/v2 v2.7.1 // indirect
	github.com/panjf2000/ants/v2 v2.12.1 // indirect
	github.com/sourcegraph/conc v0.3.0 // indirect
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da // indirect
	golang.org/x/sync v0.25.0 // indirect
)
