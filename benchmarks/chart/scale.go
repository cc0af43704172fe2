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

// A scaling line: BenchmarkTaskOverhead/pool=zeropool-4  N  x ns/op ...,
// from go test -cpu 1,2,4,...: the suffix is GOMAXPROCS, and go test
// leaves it off at 1.
var scaleLine = regexp.MustCompile(`^Benchmark(TaskOverhead|IndividualTasks|Range|Closures)/pool=([\w-]+?)(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op`)

// workloads are the sweep's panels: what one op of each does.
var workloads = []struct {
	bench, title string
	perOp        float64 // tasks (or, for Range, elements) per op
	unit         string
}{
	{"TaskOverhead", "one batch of 1000 tiny tasks", 1000, "tasks/s"},
	{"IndividualTasks", "1000 single tasks, a wait each", 1000, "tasks/s"},
	{"Range", "a parallel loop over 2^20 elements", 1 << 20, "elements/s"},
	{"Closures", "1000 closures, a wait each", 1000, "tasks/s"},
}

// scaleColours gives each pool of the peers module its colour.
var scaleColours = map[string]string{
	"zeropool": "#1f77b4", "ants": "#ff7f0e", "pond": "#2ca02c", "conc": "#d62728",
	"errgroup": "#9467bd", "gopool": "#8c564b",
}

// parseScale returns ns/op runs per workload, pool and GOMAXPROCS.
func parseScale(r io.Reader) (map[string]map[string]map[int][]float64, error) {
	out := map[string]map[string]map[int][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := scaleLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		procs := 1
		if m[3] != "" {
			procs, _ = strconv.Atoi(m[3])
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return nil, err
		}
		if out[m[1]] == nil {
			out[m[1]] = map[string]map[int][]float64{}
		}
		if out[m[1]][m[2]] == nil {
			out[m[1]][m[2]] = map[int][]float64{}
		}
		out[m[1]][m[2]][procs] = append(out[m[1]][m[2]][procs], v)
	}
	return out, sc.Err()
}

// scaleTable writes, per workload, each pool's throughput at every
// GOMAXPROCS and its speedup over GOMAXPROCS=1 (medians of the runs).
func scaleTable(w io.Writer, data map[string]map[string]map[int][]float64) {
	for _, wl := range workloads {
		pools := data[wl.bench]
		if len(pools) == 0 {
			continue
		}
		procs := procsOf(pools)
		fmt.Fprintf(w, "%s (%s; speedup over GOMAXPROCS=1 in brackets)\n", wl.title, wl.unit)
		fmt.Fprintf(w, "  %-10s", "pool")
		for _, p := range procs {
			fmt.Fprintf(w, " %18s", fmt.Sprintf("GOMAXPROCS=%d", p))
		}
		fmt.Fprintln(w)
		for _, name := range sortedPools(pools) {
			fmt.Fprintf(w, "  %-10s", name)
			base := pools[name][1]
			for _, p := range procs {
				runs := pools[name][p]
				if len(runs) == 0 {
					fmt.Fprintf(w, " %18s", "-")
					continue
				}
				cell := fmt.Sprintf("%.3g", wl.perOp/median(runs)*1e9)
				if len(base) > 0 {
					cell += fmt.Sprintf(" (%.2fx)", median(base)/median(runs))
				}
				fmt.Fprintf(w, " %18s", cell)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
}

func procsOf(pools map[string]map[int][]float64) []int {
	var procs []int
	for _, byP := range pools {
		for p := range byP {
			if !slices.Contains(procs, p) {
				procs = append(procs, p)
			}
		}
	}
	slices.Sort(procs)
	return procs
}

// sortedPools lists zeropool first, then the others by name.
func sortedPools(pools map[string]map[int][]float64) []string {
	var names []string
	for n := range pools {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == "zeropool") != (b == "zeropool") {
			if a == "zeropool" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// renderScale draws one panel per workload: throughput against
// GOMAXPROCS, log-log, one line per pool.
func renderScale(w io.Writer, data map[string]map[string]map[int][]float64) {
	const pw, ph, pad, gap = 360, 260, 55, 20
	cols := 2
	rows := (len(workloads) + cols - 1) / cols
	legendW := 110
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", cols*(pw+gap)+legendW, rows*(ph+gap))
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	seen := map[string]bool{}
	for i, wl := range workloads {
		pools := data[wl.bench]
		ox, oy := float64(i%cols*(pw+gap)), float64(i/cols*(ph+gap))
		fmt.Fprintf(w, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", ox+pad, oy+16, wl.title)
		if len(pools) == 0 {
			continue
		}
		procs := procsOf(pools)
		minV, maxV := math.Inf(1), math.Inf(-1)
		for _, byP := range pools {
			for _, runs := range byP {
				v := wl.perOp / median(runs) * 1e9
				minV, maxV = math.Min(minV, v), math.Max(maxV, v)
			}
		}
		y0, y1 := math.Floor(math.Log10(minV)), math.Ceil(math.Log10(maxV))
		if y1 == y0 {
			y1++
		}
		x1 := math.Max(math.Log2(float64(procs[len(procs)-1])), 1)
		px := func(p int) float64 { return ox + pad + math.Log2(float64(p))/x1*(pw-pad-10) }
		py := func(v float64) float64 { return oy + ph - 30 - (math.Log10(v)-y0)/(y1-y0)*(ph-60) }
		for _, p := range procs {
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", px(p), oy+30, px(p), oy+ph-30)
			fmt.Fprintf(w, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", px(p), oy+ph-16, p)
		}
		for d := y0; d <= y1; d++ {
			y := py(math.Pow(10, d))
			fmt.Fprintf(w, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", ox+pad, y, ox+pw-10, y)
			fmt.Fprintf(w, `<text x="%.0f" y="%.1f" text-anchor="end" dominant-baseline="middle">1e%d</text>`+"\n", ox+pad-4, y, int(d))
		}
		fmt.Fprintf(w, `<text x="%.0f" y="%.0f" text-anchor="middle">GOMAXPROCS (%s)</text>`+"\n", ox+pw/2, oy+ph-2, wl.unit)
		for _, name := range sortedPools(pools) {
			colour := scaleColours[name]
			if colour == "" {
				colour = "#7f7f7f"
			}
			seen[name] = true
			var path strings.Builder
			cmd := "M"
			for _, p := range procs {
				if runs := pools[name][p]; len(runs) > 0 {
					fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, px(p), py(wl.perOp/median(runs)*1e9))
					cmd = "L"
				}
			}
			fmt.Fprintf(w, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()), colour)
		}
	}
	legend := 0
	for _, name := range []string{"zeropool", "ants", "conc", "errgroup", "gopool", "pond"} {
		if !seen[name] {
			continue
		}
		x, y := cols*(pw+gap)+8, 30+legend*18
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x, y, x+20, y, scaleColours[name])
		fmt.Fprintf(w, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", x+26, y, name)
		legend++
	}
	fmt.Fprintln(w, `</svg>`)
}
