package mcpclient

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/bench/internal/oidcissuer"
)

// Each client sends its own token, signed once; without auth, none.
func TestHTTPClients(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer ts.Close()
	iss, err := oidcissuer.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	hcs := HTTPClients{Issuer: iss, Subject: "test", Role: "r"}
	defer hcs.CloseIdle()
	for _, c := range []struct {
		auth bool
		i    int
	}{{true, 0}, {true, 1}, {true, 0}, {true, -1}, {false, 0}} {
		hc, err := hcs.New(ts.URL, c.auth, c.i)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tok := func(subject string) string { return "Bearer " + hcs.tokens[subject] }
	want := []string{tok("test-0"), tok("test-1"), tok("test-0"), tok("test-probe"), ""}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
	if len(hcs.tokens) != 3 || hcs.tokens["test-0"] == hcs.tokens["test-1"] {
		t.Errorf("tokens %v: want 3 distinct, one per subject", hcs.tokens)
	}
}
