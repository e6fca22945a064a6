package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/config"
)

// The admin UI's sign-in settings come from every layer, and a resource
// that is not an absolute URI is refused naming the setting.
func TestUISettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(file, []byte("ui:\n  client_id: from-file\n  scopes: [openid, profile]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.UI
	}{
		{"default", nil, nil, config.UI{}},
		{"file", []string{"--config", file}, nil, config.UI{ClientID: "from-file", Scopes: []string{"openid", "profile"}}},
		{"environment over file", []string{"--config", file}, map[string]string{"PARLEY_UI_CLIENT_ID": "from-env", "PARLEY_UI_RESOURCE": "urn:parley"},
			config.UI{ClientID: "from-env", Scopes: []string{"openid", "profile"}, Resource: "urn:parley"}},
		{"flags over environment", []string{"--ui-client-id", "from-flag", "--ui-scopes", "openid,email"}, map[string]string{"PARLEY_UI_CLIENT_ID": "from-env"},
			config.UI{ClientID: "from-flag", Scopes: []string{"openid", "email"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.UI); diff != "" {
				t.Errorf("ui (-want +got):\n%s", diff)
			}
		})
	}
	_, err := config.Load([]string{"--ui-resource", "parley"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "ui.resource") {
		t.Errorf("a resource that is not a URI: %v", err)
	}
}
