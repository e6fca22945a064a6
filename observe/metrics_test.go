package observe_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/observe"
)

// A nil Metrics is usable: instruments count, on a registry nobody reads.
func TestNilMetrics(t *testing.T) {
	var m *observe.Metrics
	c := m.CounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, "kind")
	c.WithLabelValues("a").Inc()
	if got := testutil.ToFloat64(c.WithLabelValues("a")); got != 1 {
		t.Errorf("counter = %v, want 1", got)
	}
	m.GaugeFunc(prometheus.GaugeOpts{Name: "open", Help: "Open."}, func() float64 { return 1 })
	m.Histogram(prometheus.HistogramOpts{Name: "seconds", Help: "Seconds."}).Observe(1)
	// A second package instance over the same nil Metrics does not clash.
	m.CounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, "kind").WithLabelValues("a").Inc()
}

// Two registrations of one metric on one Metrics share it; each gateway's
// Metrics is its own.
func TestRegisterTwice(t *testing.T) {
	m := observe.NewMetrics()
	opts := prometheus.CounterOpts{Subsystem: "test", Name: "calls_total", Help: "Calls."}
	a := m.CounterVec(opts, "method")
	b := m.CounterVec(opts, "method")
	a.WithLabelValues("x").Inc()
	b.WithLabelValues("x").Inc()
	if got := testutil.ToFloat64(a.WithLabelValues("x")); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
	other := observe.NewMetrics()
	if got := testutil.ToFloat64(other.CounterVec(opts, "method").WithLabelValues("x")); got != 0 {
		t.Errorf("another gateway's counter = %v, want 0", got)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "parley_test_calls_total"); err != nil || n != 1 {
		t.Errorf("parley_test_calls_total series = %d, %v; want 1 (namespace parley added)", n, err)
	}
}

// Registering a name again with other labels is a programming mistake,
// caught at start-up.
func TestRegisterConflictPanics(t *testing.T) {
	m := observe.NewMetrics()
	m.CounterVec(prometheus.CounterOpts{Name: "x_total", Help: "X."}, "a")
	defer func() {
		if recover() == nil {
			t.Error("no panic for a conflicting registration")
		}
	}()
	m.CounterVec(prometheus.CounterOpts{Name: "x_total", Help: "X."}, "b")
}

// The handler serves the registry in the text format, with the Go and
// process collectors.
func TestHandler(t *testing.T) {
	m := observe.NewMetrics()
	m.Counter(prometheus.CounterOpts{Name: "served_total", Help: "Served."}).Add(3)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var missing []string
	for _, want := range []string{"parley_served_total 3", "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(string(body), want) {
			missing = append(missing, want)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("exposition lacks (-want +got):\n%s\n%s", diff, body)
	}
}

func TestChildren(t *testing.T) {
	var c observe.Children[string, *int]
	made := 0
	newValue := func() *int { made++; v := made; return &v }
	a, b, a2 := c.Get("a", newValue), c.Get("b", newValue), c.Get("a", newValue)
	if a != a2 || *a != 1 || *b != 2 || made != 2 {
		t.Errorf("Get: a=%d b=%d a again=%d, made %d; want each value made once", *a, *b, *a2, made)
	}
	if allocs := testing.AllocsPerRun(100, func() { c.Get("a", newValue) }); allocs != 0 {
		t.Errorf("a cached Get allocates %v times", allocs)
	}
}
