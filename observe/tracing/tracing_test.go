package tracing_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parleyhq/parley/internal/otlpreceiver"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/observe/tracing"
)

// Where spans go: the standard variables win over the config, the traces
// one over the general one; none, or the SDK switched off, is no tracing.
func TestEndpoint(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		configured string
		want       string
		fromEnv    bool
	}{
		{"nothing", nil, "", "", false},
		{"config", nil, "http://collector:4318/", "http://collector:4318/v1/traces", false},
		{"general variable wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, "http://collector:4318", "http://env:4318/v1/traces", true},
		{"traces variable wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom"}, "", "http://traces:4318/custom", true},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, "http://collector:4318", "", false},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none"}, "http://collector:4318", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
				t.Setenv(k, tt.env[k])
			}
			got, fromEnv := tracing.Endpoint(tt.configured)
			if got != tt.want || fromEnv != tt.fromEnv {
				t.Errorf("Endpoint(%q) = %q, %v; want %q, %v", tt.configured, got, fromEnv, tt.want, tt.fromEnv)
			}
		})
	}
}

// Without an endpoint nothing is installed; with one, spans reach the
// collector over OTLP/HTTP, named by the config's service name unless
// OTEL_SERVICE_NAME says otherwise, and Shutdown flushes them.
func TestStart(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	off, err := tracing.Start(t.Context(), tracing.Options{})
	if err != nil || off.Enabled() || observe.On() {
		t.Fatalf("Start without an endpoint = %v, enabled %v, installed %v", err, off.Enabled(), observe.On())
	}

	tests := []struct {
		name, envService, want string
	}{
		{"config's name", "", "parley-test"},
		{"OTEL_SERVICE_NAME wins", "from-env", "from-env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_SERVICE_NAME", tt.envService)
			rcv := otlpreceiver.Start()
			defer rcv.Close()
			tr, err := tracing.Start(t.Context(), tracing.Options{Endpoint: rcv.URL(), ServiceName: "parley-test", Version: "1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			if !observe.On() {
				t.Fatal("nothing installed")
			}
			_, span := observe.NewTracer("test").Start(t.Context(), "hello")
			span.End()
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if observe.On() {
				t.Error("still installed after Shutdown")
			}
			spans, bad := rcv.Spans()
			var got []string
			for _, s := range spans {
				got = append(got, s.Name+" "+s.Service)
			}
			if diff := cmp.Diff([]string{"hello " + tt.want}, got); diff != "" || len(bad) > 0 {
				t.Errorf("received (-want +got):\n%s%v", diff, bad)
			}
		})
	}
}

// tracing.sample_ratio 0 records no new trace, but a caller's sampled
// trace is followed; OTEL_TRACES_SAMPLER wins over the ratio.
func TestSampleRatio(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	zero := 0.0
	tests := []struct {
		name    string
		sampler string // OTEL_TRACES_SAMPLER
		want    []string
	}{
		{"ratio 0", "", []string{"under the caller"}},
		{"environment wins", "always_on", []string{"new root", "under the caller"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler) // empty counts as unset
			rcv := otlpreceiver.Start()
			defer rcv.Close()
			tr, err := tracing.Start(t.Context(), tracing.Options{Endpoint: rcv.URL(), SampleRatio: &zero})
			if err != nil {
				t.Fatal(err)
			}
			tracer := observe.NewTracer("test")
			_, root := tracer.Start(t.Context(), "new root")
			root.End()
			ctx := observe.ExtractHTTP(t.Context(), http.Header{"Traceparent": {"00-" + callerTrace + "-00f067aa0ba902b7-01"}})
			_, child := tracer.Start(ctx, "under the caller")
			child.End()
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			spans, _ := rcv.Spans()
			var got []string
			for _, s := range spans {
				got = append(got, s.Name)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("exported (-want +got):\n%s", diff)
			}
		})
	}
}
