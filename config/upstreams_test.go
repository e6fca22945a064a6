package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/config"
)

const validUpstreamsYAML = `
mcp:
  upstreams:
    - name: github
      url: https://mcp.github.example/mcp
      prefix: always
      deny: [delete_*, "admin_?"]
      credentials:
        client_credentials:
          token_url: https://idp.example/token
          client_id: parley
          client_secret_env: GITHUB_MCP_SECRET
          scopes: [mcp]
    - name: fs
      command: [mcp-server-fs, /data]
      env: {LOG_LEVEL: info}
      dir: /srv
      prefix: never
      allow: [read_*]
    - name: wiki-2
      url: http://127.0.0.1:9000/mcp
      credentials: {bearer_token_file: /run/secrets/wiki}
`

func TestLoadUpstreams(t *testing.T) {
	cfg, err := config.Load([]string{"--config", writeFile(t, "parley.yaml", validUpstreamsYAML)}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Upstream{
		{Name: "github", URL: "https://mcp.github.example/mcp", Prefix: "always", Deny: []string{"delete_*", "admin_?"},
			Credentials: &config.UpstreamCredentials{ClientCredentials: &config.UpstreamClientCredentials{
				TokenURL: "https://idp.example/token", ClientID: "parley", ClientSecretEnv: "GITHUB_MCP_SECRET", Scopes: []string{"mcp"}}}},
		{Name: "fs", Command: []string{"mcp-server-fs", "/data"}, Env: map[string]string{"LOG_LEVEL": "info"}, Dir: "/srv", Prefix: "never",
			Allow: []string{"read_*"}},
		{Name: "wiki-2", URL: "http://127.0.0.1:9000/mcp", Credentials: &config.UpstreamCredentials{BearerTokenFile: "/run/secrets/wiki"}},
	}
	if diff := cmp.Diff(want, cfg.MCP.Upstreams); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}
	if len(config.Default().MCP.Upstreams) != 0 {
		t.Error("upstreams by default")
	}
}

func TestLoadUpstreamsInvalid(t *testing.T) {
	// upstream wraps the fields of one upstream (indented under "- ").
	upstream := func(fields string) string {
		return "mcp:\n  upstreams:\n    - " + strings.ReplaceAll(strings.TrimSpace(fields), "\n", "\n      ") + "\n"
	}
	tests := []struct {
		name      string
		file      string
		wantField string
		wantLine  int
		wantMsg   []string
	}{
		{name: "no name", file: upstream("url: https://x.example/mcp"),
			wantField: "mcp.upstreams[0].name", wantMsg: []string{"needs a name"}},
		{name: "upper-case name", file: upstream("name: GitHub\nurl: https://x.example/mcp"),
			wantField: "mcp.upstreams[0].name", wantLine: 3, wantMsg: []string{"lower-case letters"}},
		{name: "name too long", file: upstream("name: " + strings.Repeat("a", 33) + "\nurl: https://x.example/mcp"),
			wantField: "mcp.upstreams[0].name", wantMsg: []string{"1 to 32"}},
		{name: "names repeat", file: "mcp:\n  upstreams:\n    - {name: a, url: 'https://a.example'}\n    - {name: a, command: [a]}\n",
			wantField: "mcp.upstreams[1].name", wantLine: 4, wantMsg: []string{"unique", "mcp.upstreams[0]"}},
		{name: "neither url nor command", file: upstream("name: a"),
			wantField: "mcp.upstreams[0].url", wantMsg: []string{"must be set, or command"}},
		{name: "both", file: upstream("name: a\nurl: https://a.example\ncommand: [a]"),
			wantField: "mcp.upstreams[0].command", wantLine: 5, wantMsg: []string{"not be set together with url"}},
		{name: "relative url", file: upstream("name: a\nurl: /mcp"),
			wantField: "mcp.upstreams[0].url", wantLine: 4, wantMsg: []string{"absolute http:// or https:// URL"}},
		{name: "url with user info", file: upstream("name: a\nurl: https://u:p@a.example/mcp"),
			wantField: "mcp.upstreams[0].url", wantMsg: []string{"without user info"}},
		{name: "command as a string", file: upstream("name: a\ncommand: mcp-server-fs /data"),
			wantField: "mcp.upstreams[0].command", wantMsg: []string{"must be a list"}},
		{name: "empty program", file: upstream("name: a\ncommand: ['']"),
			wantField: "mcp.upstreams[0].command[0]", wantMsg: []string{"name the program"}},
		{name: "env on an HTTP upstream", file: upstream("name: a\nurl: https://a.example\nenv: {A: b}"),
			wantField: "mcp.upstreams[0].env", wantMsg: []string{"stdio upstream (command) only"}},
		{name: "credentials on a stdio upstream", file: upstream("name: a\ncommand: [a]\ncredentials: {bearer_token_env: T}"),
			wantField: "mcp.upstreams[0].credentials", wantMsg: []string{"HTTP upstream (url) only"}},
		{name: "bad prefix", file: upstream("name: a\nurl: https://a.example\nprefix: sometimes"),
			wantField: "mcp.upstreams[0].prefix", wantLine: 5, wantMsg: []string{"always", "never"}},
		{name: "bad glob", file: upstream("name: a\nurl: https://a.example\nallow: ['read_[']"),
			wantField: "mcp.upstreams[0].allow[0]", wantMsg: []string{"not a valid glob"}},
		{name: "empty deny", file: upstream("name: a\nurl: https://a.example\ndeny: ['']"),
			wantField: "mcp.upstreams[0].deny[0]", wantMsg: []string{"not empty"}},
		{name: "two credentials", file: upstream("name: a\nurl: https://a.example\ncredentials: {bearer_token_env: T, bearer_token_file: /t}"),
			wantField: "mcp.upstreams[0].credentials", wantMsg: []string{"exactly one of client_credentials, bearer_token_file, bearer_token_env"}},
		{name: "no credentials", file: upstream("name: a\nurl: https://a.example\ncredentials: {}"),
			wantField: "mcp.upstreams[0].credentials", wantMsg: []string{"exactly one"}},
		{name: "client credentials without a secret", file: upstream("name: a\nurl: https://a.example\ncredentials:\n  client_credentials: {token_url: 'https://idp.example/t', client_id: p}"),
			wantField: "mcp.upstreams[0].credentials.client_credentials.client_secret_env", wantMsg: []string{"not written in the config file"}},
		{name: "client credentials with a bad token URL", file: upstream("name: a\nurl: https://a.example\ncredentials:\n  client_credentials: {token_url: 'idp', client_id: p, client_secret_env: S}"),
			wantField: "mcp.upstreams[0].credentials.client_credentials.token_url"},
		{name: "unknown key", file: upstream("name: a\nurl: https://a.example\nprefx: never"),
			wantMsg: []string{`unknown key "mcp.upstreams[0].prefx"`, "prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load([]string{"--config", writeFile(t, "parley.yaml", tt.file)}, env(nil))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.wantField, err)
			}
			if tt.wantLine != 0 && ce.Source.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", ce.Source.Line, tt.wantLine, err)
			}
			for _, sub := range tt.wantMsg {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
		})
	}
}
