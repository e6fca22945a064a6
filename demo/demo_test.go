package demo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Options the demo cannot run with are reported as such, before anything
// starts, and leave no temporary directory behind.
func TestRunInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"log level", Options{LogLevel: "loud"}, "log_level"},
		{"negative think", Options{Think: -time.Second}, "--think"},
		{"negative timeout", Options{Timeout: -time.Second}, "--timeout"},
		{"store scheme", Options{Store: "mysql://db/p"}, "store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var stdout bytes.Buffer
			tt.opts.Stdout = &stdout
			err := Run(t.Context(), tt.opts)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want ErrInvalidOptions naming %q", err, tt.want)
			}
			if strings.Contains(err.Error(), ErrInvalidOptions.Error()) {
				t.Errorf("the message %q repeats the sentinel's words", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed before the options were checked:\n%s", &stdout)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

// A gateway that cannot start fails the run, saying so; why goes to the
// log.
func TestRunGatewayDoesNotStart(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Run(t.Context(), Options{Store: filepath.Join(t.TempDir(), "no", "such", "dir", "p.db"), Stdout: &stdout, Stderr: &stderr})
	if err == nil || errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "the gateway did not start") {
		t.Fatalf("Run = %v, want the gateway not starting", err)
	}
	if !strings.Contains(stderr.String(), "cannot open the store") {
		t.Errorf("the log does not say why:\n%s", &stderr)
	}
	if !strings.HasPrefix(stdout.String(), "Parley demo:") {
		t.Errorf("stdout:\n%s", &stdout)
	}
}
