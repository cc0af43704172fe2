package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A B13 line: BenchmarkFor/n=4096/pool=For-2  N  x ns/op ..., from the
// library's BenchmarkFor or this module's.
var loopLine = regexp.MustCompile(`^BenchmarkFor/n=(\d+)/pool=([\w-]+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// loopSeries lists the B13 curves, in legend order, with their colours.
var loopSeries = []struct{ pool, label, colour string }{
	{"For", "For", "#1f77b4"},
	{"For-hoisted", "For, closure hoisted", "#17becf"},
	{"SubmitRange", "SubmitRange(...).Wait()", "#ff7f0e"},
	{"handsplit", "a goroutine per core", "#2ca02c"},
	{"conc", "conc iter.ForEachIdx", "#d62728"},
}

// parseLoops returns, per pool and n, the speedups over the serial loop:
// each run's median serial time over the pool's median, serial taken from
// the same go test run (the "pkg:" line that heads it), so that the
// library's and this module's outputs can be concatenated. A pool that
// both report (For) is taken from the first run that has it.
func parseLoops(r io.Reader) (map[string]map[int]float64, error) {
	type key struct {
		pkg, pool string
		n         int
	}
	runs := map[key][]float64{}
	owner := map[string]string{} // pool -> the pkg whose lines are used
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(text, "pkg: "); ok {
			pkg = p
			continue
		}
		m := loopLine.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, err
		}
		if o, ok := owner[m[2]]; ok && o != pkg && m[2] != "serial" {
			continue
		}
		owner[m[2]] = pkg
		runs[key{pkg, m[2], n}] = append(runs[key{pkg, m[2], n}], v)
	}
	speedups := map[string]map[int]float64{}
	for k, vs := range runs {
		serial, ok := runs[key{k.pkg, "serial", k.n}]
		if k.pool == "serial" || !ok {
			continue
		}
		if speedups[k.pool] == nil {
			speedups[k.pool] = map[int]float64{}
		}
		speedups[k.pool][k.n] = median(serial) / median(vs)
	}
	return speedups, sc.Err()
}

// loopTable prints the speedups, one row per pool, one column per n.
func loopTable(w io.Writer, speedups map[string]map[int]float64) {
	ns := loopNs(speedups)
	fmt.Fprintf(w, "%-14s", "speedup")
	for _, n := range ns {
		fmt.Fprintf(w, " %9d", n)
	}
	fmt.Fprintln(w)
	for _, s := range loopSeries {
		if speedups[s.pool] == nil {
			continue
		}
		fmt.Fprintf(w, "%-14s", s.pool)
		for _, n := range ns {
			fmt.Fprintf(w, " %9.3f", speedups[s.pool][n])
		}
		fmt.Fprintln(w)
	}
}

func loopNs(speedups map[string]map[int]float64) []int {
	var ns []int
	for _, byN := range speedups {
		for n := range byN {
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	return ns
}

// renderLoops draws speedup over the serial loop against n, log-log, one
// line per contender, with the serial loop's 1.0 marked: above it a
// parallel loop pays, below it the serial loop wins.
func renderLoops(w io.Writer, speedups map[string]map[int]float64) {
	ns := loopNs(speedups)
	minV, maxV := 1.0, 1.0
	for _, byN := range speedups {
		for _, v := range byN {
			minV, maxV = math.Min(minV, v), math.Max(maxV, v)
		}
	}
	x0, x1 := math.Log2(float64(ns[0])), math.Log2(float64(ns[len(ns)-1]))
	if x1 == x0 {
		x1++
	}
	y0, y1 := math.Floor(math.Log10(minV)), math.Ceil(math.Log10(maxV))
	if y1 == y0 {
		y1++
	}
	px := func(n float64) float64 { return left + (math.Log2(n)-x0)/(x1-x0)*(width-left-right) }
	py := func(v float64) float64 {
		return height - bottom - (math.Log10(v)-y0)/(y1-y0)*(height-top-bottom)
	}

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for _, n := range ns {
		x := px(float64(n))
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x, height-bottom+16, n)
	}
	for d := y0; d <= y1; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, strconv.FormatFloat(math.Pow(10, d), 'g', -1, 64))
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#2ca02c" stroke-dasharray="5,4"/>`+"\n", left, py(1), width-right, py(1))
	fmt.Fprintf(w, `<text x="%d" y="%.1f" dominant-baseline="middle" fill="#2ca02c">serial</text>`+"\n", width-right+4, py(1))
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">indices in the loop (B8's light body)</text>`+"\n", (left+width-right)/2, height-12)
	fmt.Fprintf(w, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">speedup over the serial loop</text>`+"\n", (top+height-bottom)/2, (top+height-bottom)/2)

	legend := 0
	for _, s := range loopSeries {
		byN := speedups[s.pool]
		if len(byN) == 0 {
			continue
		}
		var path strings.Builder
		i := 0
		for _, n := range ns {
			v, ok := byN[n]
			if !ok {
				continue
			}
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			i++
			fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, px(float64(n)), py(v))
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(float64(n)), py(v), s.colour)
		}
		fmt.Fprintf(w, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()), s.colour)
		ly := top + 24 + legend*20
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", width-right+12, ly, width-right+32, ly, s.colour)
		fmt.Fprintf(w, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", width-right+38, ly, s.label)
		legend++
	}
	fmt.Fprintln(w, `</svg>`)
}
