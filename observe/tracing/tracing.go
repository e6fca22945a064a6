// Package tracing builds the process's OpenTelemetry trace pipeline: a
// TracerProvider configured from the standard OTEL_* environment variables
// and the config file's tracing section, exporting over OTLP/HTTP in
// batches, installed for the span helpers of package observe. With no
// endpoint it builds and installs nothing, so that tracing costs nothing.
//
// It is apart from observe because the OTLP exporter links gRPC (its
// protobuf service definitions), which the domain packages that start
// spans must not: only the assembly (package app) imports it.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/parleyhq/parley/observe"
)

// Options are the config file's tracing settings. The standard
// environment variables win over them (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// and OTEL_EXPORTER_OTLP_ENDPOINT over Endpoint, OTEL_SERVICE_NAME over
// ServiceName, OTEL_TRACES_SAMPLER over SampleRatio), as PARLEY_*
// variables win over the file: the deployment overrides the file, and
// what an operator's collector tooling sets is honoured as it documents.
// The zero value means: from the environment only.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP base URL
	// (http://collector:4318); spans go to Endpoint + "/v1/traces".
	Endpoint string
	// ServiceName is the resource's service.name. Empty: "parley".
	ServiceName string
	// SampleRatio, if set, samples that fraction of new traces (0 to 1),
	// following the caller's decision when it sent one (parent-based).
	// Nil: every trace.
	SampleRatio *float64
	// Version is the resource's service.version.
	Version string
}

// DefaultServiceName is the service.name spans are exported under unless
// OTEL_SERVICE_NAME or the config says otherwise.
const DefaultServiceName = "parley"

// Tracing is the process's trace pipeline, or nothing when tracing is off.
// Shutdown flushes what is buffered.
type Tracing struct {
	provider  *sdktrace.TracerProvider // nil: off
	endpoint  string
	uninstall func()
}

// Endpoint says where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the
// full URL), else OTEL_EXPORTER_OTLP_ENDPOINT (a base URL), else the
// configured endpoint (a base URL); "" when none is set, or when
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none. fromEnv says
// whether the exporter reads it from the environment itself.
func Endpoint(configured string) (endpoint string, fromEnv bool) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")), "none") {
		return "", false
	}
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		return v, true
	}
	if v := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		return strings.TrimRight(v, "/") + "/v1/traces", true
	}
	if configured = strings.TrimSpace(configured); configured != "" {
		return strings.TrimRight(configured, "/") + "/v1/traces", false
	}
	return "", false
}

// Start builds the trace pipeline opts and the environment describe and
// installs it for the span helpers (observe.Tracer, observe.InjectHTTP…).
// With no endpoint it returns a Tracing that is off and installs nothing.
// Nothing is dialled here: spans are sent in batches as they end.
func Start(ctx context.Context, opts Options) (*Tracing, error) {
	endpoint, fromEnv := Endpoint(opts.Endpoint)
	if endpoint == "" {
		return &Tracing{}, nil
	}
	var expOpts []otlptracehttp.Option
	if !fromEnv {
		// Environment variables are read by the exporter itself (with
		// their headers, timeout, TLS and compression companions); an
		// explicit option would override them.
		expOpts = append(expOpts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(ctx, expOpts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, err
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	// An explicit sampler would override OTEL_TRACES_SAMPLER, which the
	// SDK reads itself (empty counts as unset, as there).
	if strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")) == "" && opts.SampleRatio != nil {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*opts.SampleRatio))))
	}
	t := &Tracing{provider: sdktrace.NewTracerProvider(tpOpts...), endpoint: endpoint}
	t.uninstall = observe.Install(t.provider)
	return t, nil
}

// newResource names the service: the defaults, then what the config says,
// then OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (which win).
func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	name := opts.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if opts.Version != "" {
		attrs = append(attrs, attribute.String("service.version", opts.Version))
	}
	env, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource attributes from the environment: %w", err)
	}
	res, err := resource.Merge(resource.NewSchemaless(attrs...), env)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource attributes: %w", err)
	}
	return res, nil
}

// Enabled reports whether t exports spans.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// ExportEndpoint is where t sends spans, "" when off.
func (t *Tracing) ExportEndpoint() string {
	if t == nil {
		return ""
	}
	return t.endpoint
}

// ForceFlush exports every span that has ended, before returning.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.ForceFlush(ctx)
}

// Shutdown uninstalls t (if it is still the installed pipeline), exports
// the spans that have ended and stops the exporter. Safe to call twice.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	t.uninstall()
	return t.provider.Shutdown(ctx)
}
