package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
)

// The admin UI's routes sit behind the admin API's authentication and
// policy: 401 without a token, 403 for a caller the policy does not
// allow, 200 for an admin or a caller granted the action; the UI's own
// files are public and tell the page how to sign in.
func TestUIRoutesAreProtected(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	idp := httptest.NewServer(o)
	t.Cleanup(idp.Close)
	o.SetIssuer(idp.URL)
	token := func(sub string, roles ...string) string {
		claims, _ := json.Marshal(map[string]any{"iss": idp.URL, "aud": "parley", "sub": sub, "roles": roles,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		return oidctest.SignIDToken(key, "k1", oidc.RS256, string(claims))
	}

	cfg := testConfig(t)
	cfg.Auth.Issuer, cfg.Auth.Audiences = idp.URL, []string{"parley"}
	cfg.Auth.RoleClaims, cfg.Auth.AdminRoles = []string{"roles"}, []string{"parley-admin"}
	cfg.Auth.Policy = []config.PolicyRule{{Name: "watchers", Match: config.PolicyMatch{Role: "watcher"},
		Allow: []string{"admin:list_negotiations", "admin:watch_changes"}}}
	cfg.UI.ClientID = "parley-ui"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Build(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-ran; a.Close() })

	call := func(method, path, bearer, body string) int {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		// A stream answers its headers at once; the request ends with the
		// test's context.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, a.URL+path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	admin, support, watcher := token("ada", "parley-admin"), token("sam", "support"), token("wes", "watcher")
	for _, tc := range []struct {
		method, path, body      string
		admin, support, watcher int
	}{
		{"GET", "/api/v1/tickets", "", 200, 403, 403},
		{"GET", "/api/v1/tickets/T-1", "", 404, 403, 403},
		{"GET", "/api/v1/negotiations", "", 200, 403, 200},
		{"GET", "/api/v1/negotiations/neg-1", "", 404, 403, 403},
		{"POST", "/api/v1/negotiations/neg-1/decide", `{"decision":"deny"}`, 404, 403, 403},
		{"GET", "/api/v1/audit/verify", "", 200, 403, 403},
		{"GET", "/api/v1/changes", "", 200, 403, 200},
	} {
		if got := call(tc.method, tc.path, "", tc.body); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", tc.method, tc.path, got)
		}
		for _, c := range []struct {
			who, token string
			want       int
		}{{"admin", admin, tc.admin}, {"support", support, tc.support}, {"watcher", watcher, tc.watcher}} {
			if got := call(tc.method, tc.path, c.token, tc.body); got != c.want {
				t.Errorf("%s %s as %s: %d, want %d", tc.method, tc.path, c.who, got, c.want)
			}
		}
	}
	// The page itself is public: it holds no data, and says how to sign in.
	resp, err := http.Get(a.URL + "/ui/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var uiCfg struct {
		Auth     bool   `json:"auth"`
		Issuer   string `json:"issuer"`
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&uiCfg); err != nil || !uiCfg.Auth || uiCfg.Issuer != idp.URL || uiCfg.ClientID != "parley-ui" {
		t.Errorf("/ui/config.json: %+v, %v", uiCfg, err)
	}
}

// An open change stream ends when the gateway shuts down, so that Run
// returns after a clean drain instead of waiting out the timeout.
func TestChangeStreamEndsOnShutdown(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownTimeout = time.Minute // a stream holding the drain would show as a hang
	a, err := app.Build(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runCtx, stop := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, a.URL+"/api/v1/changes", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: ready\n" {
		t.Fatalf("the stream opened with %q, %v", line, err)
	}
	began := time.Now()
	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run = %v, want a clean drain", err)
	}
	if took := time.Since(began); took >= cfg.ShutdownTimeout {
		t.Errorf("the drain took %s: the stream held it", took)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}
