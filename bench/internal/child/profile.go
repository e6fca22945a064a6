package child

import (
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
)

// MsgStartProfile is what the parent sends a server child (Process.Send)
// once the servers are set up: the child's CPU profile (Profile) starts
// then, so that it holds the measured load (and the warm-ups), not the
// start-up and seeding.
const MsgStartProfile = "cpuprofile-start"

// Profile prepares a CPU profile of this process into path, if set: it
// starts when the parent sends MsgStartProfile, and stop ends it (an
// empty file if it never started). A message the parent sent before it
// stopped the child is seen before stop ends the profile.
func Profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	// A finer sample than the default 512 KiB, for the live heap's
	// makeup in the allocation profiles (writeAllocs).
	runtime.MemProfileRate = 16 << 10
	started := false // owned by the goroutine until it exits
	handle := func(m string) {
		if m == MsgStartProfile && !started {
			started = pprof.StartCPUProfile(f) == nil
			writeAllocs(path + ".allocs0")
		}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case m := <-Messages():
				handle(m)
			case <-done:
				for {
					select {
					case m := <-Messages():
						handle(m)
					default:
						return
					}
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		if started {
			pprof.StopCPUProfile()
			writeAllocs(path + ".allocs")
		}
		f.Close()
	}, nil
}

// writeAllocs writes the process's allocation profile beside its CPU
// profile, at its start (.allocs0) and end (.allocs): on a server,
// allocations drive much of the CPU (the GC). The measured load's
// allocations are the difference (go tool pprof -diff_base).
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}

// ParseFlags adds -cpuprofile to fs, parses args into it and prepares the
// CPU profile it names (Profile): a server child's flags. The caller
// defers stop.
func ParseFlags(fs *flag.FlagSet, args []string) (stop func(), err error) {
	cpuprofile := fs.String("cpuprofile", "", "CPU profile of this process")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return Profile(*cpuprofile)
}
