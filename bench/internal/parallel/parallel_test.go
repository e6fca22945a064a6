package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestRun(t *testing.T) {
	var sum atomic.Int64
	if err := Run(t.Context(), 100, 4, func(_ context.Context, i int) error { sum.Add(int64(i)); return nil }); err != nil {
		t.Fatal(err)
	}
	if sum.Load() != 4950 {
		t.Errorf("sum %d, want 4950", sum.Load())
	}
	boom := errors.New("boom")
	if err := Run(t.Context(), 100, 4, func(_ context.Context, i int) error {
		if i == 3 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
}
