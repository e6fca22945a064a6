package child

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	Dispatch(map[string]Func{
		"echo": func(ctx context.Context, args []string, ready func(any) error) error {
			if err := ready(map[string]any{"args": args, "pid": os.Getpid()}); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		},
		// profile is a server child's flags (ParseFlags) and serves
		// until it is stopped.
		"profile": func(ctx context.Context, args []string, ready func(any) error) error {
			fs := flag.NewFlagSet("profile", flag.ContinueOnError)
			fs.String("test.run", "", "the test binary's, passed on")
			stop, err := ParseFlags(fs, args)
			if err != nil {
				return err
			}
			defer stop()
			if err := ready(nil); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		},
		// record writes each message it receives to the file args[1],
		// one a line, until it is stopped.
		"record": func(ctx context.Context, args []string, ready func(any) error) error {
			f, err := os.Create(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := ready(nil); err != nil {
				return err
			}
			for {
				select {
				case m := <-Messages():
					if _, err := fmt.Fprintln(f, m); err != nil {
						return err
					}
				case <-ctx.Done():
					// The lines sent before Stop are all waiting.
					for {
						select {
						case m := <-Messages():
							if _, err := fmt.Fprintln(f, m); err != nil {
								return err
							}
						default:
							return nil
						}
					}
				}
			}
		},
	})
	os.Exit(m.Run())
}

func TestStartStop(t *testing.T) {
	var got struct {
		Args []string `json:"args"`
		Pid  int      `json:"pid"`
	}
	p, err := Start(t.Context(), "echo", []string{"-test.run=^$", "x"}, os.Stderr, &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != p.Pid || len(got.Args) != 2 || got.Args[1] != "x" {
		t.Errorf("ready %+v, pid %d", got, p.Pid)
	}
	if p.RSS() <= 0 {
		t.Errorf("RSS %d", p.RSS())
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("stop took %s", time.Since(start))
	}
}

func TestUnknownFails(t *testing.T) {
	if _, err := Start(t.Context(), "nothing", []string{"-test.run=^$"}, io.Discard, nil); err == nil {
		t.Error("want an error for an unknown serve function")
	}
}

func TestSend(t *testing.T) {
	file := filepath.Join(t.TempDir(), "messages")
	p, err := Start(t.Context(), "record", []string{"-test.run=^$", file}, os.Stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"cpuprofile-start", "second"} {
		if err := p.Send(m); err != nil {
			t.Fatalf("send %q: %v", m, err)
		}
	}
	// Stop closes stdin after the lines sent: the child reads them first.
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("cpuprofile-start\nsecond\n", string(got)); diff != "" {
		t.Errorf("messages the child received (-want +got):\n%s", diff)
	}
	if err := p.Send("late"); err == nil {
		t.Error("Send after Stop: want an error")
	}
}

// The child's CPU profile starts when the parent says so and is written
// when it stops; unstarted, the file is empty.
func TestProfile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		send  []string
		empty bool
	}{
		{"started", []string{"something else", MsgStartProfile}, false},
		{"never started", []string{"something else"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "cpu.prof")
			p, err := Start(t.Context(), "profile", []string{"-test.run=^$", "-cpuprofile", file}, os.Stderr, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.send {
				if err := p.Send(m); err != nil {
					t.Fatalf("send %q: %v", m, err)
				}
			}
			if err := p.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if empty := fi.Size() == 0; empty != tc.empty {
				t.Errorf("profile of %d bytes, want empty %t", fi.Size(), tc.empty)
			}
		})
	}
}
