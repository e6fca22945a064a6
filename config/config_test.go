package config_test

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
)

// env returns a getenv backed by a map, so tests never see the real
// environment.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// writeFile writes a config file into a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPrecedence(t *testing.T) {
	fileA := writeFile(t, "a.yaml", `
listen: 127.0.0.1:1111
store: sqlite:///var/lib/parley/a.db
max_body_bytes: 1000
gc_heap_floor_bytes: 0
shutdown_timeout: 30s
log_level: debug
log_format: json
`)
	fileB := writeFile(t, "b.yaml", "listen: 127.0.0.1:2222\n")
	empty := writeFile(t, "empty.yaml", "# nothing set here\n")
	noGRPC := writeFile(t, "nogrpc.yaml", "grpc_listen: \"\"\n")

	withDefaults := func(mod func(*config.Config)) config.Config {
		c := config.Default()
		mod(&c)
		return c
	}

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.Config
	}{
		{
			name: "defaults only",
			want: config.Default(),
		},
		{
			name: "empty file keeps defaults",
			args: []string{"--config", empty},
			want: withDefaults(func(c *config.Config) { c.File = empty }),
		},
		{
			name: "file sets everything",
			args: []string{"--config", fileA},
			want: config.Config{
				Listen:       "127.0.0.1:1111",
				GRPCListen:   config.DefaultGRPCListen,
				Store:        "sqlite:///var/lib/parley/a.db",
				MaxBodyBytes: 1000,
				// 0 from the file stays 0 (off), not the default.
				ShutdownTimeout: 30 * time.Second,
				LogLevel:        "debug",
				LogFormat:       "json",
				MCP:             config.MCP{ConfirmRefundAbove: config.DefaultConfirmRefundAbove, SessionTimeout: config.DefaultSessionTimeout, ReplicaLease: config.DefaultReplicaLease},
				Agents:          config.Agents{HealthInterval: config.DefaultAgentHealthInterval},
				Negotiation:     config.Default().Negotiation,
				HTTP:            config.Default().HTTP,
				Auth:            config.Default().Auth,
				Metrics:         config.Default().Metrics,
				File:            fileA,
			},
		},
		{
			name: "file named by PARLEY_CONFIG",
			env:  map[string]string{"PARLEY_CONFIG": fileB},
			want: withDefaults(func(c *config.Config) { c.Listen = "127.0.0.1:2222"; c.File = fileB }),
		},
		{
			name: "--config wins over PARLEY_CONFIG",
			args: []string{"--config", fileB},
			env:  map[string]string{"PARLEY_CONFIG": fileA},
			want: withDefaults(func(c *config.Config) { c.Listen = "127.0.0.1:2222"; c.File = fileB }),
		},
		{
			name: "--config empty ignores PARLEY_CONFIG",
			args: []string{"--config="},
			env:  map[string]string{"PARLEY_CONFIG": fileA},
			want: config.Default(),
		},
		{
			name: "env overrides file",
			args: []string{"--config", fileA},
			env: map[string]string{
				"PARLEY_LISTEN":              ":9000",
				"PARLEY_STORE":               "postgres://parley@db:5432/parley",
				"PARLEY_MAX_BODY_BYTES":      "2048",
				"PARLEY_SHUTDOWN_TIMEOUT":    "1m",
				"PARLEY_LOG_LEVEL":           "warn",
				"PARLEY_LOG_FORMAT":          "text",
				"PARLEY_GC_HEAP_FLOOR_BYTES": "1048576",
			},
			want: config.Config{
				GCHeapFloorBytes: 1 << 20,
				Listen:           ":9000",
				GRPCListen:       config.DefaultGRPCListen,
				Store:            "postgres://parley@db:5432/parley",
				MaxBodyBytes:     2048,
				ShutdownTimeout:  time.Minute,
				LogLevel:         "warn",
				LogFormat:        "text",
				MCP:              config.MCP{ConfirmRefundAbove: config.DefaultConfirmRefundAbove, SessionTimeout: config.DefaultSessionTimeout, ReplicaLease: config.DefaultReplicaLease},
				Agents:           config.Agents{HealthInterval: config.DefaultAgentHealthInterval},
				Negotiation:      config.Default().Negotiation,
				HTTP:             config.Default().HTTP,
				Auth:             config.Default().Auth,
				Metrics:          config.Default().Metrics,
				File:             fileA,
			},
		},
		{
			name: "empty env var counts as unset",
			args: []string{"--config", fileA},
			env:  map[string]string{"PARLEY_LISTEN": ""},
			want: withDefaults(func(c *config.Config) {
				*c = config.Config{Listen: "127.0.0.1:1111", GRPCListen: config.DefaultGRPCListen, Store: "sqlite:///var/lib/parley/a.db", MaxBodyBytes: 1000,
					ShutdownTimeout: 30 * time.Second, LogLevel: "debug", LogFormat: "json", File: fileA,
					MCP: config.MCP{ConfirmRefundAbove: config.DefaultConfirmRefundAbove, SessionTimeout: config.DefaultSessionTimeout, ReplicaLease: config.DefaultReplicaLease}, Agents: config.Agents{HealthInterval: config.DefaultAgentHealthInterval}, Negotiation: config.Default().Negotiation,
					Auth: config.Default().Auth, HTTP: config.Default().HTTP, Metrics: config.Default().Metrics}
			}),
		},
		{
			name: "flags override env and file",
			args: []string{
				"--config", fileA,
				"--listen", "127.0.0.1:0",
				"--store=sqlite://flag.db",
				"--max-body-bytes", "7",
				"--shutdown-timeout", "2s",
				"--log-level", "error",
				"-log-format", "json",
				"--gc-heap-floor-bytes", "2048",
			},
			env: map[string]string{
				"PARLEY_LISTEN":           ":9000",
				"PARLEY_STORE":            "postgres://db/parley",
				"PARLEY_MAX_BODY_BYTES":   "2048",
				"PARLEY_SHUTDOWN_TIMEOUT": "1m",
				"PARLEY_LOG_LEVEL":        "warn",
				"PARLEY_LOG_FORMAT":       "text",
			},
			want: config.Config{
				Listen:           "127.0.0.1:0",
				GRPCListen:       config.DefaultGRPCListen,
				Store:            "sqlite://flag.db",
				MaxBodyBytes:     7,
				GCHeapFloorBytes: 2048,
				ShutdownTimeout:  2 * time.Second,
				LogLevel:         "error",
				LogFormat:        "json",
				MCP:              config.MCP{ConfirmRefundAbove: config.DefaultConfirmRefundAbove, SessionTimeout: config.DefaultSessionTimeout, ReplicaLease: config.DefaultReplicaLease},
				Agents:           config.Agents{HealthInterval: config.DefaultAgentHealthInterval},
				Negotiation:      config.Default().Negotiation,
				HTTP:             config.Default().HTTP,
				Auth:             config.Default().Auth,
				Metrics:          config.Default().Metrics,
				File:             fileA,
			},
		},
		{
			name: "mcp section from env and flag",
			args: []string{"--mcp-confirm-refund-above", "-1"},
			env:  map[string]string{"PARLEY_MCP_CONFIRM_REFUND_ABOVE": "100.5", "PARLEY_MCP_STATE_KEY": "0123456789abcdef"},
			want: withDefaults(func(c *config.Config) { c.MCP.ConfirmRefundAbove, c.MCP.StateKey = -1, "0123456789abcdef" }),
		},
		{
			name: "confirm threshold 0 stays 0 (every refund)",
			env:  map[string]string{"PARLEY_MCP_CONFIRM_REFUND_ABOVE": "0"},
			want: withDefaults(func(c *config.Config) { c.MCP.ConfirmRefundAbove = 0 }),
		},
		{
			name: "unset flags do not override with their defaults",
			args: []string{"--listen", ":1"},
			env:  map[string]string{"PARLEY_STORE": "postgresql://db/parley"},
			want: withDefaults(func(c *config.Config) { c.Listen = ":1"; c.Store = "postgresql://db/parley" }),
		},
		{
			name: "agent settings from env",
			env:  map[string]string{"PARLEY_ALLOW_PRIVATE_AGENT_URLS": "true", "PARLEY_AGENTS_HEALTH_INTERVAL": "2m"},
			want: withDefaults(func(c *config.Config) { c.AllowPrivateAgentURLs = true; c.Agents.HealthInterval = 2 * time.Minute }),
		},
		{
			name: "agent settings from bare flag and flag",
			args: []string{"--allow-private-agent-urls", "--agents-health-interval=-1s"},
			env:  map[string]string{"PARLEY_ALLOW_PRIVATE_AGENT_URLS": "false"},
			want: withDefaults(func(c *config.Config) { c.AllowPrivateAgentURLs = true; c.Agents.HealthInterval = -time.Second }),
		},
		{
			name: "grpc listen and public url from env",
			env:  map[string]string{"PARLEY_GRPC_LISTEN": ":9001", "PARLEY_PUBLIC_URL": "https://parley.example.com/"},
			want: withDefaults(func(c *config.Config) { c.GRPCListen = ":9001"; c.PublicURL = "https://parley.example.com/" }),
		},
		{
			name: "empty grpc listen flag turns gRPC off",
			args: []string{"--grpc-listen=", "--public-url", "http://10.0.0.5:8080"},
			env:  map[string]string{"PARLEY_GRPC_LISTEN": ":9001"},
			want: withDefaults(func(c *config.Config) { c.GRPCListen = ""; c.PublicURL = "http://10.0.0.5:8080" }),
		},
		{
			name: "empty grpc listen in the file turns gRPC off",
			args: []string{"--config", noGRPC},
			want: withDefaults(func(c *config.Config) { c.GRPCListen = ""; c.File = noGRPC }),
		},
		{
			name: "level and format are case-insensitive",
			env:  map[string]string{"PARLEY_LOG_LEVEL": "DEBUG", "PARLEY_LOG_FORMAT": "JSON"},
			want: withDefaults(func(c *config.Config) { c.LogLevel = "debug"; c.LogFormat = "json" }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			// DeepEqual rather than ==: sections with lists will follow.
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		file       string // written to a temp file and passed with --config
		wantField  string
		wantValue  string
		wantKind   config.SourceKind
		wantSource string // Source.Name; "" for file sources (the temp path)
		wantLine   int
		wantMsg    []string // substrings of Error()
	}{
		{
			name:      "store scheme from env",
			env:       map[string]string{"PARLEY_STORE": "mysql://x"},
			wantField: "store", wantValue: "mysql://x", wantKind: config.SourceEnv, wantSource: "PARLEY_STORE",
			wantMsg: []string{`invalid config: store "mysql://x" (from PARLEY_STORE): must be sqlite://PATH or postgres://`},
		},
		{
			name:      "sqlite without a path",
			args:      []string{"--store", "sqlite://"},
			wantField: "store", wantValue: "sqlite://", wantKind: config.SourceFlag, wantSource: "--store",
			wantMsg: []string{`(from --store)`},
		},
		{
			name:      "unparseable postgres URL hides the password",
			env:       map[string]string{"PARLEY_STORE": "postgres://u:secret@db:port/x"},
			wantField: "store", wantValue: "postgres://xxxxx@db:port/x", wantKind: config.SourceEnv, wantSource: "PARLEY_STORE",
		},
		{
			name:      "listen without a port",
			args:      []string{"--listen", "localhost"},
			wantField: "listen", wantValue: "localhost", wantKind: config.SourceFlag, wantSource: "--listen",
			wantMsg: []string{"host:port"},
		},
		{
			name:      "listen port out of range",
			env:       map[string]string{"PARLEY_LISTEN": "127.0.0.1:65536"},
			wantField: "listen", wantValue: "127.0.0.1:65536", wantKind: config.SourceEnv, wantSource: "PARLEY_LISTEN",
		},
		{
			name:      "allow private agent urls not a bool",
			env:       map[string]string{"PARLEY_ALLOW_PRIVATE_AGENT_URLS": "sometimes"},
			wantField: "allow_private_agent_urls", wantValue: "sometimes", wantKind: config.SourceEnv, wantSource: "PARLEY_ALLOW_PRIVATE_AGENT_URLS",
			wantMsg: []string{"must be true or false"},
		},
		{
			name:      "session timeout zero",
			file:      "mcp:\n  session_timeout: 0s\n",
			wantField: "mcp.session_timeout", wantValue: "0s", wantKind: config.SourceFile, wantLine: 2,
			wantMsg: []string{"positive duration"},
		},
		{
			name:      "replica lease too short",
			env:       map[string]string{"PARLEY_MCP_REPLICA_LEASE": "100ms"},
			wantField: "mcp.replica_lease", wantValue: "100ms", wantKind: config.SourceEnv, wantSource: "PARLEY_MCP_REPLICA_LEASE",
			wantMsg: []string{"at least 1s"},
		},
		{
			name:      "agent health interval zero",
			file:      "agents:\n  health_interval: 0s\n",
			wantField: "agents.health_interval", wantValue: "0s", wantKind: config.SourceFile, wantLine: 2,
			wantMsg: []string{"positive duration", "negative (-1s) to turn health probes off"},
		},
		{
			name:      "grpc listen without a port",
			env:       map[string]string{"PARLEY_GRPC_LISTEN": "localhost"},
			wantField: "grpc_listen", wantValue: "localhost", wantKind: config.SourceEnv, wantSource: "PARLEY_GRPC_LISTEN",
			wantMsg: []string{"host:port", "empty to turn gRPC off"},
		},
		{
			name:      "grpc listen on the HTTP port",
			args:      []string{"--listen", ":8080", "--grpc-listen", "127.0.0.1:8080"},
			wantField: "grpc_listen", wantValue: "127.0.0.1:8080", wantKind: config.SourceFlag, wantSource: "--grpc-listen",
			wantMsg: []string{"must not be the HTTP listen address"},
		},
		{
			name:      "public url without a scheme",
			args:      []string{"--public-url", "parley.example.com"},
			wantField: "public_url", wantValue: "parley.example.com", wantKind: config.SourceFlag, wantSource: "--public-url",
			wantMsg: []string{"absolute http:// or https:// URL"},
		},
		{
			name:      "public url with a query",
			file:      "public_url: https://parley.example.com/?x=1\n",
			wantField: "public_url", wantValue: "https://parley.example.com/?x=1", wantKind: config.SourceFile, wantLine: 1,
		},
		{
			name:      "listen port by name",
			file:      "listen: 127.0.0.1:http\n",
			wantField: "listen", wantValue: "127.0.0.1:http", wantKind: config.SourceFile, wantLine: 1,
			wantMsg: []string{"line 1", "numeric port"},
		},
		{
			name:      "max body bytes not a number",
			env:       map[string]string{"PARLEY_MAX_BODY_BYTES": "abc"},
			wantField: "max_body_bytes", wantValue: "abc", wantKind: config.SourceEnv, wantSource: "PARLEY_MAX_BODY_BYTES",
			wantMsg: []string{"whole number"},
		},
		{
			name:      "confirm threshold NaN",
			env:       map[string]string{"PARLEY_MCP_CONFIRM_REFUND_ABOVE": "NaN"},
			wantField: "mcp.confirm_refund_above", wantValue: "NaN", wantKind: config.SourceEnv, wantSource: "PARLEY_MCP_CONFIRM_REFUND_ABOVE",
			wantMsg: []string{"0 to confirm every refund"},
		},
		{
			name:      "confirm threshold not a number",
			env:       map[string]string{"PARLEY_MCP_CONFIRM_REFUND_ABOVE": "lots"},
			wantField: "mcp.confirm_refund_above", wantValue: "lots", wantKind: config.SourceEnv, wantSource: "PARLEY_MCP_CONFIRM_REFUND_ABOVE",
			wantMsg: []string{"number"},
		},
		{
			name:      "state key too short",
			args:      []string{"--mcp-state-key", "short"},
			wantField: "mcp.state_key", wantValue: "(hidden)", wantKind: config.SourceFlag, wantSource: "--mcp-state-key",
			wantMsg: []string{"16 characters"},
		},
		{
			name:      "max body bytes zero",
			args:      []string{"--max-body-bytes", "0"},
			wantField: "max_body_bytes", wantValue: "0", wantKind: config.SourceFlag, wantSource: "--max-body-bytes",
			wantMsg: []string{"positive"},
		},
		{
			name:      "max body bytes negative in file",
			file:      "listen: :1\nmax_body_bytes: -1\n",
			wantField: "max_body_bytes", wantValue: "-1", wantKind: config.SourceFile, wantLine: 2,
		},
		{
			name:      "gc heap floor negative in environment",
			env:       map[string]string{"PARLEY_GC_HEAP_FLOOR_BYTES": "-1"},
			wantField: "gc_heap_floor_bytes", wantValue: "-1", wantKind: config.SourceEnv, wantSource: "PARLEY_GC_HEAP_FLOOR_BYTES",
		},
		{
			name:      "max body bytes wrong type in file",
			file:      "\nmax_body_bytes: lots\n",
			wantField: "max_body_bytes", wantValue: "lots", wantKind: config.SourceFile, wantLine: 2,
			wantMsg: []string{"whole number"},
		},
		{
			name:      "shutdown timeout bare number in file",
			file:      "shutdown_timeout: 15\n",
			wantField: "shutdown_timeout", wantValue: "15", wantKind: config.SourceFile, wantLine: 1,
			wantMsg: []string{"duration such as 15s"},
		},
		{
			name:      "shutdown timeout not a duration",
			env:       map[string]string{"PARLEY_SHUTDOWN_TIMEOUT": "soon"},
			wantField: "shutdown_timeout", wantValue: "soon", wantKind: config.SourceEnv, wantSource: "PARLEY_SHUTDOWN_TIMEOUT",
		},
		{
			name:      "shutdown timeout zero",
			args:      []string{"--shutdown-timeout", "0s"},
			wantField: "shutdown_timeout", wantValue: "0s", wantKind: config.SourceFlag, wantSource: "--shutdown-timeout",
		},
		{
			name:      "log level",
			env:       map[string]string{"PARLEY_LOG_LEVEL": "verbose"},
			wantField: "log_level", wantValue: "verbose", wantKind: config.SourceEnv, wantSource: "PARLEY_LOG_LEVEL",
			wantMsg: []string{"debug, info, warn, error"},
		},
		{
			name:      "log format",
			args:      []string{"--log-format", "xml"},
			wantField: "log_format", wantValue: "xml", wantKind: config.SourceFlag, wantSource: "--log-format",
			wantMsg: []string{"text or json"},
		},
		{
			name:      "unknown key in file",
			file:      "listen: :1\nlisten_addr: :2\n",
			wantValue: "listen_addr", wantKind: config.SourceFile, wantLine: 2,
			wantMsg: []string{`unknown key "listen_addr"`, "line 2", "known keys: ", "listen, log_format"},
		},
		{
			name:     "malformed YAML",
			file:     "listen: [\n",
			wantKind: config.SourceFile,
			wantMsg:  []string{"not valid YAML"},
		},
		{
			name:     "file is not a mapping",
			file:     "- listen\n",
			wantKind: config.SourceFile, wantLine: 1,
			wantMsg: []string{"mapping"},
		},
		{
			name:     "two documents",
			file:     "listen: :1\n---\nlisten: :2\n",
			wantKind: config.SourceFile,
			wantMsg:  []string{"more than one YAML document"},
		},
		{
			name:      "config file named by flag is missing",
			args:      []string{"--config", missing},
			wantField: "config", wantValue: missing, wantKind: config.SourceFlag, wantSource: "--config",
			wantMsg: []string{"no such file"},
		},
		{
			name:      "config file named by env is missing",
			env:       map[string]string{"PARLEY_CONFIG": missing},
			wantField: "config", wantValue: missing, wantKind: config.SourceEnv, wantSource: "PARLEY_CONFIG",
		},
		{
			name:     "unknown flag",
			args:     []string{"--lisen", ":1"},
			wantKind: config.SourceFlag,
			wantMsg:  []string{"command line", "lisen"},
		},
		{
			name:     "stray argument",
			args:     []string{"--listen", ":1", "extra"},
			wantKind: config.SourceFlag,
			wantMsg:  []string{`unexpected argument "extra"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			var path string
			if tt.file != "" {
				path = writeFile(t, "parley.yaml", tt.file)
				args = append([]string{"--config", path}, args...)
			}
			_, err := config.Load(args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("Field = %q, want %q", ce.Field, tt.wantField)
			}
			if tt.wantValue != "" && ce.Value != tt.wantValue {
				t.Errorf("Value = %q, want %q", ce.Value, tt.wantValue)
			}
			if ce.Source.Kind != tt.wantKind {
				t.Errorf("Source.Kind = %v, want %v", ce.Source.Kind, tt.wantKind)
			}
			wantName := tt.wantSource
			if tt.wantKind == config.SourceFile {
				wantName = path
			}
			if ce.Source.Name != wantName {
				t.Errorf("Source.Name = %q, want %q", ce.Source.Name, wantName)
			}
			if ce.Source.Line != tt.wantLine {
				t.Errorf("Source.Line = %d, want %d", ce.Source.Line, tt.wantLine)
			}
			for _, sub := range tt.wantMsg {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q leaks a password", err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := config.Load([]string{"--log-format", "xml"}, env(map[string]string{
		"PARLEY_MAX_BODY_BYTES": "abc",
		"PARLEY_LISTEN":         "nope",
	}))
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, field := range []string{"listen", "max_body_bytes", "log_format"} {
		if !strings.Contains(err.Error(), "invalid config: "+field+" ") {
			t.Errorf("error does not report %s:\n%v", field, err)
		}
	}
	// A setting that failed to parse is reported once, not again by the
	// range checks.
	if n := strings.Count(err.Error(), "max_body_bytes"); n != 1 {
		t.Errorf("max_body_bytes reported %d times:\n%v", n, err)
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		if _, err := config.Load([]string{arg}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%s) = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestUsage(t *testing.T) {
	var buf bytes.Buffer
	config.Usage(&buf)
	for _, want := range []string{
		"-config", "PARLEY_CONFIG",
		"-listen", "PARLEY_LISTEN", "(default 127.0.0.1:8080)",
		"-grpc-listen", "PARLEY_GRPC_LISTEN", "(default 127.0.0.1:8081)",
		"-public-url", "PARLEY_PUBLIC_URL",
		"-allow-private-agent-urls", "PARLEY_ALLOW_PRIVATE_AGENT_URLS",
		"-agents-health-interval", "PARLEY_AGENTS_HEALTH_INTERVAL", "(default 30s)",
		"-store", "PARLEY_STORE", "sqlite://./parley.db",
		"-max-body-bytes", "PARLEY_MAX_BODY_BYTES", "4194304",
		"-shutdown-timeout", "PARLEY_SHUTDOWN_TIMEOUT", "15s",
		"-log-level", "PARLEY_LOG_LEVEL",
		"-log-format", "PARLEY_LOG_FORMAT",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestStoreBackend(t *testing.T) {
	tests := []struct {
		store, kind, target string
	}{
		{"sqlite://./parley.db", "sqlite", "./parley.db"},
		{"sqlite:///var/lib/parley.db", "sqlite", "/var/lib/parley.db"},
		{"postgres://u:p@db:5432/parley?sslmode=disable", "postgres", "postgres://u:p@db:5432/parley?sslmode=disable"},
		{"postgresql://db/parley", "postgres", "postgresql://db/parley"},
		{"sqlite://", "", ""},
		{"mysql://x", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		kind, target := config.Config{Store: tt.store}.StoreBackend()
		if kind != tt.kind || target != tt.target {
			t.Errorf("StoreBackend(%q) = (%q, %q), want (%q, %q)", tt.store, kind, target, tt.kind, tt.target)
		}
	}
}

func TestValidateDefaults(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	c := config.Default()
	c.Listen = ""
	var ce *config.Error
	if err := c.Validate(); !errors.As(err, &ce) || ce.Field != "listen" {
		t.Fatalf("Validate = %v, want a listen error", err)
	}
	if strings.Contains(ce.Error(), "(from") {
		t.Errorf("error %q claims a source it does not know", ce)
	}
}

func TestPublicBaseURL(t *testing.T) {
	tests := []struct {
		name      string
		publicURL string
		listen    string
		bound     string
		want      string
	}{
		{"set", "https://parley.example.com/", "127.0.0.1:8080", "127.0.0.1:8080", "https://parley.example.com"},
		{"set with a path", "https://example.com/parley", ":8080", "", "https://example.com/parley"},
		{"from the bound address", "", "127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"from listen when not bound", "", "127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"all interfaces", "", ":8080", "[::]:8080", "http://127.0.0.1:8080"},
		{"all IPv4 interfaces", "", "0.0.0.0:8080", "", "http://127.0.0.1:8080"},
		{"IPv6 host", "", "[::1]:8080", "", "http://[::1]:8080"},
		{"named host", "", "localhost:8080", "", "http://localhost:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			c.PublicURL, c.Listen = tt.publicURL, tt.listen
			if got := c.PublicBaseURL(tt.bound); got != tt.want {
				t.Errorf("PublicBaseURL(%q) = %q, want %q", tt.bound, got, tt.want)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	tests := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	}
	for in, want := range tests {
		if got := (config.Config{LogLevel: in}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLogValueRedactsPassword(t *testing.T) {
	c := config.Default()
	c.Store = "postgres://parley:hunter2@db/parley"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("log leaks the password: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "config.listen=127.0.0.1:8080") {
		t.Errorf("log lacks the listen address: %s", buf.String())
	}
}
