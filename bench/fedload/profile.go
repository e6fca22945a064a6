package main

import (
	"os"
	"runtime/pprof"
	"sync"

	"github.com/parleyhq/parley/bench/internal/child"
)

// msgStartProfile is what the parent sends a server child (child.Send)
// once the servers are set up and connected: the child's CPU profile
// starts then, so that it holds the measured load (and the warm-ups), not
// the start-up. (The same protocol as mcpload's children.)
const msgStartProfile = "cpuprofile-start"

// profile prepares a CPU profile of this process into path, if set: it
// starts when the parent sends msgStartProfile, and stop ends it (an
// empty file if it never started).
func profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	started, stopped := false, false
	done := make(chan struct{})
	go func() {
		for {
			select {
			case m := <-child.Messages():
				if m != msgStartProfile {
					continue
				}
				mu.Lock()
				if !started && !stopped {
					started = pprof.StartCPUProfile(f) == nil
				}
				mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if started {
			pprof.StopCPUProfile()
		}
		f.Close()
	}, nil
}
