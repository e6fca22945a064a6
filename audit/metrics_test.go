package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
)

// With SetMetrics, each group commit's size is observed, and a failed
// batch counted.
func TestBatchMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		g := newGate()
		m.batchHook = g.hook
		l := New(m, Options{Now: func() time.Time { return t0 }})
		reg := observe.NewMetrics()
		l.SetMetrics(reg)
		runLog(t, l)

		var wg sync.WaitGroup
		appendAs := func(i int) {
			wg.Go(func() { _, _ = l.Append(t.Context(), Entry{Action: "x.y", Target: fmt.Sprint(i)}) })
		}
		appendAs(0)
		<-g.held // the first batch (one record) is in flight
		for i := 1; i < 6; i++ {
			appendAs(i)
		}
		synctest.Wait()
		g.release()
		wg.Wait()

		// A batch that fails.
		m.batchHook = func(context.Context, []store.AuditRecord) error { return errors.New("disk full") }
		if _, err := l.Append(t.Context(), Entry{Action: "x.y", Target: "lost"}); err == nil {
			t.Fatal("Append succeeded although its batch failed")
		}

		got := map[string]float64{}
		families, err := reg.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			switch f.GetName() {
			case "parley_audit_batch_records":
				h := f.GetMetric()[0].GetHistogram()
				got["batches"], got["records"] = float64(h.GetSampleCount()), h.GetSampleSum()
			case "parley_audit_batch_failures_total":
				got["failures"] = f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		want := map[string]float64{"batches": 2, "records": 6, "failures": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit batch metrics (-want +got):\n%s", diff)
		}
	})
}
