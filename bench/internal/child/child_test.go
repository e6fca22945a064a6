package child

import (
	"context"
	"os"
	"testing"
	"time"
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
