package cli

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// SyncWriter serialises writes to w: the servers' error output is copied
// into stderr from goroutines of os/exec, beside the tool's own lines.
func SyncWriter(w io.Writer) io.Writer { return &syncWriter{w: w} }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Progressf writes one progress line of the tool called name to w, if w
// is not nil (Output.Progress).
func Progressf(w io.Writer, name, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, name+": "+format+"\n", args...)
	}
}

// ModuleVersion is the version of the module at path this binary was
// built with (its replacement's, if replaced), or "".
func ModuleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				m = m.Replace
			}
			return m.Version
		}
	}
	return ""
}

// NewFlagSet is the flag set of the tool called name, writing its errors
// to stderr, made safe for the servers' output copied into it from
// goroutines of os/exec beside the tool's own lines (SyncWriter), which
// is returned for the tool to write to.
func NewFlagSet(name string, stderr io.Writer) (*flag.FlagSet, io.Writer) {
	stderr = SyncWriter(stderr)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, stderr
}

// RegisterTiming adds the flags of how a load is measured to fs: -duration
// (10s), -warmup (1s), -rounds (5) and -call-timeout (10s).
func RegisterTiming(fs *flag.FlagSet, duration, warmup *time.Duration, rounds *int, callTimeout *time.Duration) {
	fs.DurationVar(duration, "duration", 10*time.Second, "how long each scenario is measured in all")
	fs.DurationVar(warmup, "warmup", time.Second, "warm-up before each scenario, not measured (0: none)")
	fs.IntVar(rounds, "rounds", 5, "measure each scenario in this many turns, taken in rotation with the others (evens out a busy machine)")
	fs.DurationVar(callTimeout, "call-timeout", 10*time.Second, "timeout of one call")
}

// Machine is what a report says of where it ran; embedded in a report,
// its fields stand in the report's JSON where it is embedded.
type Machine struct {
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// SDK is the protocol SDK the benchmark drives, with its version.
	SDK string `json:"sdk"`
}

// ThisMachine is this process's Machine; sdk is the SDK and its version.
func ThisMachine(sdk string) Machine {
	return Machine{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), SDK: sdk}
}
