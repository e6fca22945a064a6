// Package cli is the command-line shell the benchmark tools share: the
// output flags (-json, -cpuprofile, -q), parsing, the interrupt signal,
// the CPU profile around the run, printing the report and the exit code.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
)

// Report is what a benchmark run produces.
type Report interface {
	// WriteText prints the report for people.
	WriteText(w io.Writer)
	// Errors counts the failed operations; a run with any exits 1.
	Errors() int64
}

// Output is the flags every tool has.
type Output struct {
	JSON       bool
	CPUProfile string
	Quiet      bool
}

// Register adds -json, -cpuprofile and -q to fs; profileHelp says what the
// profile's goroutine labels are.
func (o *Output) Register(fs *flag.FlagSet, profileHelp string) {
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of this process's whole run to this file; "+profileHelp)
	fs.BoolVar(&o.Quiet, "q", false, "no progress lines on stderr")
}

// Progress is where progress lines go: stderr, or nowhere with -q.
func (o *Output) Progress(stderr io.Writer) io.Writer {
	if o.Quiet {
		return nil
	}
	return stderr
}

// Parse parses args into fs (which writes its errors to stderr). If the
// command should stop, ok is false and code is its exit code: 0 for
// -help, 2 for a bad flag or a stray argument.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return 2, false
	}
	return 0, true
}

// Execute runs run until it returns or the process is interrupted, with a
// CPU profile if asked, prints its report (text or JSON) on stdout and
// returns the exit code: 1 if the run failed or any operation in it did.
func Execute(ctx context.Context, name string, o Output, stdout, stderr io.Writer, run func(ctx context.Context) (Report, error)) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "%s: cpu profile: %v\n", name, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
	} else {
		rep.WriteText(stdout)
	}
	if rep.Errors() > 0 {
		return 1
	}
	return 0
}

// WriteProfile writes the named runtime profile (block, mutex, heap…) to
// path.
func WriteProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(pprof.Lookup(name).WriteTo(f, 0), f.Close())
}
