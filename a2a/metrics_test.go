package a2a

import (
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/parleyhq/parley/observe"
)

// TestFaceMetrics: each binding's calls are counted under its binding and
// the A2A 1.0 method, whatever the protocol version; a call refused (a
// task that does not exist) is an error.
func TestFaceMetrics(t *testing.T) {
	m := observe.NewMetrics()
	g := startGateway(t, func(o *Options) { o.Metrics = m })
	want := map[[3]string]float64{}
	for _, b := range bindings {
		c := g.client(t, b, "alice")
		send(t, c, toolMessage("get_status", nil))
		if _, err := c.GetTask(t.Context(), &a2ago.GetTaskRequest{ID: "no-such-task"}); err == nil {
			t.Fatalf("%s: GetTask of a task that does not exist succeeded", b.name)
		}
		binding := map[a2ago.TransportProtocol]string{
			a2ago.TransportProtocolJSONRPC: BindingJSONRPC, a2ago.TransportProtocolHTTPJSON: BindingREST, a2ago.TransportProtocolGRPC: BindingGRPC,
		}[b.proto]
		want[[3]string{"requests", binding, "SendMessage"}]++
		want[[3]string{"requests", binding, "GetTask"}]++
		want[[3]string{"errors", binding, "GetTask"}]++
		want[[3]string{"timed", binding, "SendMessage"}]++
		want[[3]string{"timed", binding, "GetTask"}]++
	}

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := func(kind string) [3]string { return [3]string{kind, labels["binding"], labels["method"]} }
			switch f.GetName() {
			case "parley_a2a_requests_total":
				addNonZero(got, key("requests"), mt.GetCounter())
			case "parley_a2a_request_errors_total":
				addNonZero(got, key("errors"), mt.GetCounter())
			case "parley_a2a_request_duration_seconds":
				if n := mt.GetHistogram().GetSampleCount(); n > 0 {
					got[key("timed")] += float64(n)
				}
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("A2A face metrics (-want +got):\n%s", diff)
	}
}

func addNonZero(m map[[3]string]float64, k [3]string, c *dto.Counter) {
	if v := c.GetValue(); v != 0 {
		m[k] += v
	}
}
