package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A BenchmarkRange line, from the library or from this module's peers:
// BenchmarkRange/pool=zeropool-2  N  x ns/op ...
var rangeLine = regexp.MustCompile(`^BenchmarkRange/pool=([\w-]+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// parseRange returns, per pool, the runs of ns/op of BenchmarkRange.
func parseRange(r io.Reader) (map[string][]float64, error) {
	runs := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := rangeLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, err
		}
		runs[m[1]] = append(runs[m[1]], v)
	}
	return runs, sc.Err()
}

// renderBars draws one horizontal bar per pool, the median µs per loop of
// 2^20 elements, fastest first. Feed it one line set per pool: the peers'
// zeropool lines duplicate the library's (run.sh leaves them out).
func renderBars(w io.Writer, runs map[string][]float64) {
	type bar struct {
		pool string
		us   float64
	}
	var bars []bar
	longest := 0.0
	for pool, rs := range runs {
		b := bar{pool, median(rs) / 1e3}
		bars = append(bars, b)
		longest = max(longest, b.us)
	}
	if len(bars) == 0 {
		return
	}
	slices.SortFunc(bars, func(a, b bar) int { return cmp.Compare(a.us, b.us) })
	// Bars run to at most 4 times the shortest, so that one very slow
	// pool does not flatten the rest; a clipped bar says so.
	scale := min(longest, 4*bars[0].us)
	const rowH, labelW, barW = 28, 130, 460
	h := top + bottom + rowH*len(bars)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, h)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, h)
	fmt.Fprintf(w, `<text x="%d" y="%d">µs per parallel loop over 2^20 elements (median), shorter is better</text>`+"\n", labelW, top-10)
	for i, b := range bars {
		y := top + i*rowH
		colour := "#999"
		if strings.HasPrefix(b.pool, "zeropool") {
			colour = "#1f77b4"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", labelW-8, y+rowH/2, b.pool)
		length, note := min(b.us, scale)/scale*barW, ""
		if b.us > scale {
			note = " (bar clipped)"
		}
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+4, length, rowH-8, colour)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" dominant-baseline="middle">%.0f%s</text>`+"\n", float64(labelW)+length+6, y+rowH/2, b.us, note)
	}
	fmt.Fprintln(w, `</svg>`)
}
