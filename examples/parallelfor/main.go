// Command parallelfor renders the Mandelbrot set twice, once with a plain
// loop over the rows and once with zeropool.For, prints both times
// side by side, checks that the pictures match, and writes the PNG.
//
//	go run ./examples/parallelfor -o mandelbrot.png
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zeropool/zeropool"
)

const (
	width, height = 960, 640
	maxIter       = 400
)

// render draws rows [lo, hi) of the picture. The serial and the pooled
// runs both call it, so both run the same compiled loop.
func render(img *image.RGBA, lo, hi int) {
	for y := lo; y < hi; y++ {
		ci := (float64(y)/height-0.5)*2.4 + 0
		for x := range width {
			cr := (float64(x)/width-0.7)*3.2 + 0
			zr, zi := 0.0, 0.0
			n := 0
			for ; n < maxIter && zr*zr+zi*zi <= 4; n++ {
				zr, zi = zr*zr-zi*zi+cr, 2*zr*zi+ci
			}
			img.SetRGBA(x, y, shade(n))
		}
	}
}

// shade maps an escape count to a colour: black inside the set, blues to
// gold outside.
func shade(n int) color.RGBA {
	if n == maxIter {
		return color.RGBA{0, 0, 0, 255}
	}
	t := float64(n) / maxIter
	t = 1 - (1-t)*(1-t)*(1-t)*(1-t) // bring out the fringe
	return color.RGBA{
		R: uint8(255 * min(1, 3*t)),
		G: uint8(255 * min(1, 2*t*t+0.15*t)),
		B: uint8(255 * min(1, 0.35+2*t*(1-t))),
		A: 255,
	}
}

func main() {
	out := flag.String("o", filepath.Join(os.TempDir(), "zeropool-mandelbrot.png"), "where to write the PNG")
	flag.Parse()

	bounds := image.Rect(0, 0, width, height)
	serial, pooled := image.NewRGBA(bounds), image.NewRGBA(bounds)

	start := time.Now()
	render(serial, 0, height)
	serialTime := time.Since(start)

	pool := zeropool.New()
	defer pool.Close()
	start = time.Now()
	zeropool.For(pool, height, func(lo, hi int) { render(pooled, lo, hi) })
	pooledTime := time.Since(start)

	if !bytes.Equal(serial.Pix, pooled.Pix) {
		log.Fatal("the pooled picture differs from the serial one")
	}
	fmt.Printf("%dx%d, %d iterations at most, GOMAXPROCS=%d\n", width, height, maxIter, runtime.GOMAXPROCS(0))
	fmt.Printf("serial loop:        %8.2f ms\n", serialTime.Seconds()*1e3)
	fmt.Printf("zeropool.For:       %8.2f ms (%.2fx)\n", pooledTime.Seconds()*1e3, serialTime.Seconds()/pooledTime.Seconds())

	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, pooled); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", *out)
}
