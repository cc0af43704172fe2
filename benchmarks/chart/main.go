// Command chart turns the output of the root module's BenchmarkBatchSize
// (go test -bench BatchSize) into an SVG of ns/task against batch size, one
// line per pool, on log-log axes. The median of the runs of each point is
// plotted. With -range, it draws BenchmarkRange instead (the library's and
// this module's peers' lines, concatenated) as one bar per pool. With
// -scale, it reads this module's TaskOverhead, IndividualTasks, Range and
// Closures runs at several GOMAXPROCS (go test -cpu), prints a speedup
// table on stderr and draws throughput against GOMAXPROCS (see scale.sh).
// With -loops, it reads BenchmarkFor (B13) from the library and from this
// module, concatenated, prints each contender's speedup over the serial
// loop on stderr and draws it against the loop's length.
//
//	go test -run '^$' -bench BatchSize -count 6 .. | go run ./chart > batchsize.svg
//	cat lib.txt peers.txt | go run ./chart -range > range.svg
//	go test -run '^$' -bench . -cpu 1,2,4 . | go run ./chart -scale > scale.svg
//	cat lib.txt peers.txt | go run ./chart -loops > loops.svg
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A benchmark line: BenchmarkBatchSize/batch=1000/pool=zeropool-2  N  x ns/op  y ns/task ...
var line = regexp.MustCompile(`^BenchmarkBatchSize/batch=(\d+)/pool=([\w-]+?)(?:-\d+)?\s.*?\s([\d.]+) ns/task`)

// series lists what is drawn, in legend order, with its colour.
var series = []struct{ pool, colour string }{
	{"zeropool", "#1f77b4"},
	{"zeropool-locked", "#17becf"},
	{"channel", "#ff7f0e"},
	{"goroutines", "#d62728"},
	{"serial", "#2ca02c"},
}

func main() {
	ranges := flag.Bool("range", false, "draw BenchmarkRange as bars")
	scale := flag.Bool("scale", false, "print the speedup table and draw throughput against GOMAXPROCS")
	loops := flag.Bool("loops", false, "print B13's speedups and draw them against the loop's length")
	flag.Parse()
	if *loops {
		speedups, err := parseLoops(os.Stdin)
		if err != nil {
			log.Fatal(err)
		}
		if len(speedups) == 0 {
			log.Fatal("no BenchmarkFor lines with a serial row on stdin")
		}
		loopTable(os.Stderr, speedups)
		renderLoops(os.Stdout, speedups)
		return
	}
	if *scale {
		data, err := parseScale(os.Stdin)
		if err != nil {
			log.Fatal(err)
		}
		if len(data) == 0 {
			log.Fatal("no TaskOverhead, IndividualTasks, Range or Closures lines with a -N suffix on stdin")
		}
		scaleTable(os.Stderr, data)
		renderScale(os.Stdout, data)
		return
	}
	if *ranges {
		runs, err := parseRange(os.Stdin)
		if err != nil {
			log.Fatal(err)
		}
		if len(runs) == 0 {
			log.Fatal("no BenchmarkRange ns/op lines on stdin")
		}
		renderBars(os.Stdout, runs)
		return
	}
	points, err := parse(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	if len(points) == 0 {
		log.Fatal("no BenchmarkBatchSize ns/task lines on stdin")
	}
	render(os.Stdout, points)
}

// parse returns, per pool, the runs of ns/task per batch size.
func parse(r io.Reader) (map[string]map[int][]float64, error) {
	points := map[string]map[int][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, err
		}
		if points[m[2]] == nil {
			points[m[2]] = map[int][]float64{}
		}
		points[m[2]][n] = append(points[m[2]][n], v)
	}
	return points, sc.Err()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

const (
	width, height = 720, 440
	left, right   = 70, 170
	top, bottom   = 30, 50
)

func render(w io.Writer, points map[string]map[int][]float64) {
	minN, maxN := math.Inf(1), math.Inf(-1)
	minV, maxV := math.Inf(1), math.Inf(-1)
	for _, byN := range points {
		for n, runs := range byN {
			v := median(runs)
			minN, maxN = math.Min(minN, float64(n)), math.Max(maxN, float64(n))
			minV, maxV = math.Min(minV, v), math.Max(maxV, v)
		}
	}
	// Whole decades on both axes.
	x0, x1 := math.Floor(math.Log10(minN)), math.Ceil(math.Log10(maxN))
	y0, y1 := math.Floor(math.Log10(minV)), math.Ceil(math.Log10(maxV))
	if x1 == x0 {
		x1++
	}
	if y1 == y0 {
		y1++
	}
	px := func(n float64) float64 {
		return left + (math.Log10(n)-x0)/(x1-x0)*(width-left-right)
	}
	py := func(v float64) float64 {
		return height - bottom - (math.Log10(v)-y0)/(y1-y0)*(height-top-bottom)
	}

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for d := x0; d <= x1; d++ {
		x := px(math.Pow(10, d))
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">1e%d</text>`+"\n", x, height-bottom+16, int(d))
	}
	for d := y0; d <= y1; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, strconv.FormatFloat(math.Pow(10, d), 'g', -1, 64))
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">tasks in the batch</text>`+"\n", (left+width-right)/2, height-12)
	fmt.Fprintf(w, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">ns per task</text>`+"\n", (top+height-bottom)/2, (top+height-bottom)/2)

	legend := 0
	for _, s := range series {
		byN := points[s.pool]
		if len(byN) == 0 {
			continue
		}
		ns := make([]int, 0, len(byN))
		for n := range byN {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		var path strings.Builder
		for i, n := range ns {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, px(float64(n)), py(median(byN[n])))
		}
		fmt.Fprintf(w, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()), s.colour)
		for _, n := range ns {
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(float64(n)), py(median(byN[n])), s.colour)
		}
		ly := top + 10 + legend*20
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", width-right+12, ly, width-right+32, ly, s.colour)
		fmt.Fprintf(w, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", width-right+38, ly, s.pool)
		legend++
	}
	fmt.Fprintln(w, `</svg>`)
}
