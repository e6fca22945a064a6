package adminapi_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/parleyhq/parley/adminapi"
)

// The routes the admin UI reads (tickets, negotiations, the audit chain's
// verification, the change stream) are documented in api/openapi.yaml,
// with the statuses they answer.
func TestUIRoutesAreDocumented(t *testing.T) {
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	r := chi.NewRouter()
	adminapi.NewTickets(nil, nil, adminapi.Options{}).Mount(r)
	adminapi.NewNegotiations(nil, adminapi.NegotiationOptions{}).Mount(r)
	adminapi.NewAuditVerify(nil, adminapi.Options{}).Mount(r)
	adminapi.NewChanges(nil, adminapi.ChangesOptions{}).Mount(r)
	want := map[string][]string{
		"GET /api/v1/tickets":                     {"200", "400"},
		"GET /api/v1/tickets/{name}":              {"200", "400", "404"},
		"GET /api/v1/negotiations":                {"200", "400"},
		"GET /api/v1/negotiations/{name}":         {"200", "400", "404"},
		"POST /api/v1/negotiations/{name}/decide": {"200", "400", "404", "409"},
		"GET /api/v1/audit/verify":                {"200", "400"},
		"GET /api/v1/changes":                     {"200", "400", "503"},
	}
	seen := 0
	err = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		seen++
		op, ok := doc.Paths[route][strings.ToLower(method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not in openapi.yaml", method, route)
			return nil
		}
		responses, _ := op["responses"].(map[string]any)
		for _, status := range append(want[method+" "+route], "401", "403") {
			if _, ok := responses[status]; !ok {
				t.Errorf("%s %s: status %s is not documented", method, route, status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("mounted %d routes, want %d", seen, len(want))
	}
}
