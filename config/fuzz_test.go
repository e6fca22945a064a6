package config

import (
	"errors"
	"testing"
)

// FuzzLoadYAML feeds arbitrary bytes as the config file: Load must never
// panic, and must either reject the file with *Error values or return a
// configuration that validates.
func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"",
		"listen: 127.0.0.1:0\nstore: sqlite://./x.db\n",
		"max_body_bytes: 1024\nshutdown_timeout: 2s\nlog_level: DEBUG\nlog_format: json\n",
		"store: postgres://u:p@db:5432/parley?sslmode=disable\n",
		"listen: [\n",
		"- a\n- b\n",
		"listen: :1\n---\nlisten: :2\n",
		"a: &x [*x, *x]\n",
		"<<: {listen: ':3'}\n",
		"{listen: 1, store: [a]}\n",
		"shutdown_timeout: 15\n",
		"max_body_bytes: -1\n",
		"unknown: 1\n",
		"auth:\n  issuer: https://idp\n  audiences: [a]\n  policy: [{name: a, match: {role: r}, allow: ['*']}]\n",
		"auth:\n  agents_credentials: {b: {client_credentials: {token_url: https://t, client_id: c, client_secret_env: S}}}\n",
		"auth: {role_claims: [a..b], policy: [{}], agents_credentials: {'': {}}}\n",
	} {
		f.Add([]byte(seed))
	}
	readFile := func(data []byte) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return data, nil }
	}
	noEnv := func(string) string { return "" }

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load([]string{"--config", "fuzz.yaml"}, noEnv, readFile(data))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load returned a config that does not validate: %v\n%+v", err, cfg)
		}
	})
}
