package config

import (
	"math"
	"net/url"
	"strconv"
)

// Tracing configures OpenTelemetry traces, exported over OTLP/HTTP. The
// standard OTEL_* environment variables win over these keys, as the
// environment wins over the file elsewhere: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// and OTEL_EXPORTER_OTLP_ENDPOINT over Endpoint, OTEL_SERVICE_NAME over
// ServiceName, OTEL_TRACES_SAMPLER over SampleRatio. With no endpoint in
// either, nothing is traced. The keys live in the file only: the
// environment's names for them are the OTEL_* ones.
type Tracing struct {
	// Endpoint is the collector's OTLP/HTTP base URL, such as
	// http://localhost:4318; spans go to its /v1/traces.
	Endpoint string `yaml:"endpoint"`
	// ServiceName is the service.name spans are exported under. Default
	// "parley".
	ServiceName string `yaml:"service_name"`
	// SampleRatio, if set, is the fraction of new traces recorded (0 to
	// 1); a caller's sampling decision is followed. Default: every trace.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

func (t Tracing) check(bad func(field, value, reason string)) {
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			bad("tracing.endpoint", redactURL(t.Endpoint), "must be the collector's OTLP/HTTP base URL, http:// or https://, e.g. http://localhost:4318")
		}
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		bad("tracing.sample_ratio", strconv.FormatFloat(*r, 'g', -1, 64), "must be a fraction from 0 to 1, such as 0.1")
	}
}
