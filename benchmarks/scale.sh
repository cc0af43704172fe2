#!/usr/bin/env bash
# The scaling sweep: the batch, single-task, range and closure workloads
# of every pool in this module at GOMAXPROCS = 1, 2, 4, ... up to the
# machine's cores (and the cores themselves), -count times each. Prints a
# speedup table and draws scale.svg. Usage: benchmarks/scale.sh [count]
set -euo pipefail
cd "$(dirname "$0")"
count=${1:-6}
cores=$(getconf _NPROCESSORS_ONLN)
cpus=1
for ((p = 2; p < cores; p *= 2)); do cpus+=",$p"; done
[ "$cores" -gt 1 ] && cpus+=",$cores"
mkdir -p results
echo "== scaling sweep at GOMAXPROCS $cpus (count=$count)" >&2
go test -run '^$' -bench '^Benchmark(TaskOverhead|IndividualTasks|Range|Closures)$' \
	-cpu "$cpus" -count "$count" -timeout 120m . | tee results/scale.txt | go run ./chart -scale > scale.svg
echo "wrote benchmarks/scale.svg and benchmarks/results/scale.txt" >&2
