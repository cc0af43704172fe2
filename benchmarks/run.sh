#!/usr/bin/env bash
# Runs every benchmark (the library's own, against its stdlib baselines,
# and the third-party pools here) -count times, prints benchstat tables,
# and redraws the batch-size chart. Usage: benchmarks/run.sh [count]
set -euo pipefail
cd "$(dirname "$0")"
count=${1:-6}
out=results
mkdir -p "$out"

echo "== library benchmarks (count=$count)" >&2
(cd .. && go test -run '^$' -bench . -count "$count" -timeout 60m .) > "$out/zeropool.txt"
echo "== third-party pools (count=$count)" >&2
go test -run '^$' -bench . -count "$count" -timeout 60m . > "$out/peers.txt"

# Tables pivot on /pool, so each row compares every pool measured in the same run.
go tool benchstat -col /pool "$out/zeropool.txt"
go tool benchstat -col /pool "$out/peers.txt"

go run ./chart < "$out/zeropool.txt" > batchsize.svg
# The peers' zeropool lines would duplicate the library's.
(grep '^BenchmarkRange' "$out/zeropool.txt"; grep '^BenchmarkRange' "$out/peers.txt" | grep -v 'pool=zeropool') |
	go run ./chart -range > range.svg
echo "wrote benchmarks/batchsize.svg and benchmarks/range.svg" >&2
