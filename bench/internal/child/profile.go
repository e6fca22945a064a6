package child

import (
	"flag"
	"os"
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
	// The allocation profiles (writeAllocs) sample at the runtime's
	// default rate, one sample per 512 KiB allocated. A finer rate (16 KiB
	// until the eighth session) costs a walk of the allocating goroutine's
	// stack per sample, which the CPU profile then counts: more in the
	// gateway, whose stacks are deeper, than in the bare server, so it
	// made go-sdk's JSON decoding look 40 µs per opened session dearer in
	// the gateway than it is.
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
