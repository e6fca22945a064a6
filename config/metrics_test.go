package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricsSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Metrics
	}{
		{"default: on, on the main listener", nil, nil, Metrics{Enabled: true}},
		{"off by flag", []string{"--metrics-enabled=false"}, nil, Metrics{}},
		{"own listener from the environment", nil, map[string]string{"PARLEY_METRICS_LISTEN": "127.0.0.1:9464"}, Metrics{Enabled: true, Listen: "127.0.0.1:9464"}},
		{"flag over environment", []string{"--metrics-listen", "127.0.0.1:9465"}, map[string]string{"PARLEY_METRICS_LISTEN": "127.0.0.1:9464"}, Metrics{Enabled: true, Listen: "127.0.0.1:9465"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Metrics); diff != "" {
				t.Errorf("Metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetricsListenChecked(t *testing.T) {
	tests := []struct {
		name, listen string
		bad          bool
	}{
		{"empty", "", false},
		{"own port", "127.0.0.1:9464", false},
		{"port 0", "127.0.0.1:0", false},
		{"no port", "localhost", true},
		{"the HTTP port", DefaultListen, true},
		{"the gRPC port", DefaultGRPCListen, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Metrics.Listen = tt.listen
			err := cfg.Validate()
			var e *Error
			if got := errors.As(err, &e) && e.Field == "metrics.listen"; got != tt.bad {
				t.Errorf("Validate() = %v; want an error naming metrics.listen: %v", err, tt.bad)
			}
		})
	}
}
