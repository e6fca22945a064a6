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

// Every route the handler mounts is documented in api/openapi.yaml, with
// the error statuses it answers.
func TestRoutesAreDocumented(t *testing.T) {
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
	adminapi.New(nil, adminapi.Options{}).Mount(r)
	adminapi.NewUpstreams(nil, nil, adminapi.Options{}).Mount(r)
	// The routes the admin UI reads.
	adminapi.NewTickets(nil, nil, adminapi.Options{}).Mount(r)
	adminapi.NewNegotiations(nil, adminapi.NegotiationOptions{}).Mount(r)
	adminapi.NewAuditVerify(nil, adminapi.Options{}).Mount(r)
	adminapi.NewChanges(nil, adminapi.ChangesOptions{}).Mount(r)
	want := map[string][]string{
		"POST /api/v1/agents":                {"201", "400", "409", "422", "502"},
		"GET /api/v1/agents":                 {"200", "400"},
		"GET /api/v1/agents/{name}":          {"200", "404"},
		"PUT /api/v1/agents/{name}":          {"200", "400", "404", "422", "502"},
		"DELETE /api/v1/agents/{name}":       {"204", "404"},
		"POST /api/v1/agents/{name}/refetch": {"200", "404", "409", "502"},
		"POST /api/v1/agents/{name}/approve": {"200", "404", "409"},

		"GET /api/v1/upstreams":                 {"200", "400"},
		"POST /api/v1/upstreams":                {"201", "400", "409", "422"},
		"GET /api/v1/upstreams/{name}":          {"200", "404"},
		"DELETE /api/v1/upstreams/{name}":       {"204", "404", "409"},
		"POST /api/v1/upstreams/{name}/approve": {"200", "400", "404"},

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
