package config_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
)

func TestLoadHTTP(t *testing.T) {
	file := writeFile(t, "http.yaml", `
http:
  allowed_hosts: [parley.internal, "*.corp.example"]
  allowed_origins: [https://console.example.com]
  body_read_timeout: 5s
  max_conns: 100
  max_conns_per_client: -1
`)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.HTTP
	}{
		{name: "defaults", want: config.HTTP{
			BodyReadTimeout: config.DefaultBodyReadTimeout, MaxConns: config.DefaultMaxConns, MaxConnsPerClient: config.DefaultMaxConnsPerClient}},
		{name: "file", args: []string{"--config", file}, want: config.HTTP{
			AllowedHosts: []string{"parley.internal", "*.corp.example"}, AllowedOrigins: []string{"https://console.example.com"},
			BodyReadTimeout: 5 * time.Second, MaxConns: 100, MaxConnsPerClient: -1}},
		{name: "env over file", args: []string{"--config", file}, env: map[string]string{
			"PARLEY_HTTP_ALLOWED_HOSTS": "a.example, b.example", "PARLEY_HTTP_BODY_READ_TIMEOUT": "1m",
			"PARLEY_HTTP_MAX_CONNS_PER_CLIENT": "10"},
			want: config.HTTP{AllowedHosts: []string{"a.example", "b.example"}, AllowedOrigins: []string{"https://console.example.com"},
				BodyReadTimeout: time.Minute, MaxConns: 100, MaxConnsPerClient: 10}},
		{name: "flags over env", args: []string{"--http-allowed-origins", "http://localhost:3000,https://x.example", "--http-max-conns", "-1"},
			env: map[string]string{"PARLEY_HTTP_MAX_CONNS": "7"},
			want: config.HTTP{AllowedOrigins: []string{"http://localhost:3000", "https://x.example"},
				BodyReadTimeout: config.DefaultBodyReadTimeout, MaxConns: -1, MaxConnsPerClient: config.DefaultMaxConnsPerClient}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got.HTTP, tt.want) {
				t.Errorf("HTTP = %+v, want %+v", got.HTTP, tt.want)
			}
		})
	}
}

func TestLoadHTTPInvalid(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantField string
		wantValue string
		wantFrom  string
		wantMsg   string
	}{
		{name: "host with a scheme", env: map[string]string{"PARLEY_HTTP_ALLOWED_HOSTS": "ok.example,https://x.example"},
			wantField: "http.allowed_hosts", wantValue: "https://x.example", wantFrom: "PARLEY_HTTP_ALLOWED_HOSTS", wantMsg: "without scheme or port"},
		{name: "host with a port", args: []string{"--http-allowed-hosts", "x.example:8080"},
			wantField: "http.allowed_hosts", wantValue: "x.example:8080", wantFrom: "--http-allowed-hosts", wantMsg: "without scheme or port"},
		{name: "origin without a scheme", args: []string{"--http-allowed-origins", "console.example.com"},
			wantField: "http.allowed_origins", wantValue: "console.example.com", wantFrom: "--http-allowed-origins", wantMsg: "must be an origin"},
		{name: "wildcard origin", args: []string{"--http-allowed-origins", "*"},
			wantField: "http.allowed_origins", wantValue: "*", wantFrom: "--http-allowed-origins", wantMsg: "must be an origin"},
		{name: "zero body timeout", env: map[string]string{"PARLEY_HTTP_BODY_READ_TIMEOUT": "0s"},
			wantField: "http.body_read_timeout", wantValue: "0s", wantFrom: "PARLEY_HTTP_BODY_READ_TIMEOUT", wantMsg: "positive duration"},
		{name: "zero connections", args: []string{"--http-max-conns", "0"},
			wantField: "http.max_conns", wantValue: "0", wantFrom: "--http-max-conns", wantMsg: "or negative (-1) for no limit"},
		{name: "zero connections per client", env: map[string]string{"PARLEY_HTTP_MAX_CONNS_PER_CLIENT": "0"},
			wantField: "http.max_conns_per_client", wantValue: "0", wantFrom: "PARLEY_HTTP_MAX_CONNS_PER_CLIENT", wantMsg: "or negative (-1) for no limit"},
		{name: "connections not a number", args: []string{"--http-max-conns", "many"},
			wantField: "http.max_conns", wantValue: "many", wantFrom: "--http-max-conns", wantMsg: "whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.args, env(tt.env))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error", err)
			}
			if ce.Field != tt.wantField || ce.Value != tt.wantValue || ce.Source.Name != tt.wantFrom {
				t.Errorf("error names %s %q from %q, want %s %q from %q", ce.Field, ce.Value, ce.Source.Name, tt.wantField, tt.wantValue, tt.wantFrom)
			}
			if !strings.Contains(ce.Reason, tt.wantMsg) {
				t.Errorf("reason %q lacks %q", ce.Reason, tt.wantMsg)
			}
		})
	}
}

func TestUsageHTTP(t *testing.T) {
	var buf bytes.Buffer
	config.Usage(&buf)
	for _, want := range []string{
		"-http-allowed-hosts", "PARLEY_HTTP_ALLOWED_HOSTS",
		"-http-allowed-origins", "PARLEY_HTTP_ALLOWED_ORIGINS",
		"-http-body-read-timeout", "PARLEY_HTTP_BODY_READ_TIMEOUT", "(default 30s)",
		"-http-max-conns", "PARLEY_HTTP_MAX_CONNS", "(default 4096)",
		"-http-max-conns-per-client", "PARLEY_HTTP_MAX_CONNS_PER_CLIENT", "(default 256)",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
