package child

import (
	"context"
	"fmt"
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
	if _, err := Start(t.Context(), "nothing", []string{"-test.run=^$"}, nil, nil); err == nil {
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
