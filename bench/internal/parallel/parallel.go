// Package parallel runs a benchmark's setup work (seeding, connecting) on
// a few goroutines.
package parallel

import (
	"context"
	"sync"
)

// Run runs f(0..n-1) on at most workers goroutines and returns the first
// error; after an error, no further f is started.
func Run(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
