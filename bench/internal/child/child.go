// Package child runs a benchmark's servers in processes of their own, so
// that the CPU time and memory of a server are read from its own process
// (/proc/PID/stat and status) and not mixed with its clients'.
//
// A child is the benchmark's own binary started again with an environment
// variable naming a serve function. The binary calls Dispatch first thing
// in main (and in TestMain, so that tests can start children too): in a
// child, Dispatch runs the named function and exits; otherwise it returns
// at once. The function serves until its context ends (the parent closed
// the child's stdin, or sent SIGINT or SIGTERM), after reporting that it
// is ready with one JSON value, which Start returns to the parent. While
// it runs, the parent can send it lines (Process.Send), which the child
// reads from Messages.
package child

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/parleyhq/parley/bench/internal/proc"
)

// envVar names the serve function a child runs.
const envVar = "PARLEY_BENCH_CHILD"

// Func is a child's work: serve until ctx ends, calling ready once with
// what the parent needs to know (addresses), which is sent to it as JSON.
type Func func(ctx context.Context, args []string, ready func(v any) error) error

// Dispatch runs the function named by the environment, if this process is
// a child, and exits; otherwise it returns.
func Dispatch(funcs map[string]Func) {
	name := os.Getenv(envVar)
	if name == "" {
		return
	}
	f, ok := funcs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench child: no serve function %q\n", name)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The parent closes stdin to stop the child, and a parent that dies
	// closes it too, so no child outlives its benchmark. Until then, each
	// line on stdin is a message (Process.Send).
	go func() {
		defer stop()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			select {
			case messages <- sc.Text():
			default: // nobody listening: dropped
			}
		}
	}()
	var once sync.Once
	ready := func(v any) error {
		err := errors.New("ready called twice")
		once.Do(func() {
			data, merr := json.Marshal(v)
			if merr != nil {
				err = merr
				return
			}
			_, err = fmt.Fprintf(os.Stdout, "%s\n", data)
		})
		return err
	}
	err := f(ctx, os.Args[1:], ready)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "bench child %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// messages carries the lines the parent sent, in a child.
var messages = make(chan string, 16)

// Messages receives the lines the parent sends with Process.Send, in a
// child. A line sent while 16 are waiting unread is dropped. The lines sent
// before the parent stops the child are all in it by the time the child's
// context ends.
func Messages() <-chan string { return messages }

// Process is a running child.
type Process struct {
	Name string
	Pid  int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan error
	sendMu sync.Mutex
	once   sync.Once
	err    error
}

// Start starts the child that runs the function name with args, and waits
// until it is ready (or has failed, or ctx ends), decoding what it
// reported into ready. The child's stderr goes to stderr (os.Stderr if
// nil).
func Start(ctx context.Context, name string, args []string, stderr io.Writer, ready any) (*Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s: find this program: %w", name, err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envVar+"="+name)
	cmd.Stderr = cmp.Or[io.Writer](stderr, os.Stderr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &Process{Name: name, Pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	lines := make(chan []byte, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadBytes('\n')
		if err != nil {
			line = nil
		}
		lines <- line
		_, _ = io.Copy(io.Discard, r) // a child writes nothing more; never block it
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		if line == nil {
			err := p.Stop()
			return nil, fmt.Errorf("%s: exited before it was ready: %w", name, orError(err))
		}
		if ready != nil {
			if err := json.Unmarshal(line, ready); err != nil {
				_ = p.Stop()
				return nil, fmt.Errorf("%s: ready message %q: %w", name, line, err)
			}
		}
		return p, nil
	case <-ctx.Done():
		_ = p.Stop()
		return nil, ctx.Err()
	}
}

func orError(err error) error {
	if err == nil {
		return errors.New("no error reported")
	}
	return err
}

// CPU is the CPU time the child has used so far (0 where unknown).
func (p *Process) CPU() time.Duration {
	d, _ := proc.CPU(p.Pid)
	return d
}

// RSS is the child's resident memory in bytes (0 where unknown).
func (p *Process) RSS() int64 {
	n, _ := proc.RSS(p.Pid)
	return n
}

// Send sends line (which must not hold a newline) to the child, which
// receives it from Messages.
func (p *Process) Send(line string) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// Stop asks the child to finish (closing its stdin), waits up to 20 s,
// then kills it. It returns the child's exit error; calling it again
// returns the same.
func (p *Process) Stop() error {
	p.once.Do(func() {
		p.sendMu.Lock()
		_ = p.stdin.Close()
		p.sendMu.Unlock()
		select {
		case p.err = <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			p.err = errors.Join(errors.New("did not stop within 20s: killed"), <-p.done)
		}
		if p.err != nil {
			p.err = fmt.Errorf("%s: %w", p.Name, p.err)
		}
	})
	return p.err
}
