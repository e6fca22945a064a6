package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/observe"
)

// Requests are counted by route pattern (not path: a caller's ids are no
// label values) and status class; a path no route matches by "unmatched".
func TestHTTPMetrics(t *testing.T) {
	m := observe.NewMetrics()
	g, err := gateway.New(config.Default(), gateway.Deps{Store: pingOK, Metrics: m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.Router().Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" || strings.HasSuffix(r.URL.Path, "/missing") {
			gateway.WriteError(w, http.StatusNotFound, "no such thing")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, path := range []string{"/things/1", "/things/2", "/things/missing", "/healthz", "/nowhere/abc", "/nowhere/def"} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
		g.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
	const want = `
# HELP parley_http_requests_total HTTP requests answered, by route pattern and status class (2xx, 3xx, 4xx, 5xx).
# TYPE parley_http_requests_total counter
parley_http_requests_total{code="2xx",route="/healthz"} 1
parley_http_requests_total{code="2xx",route="/things/{id}"} 2
parley_http_requests_total{code="2xx",route="unmatched"} 0
parley_http_requests_total{code="3xx",route="/healthz"} 0
parley_http_requests_total{code="3xx",route="/things/{id}"} 0
parley_http_requests_total{code="3xx",route="unmatched"} 0
parley_http_requests_total{code="4xx",route="/healthz"} 0
parley_http_requests_total{code="4xx",route="/things/{id}"} 1
parley_http_requests_total{code="4xx",route="unmatched"} 2
parley_http_requests_total{code="5xx",route="/healthz"} 0
parley_http_requests_total{code="5xx",route="/things/{id}"} 0
parley_http_requests_total{code="5xx",route="unmatched"} 0
# HELP parley_http_requests_in_flight HTTP requests being served (streams included).
# TYPE parley_http_requests_in_flight gauge
parley_http_requests_in_flight 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "parley_http_requests_total", "parley_http_requests_in_flight"); err != nil {
		t.Error(err)
	}
}
