package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/config"
)

// The tracing section is read from the file; a bad endpoint or ratio is
// refused naming the key and the file.
func TestTracingConfig(t *testing.T) {
	ratio := 0.25
	tests := []struct {
		name      string
		file      string
		want      config.Tracing
		wantField string // "" for no error; else the key at fault, or what the error says
	}{
		{"none", "listen: 127.0.0.1:1\n", config.Tracing{}, ""},
		{"all keys", "tracing:\n  endpoint: http://collector:4318\n  service_name: parley-eu\n  sample_ratio: 0.25\n",
			config.Tracing{Endpoint: "http://collector:4318", ServiceName: "parley-eu", SampleRatio: &ratio}, ""},
		{"endpoint not a URL", "tracing:\n  endpoint: collector:4318\n", config.Tracing{}, "tracing.endpoint"},
		{"endpoint with a query", "tracing:\n  endpoint: http://collector:4318/?x=1\n", config.Tracing{}, "tracing.endpoint"},
		{"ratio above 1", "tracing:\n  sample_ratio: 1.5\n", config.Tracing{}, "tracing.sample_ratio"},
		{"negative ratio", "tracing:\n  sample_ratio: -0.1\n", config.Tracing{}, "tracing.sample_ratio"},
		{"unknown key", "tracing:\n  endpont: http://collector:4318\n", config.Tracing{}, `unknown key "tracing.endpont"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "parley.yaml", tt.file)
			cfg, err := config.Load([]string{"--config", path}, env(nil))
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, cfg.Tracing); diff != "" {
					t.Errorf("Tracing (-want +got):\n%s", diff)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error for %s", err, tt.wantField)
			}
			if ce.Field != tt.wantField && !strings.Contains(err.Error(), tt.wantField) {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.wantField, err)
			}
			if ce.Source.Kind != config.SourceFile {
				t.Errorf("Source = %v, want the file", ce.Source)
			}
		})
	}
}
