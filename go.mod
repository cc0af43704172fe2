module github.com/zeropool/zeropool

go 1.24
