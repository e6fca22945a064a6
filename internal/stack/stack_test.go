package stack

import (
	"sync"
	"testing"
)

// BenchmarkGrow is a request's goroutine: a chain of middleware frames,
// then a call that needs a large stack, with and without Grow at the
// goroutine's start.
func BenchmarkGrow(b *testing.B) {
	for _, grow := range []bool{false, true} {
		name := "without"
		if grow {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			var wg sync.WaitGroup
			for b.Loop() {
				wg.Go(func() {
					if grow {
						Grow()
					}
					chain(40)
				})
				wg.Wait()
			}
		})
	}
}

// chain calls itself n times, each frame about 200 bytes, then deep.
//
//go:noinline
func chain(n int) byte {
	var frame [192]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return deep() + frame[0]
	}
	return chain(n-1) + frame[n%len(frame)]
}

// deep needs a stack of about 8 KiB.
//
//go:noinline
func deep() byte {
	var frame [8 << 10]byte
	frame[at%len(frame)] = 1
	return frame[(at+1)%len(frame)]
}
