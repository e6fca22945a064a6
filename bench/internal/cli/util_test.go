package cli

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProgressf(t *testing.T) {
	var buf bytes.Buffer
	Progressf(&buf, "tool", "round %d of %d", 1, 5)
	Progressf(nil, "tool", "nowhere") // -q: no writer, no panic
	if diff := cmp.Diff("tool: round 1 of 5\n", buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRegisterTiming(t *testing.T) {
	type timing struct {
		Duration, Warmup, CallTimeout time.Duration
		Rounds                        int
	}
	for _, tc := range []struct {
		args []string
		want timing
	}{
		{nil, timing{Duration: 10 * time.Second, Warmup: time.Second, CallTimeout: 10 * time.Second, Rounds: 5}},
		{[]string{"-duration", "2s", "-warmup", "0", "-rounds", "1", "-call-timeout", "3s"}, timing{Duration: 2 * time.Second, CallTimeout: 3 * time.Second, Rounds: 1}},
	} {
		var got timing
		fs, _ := NewFlagSet("tool", &bytes.Buffer{})
		RegisterTiming(fs, &got.Duration, &got.Warmup, &got.Rounds, &got.CallTimeout)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.args, diff)
		}
		if fs.ErrorHandling() != flag.ContinueOnError {
			t.Error("the flag set must not exit on a bad flag")
		}
	}
}
