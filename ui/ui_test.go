package ui_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/ui"
)

func serve(t *testing.T, opts ui.Options) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	ui.New(opts).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServesThePage(t *testing.T) {
	srv := serve(t, ui.Options{Version: "v1.2.3"})
	for _, tc := range []struct {
		path, wantType, wantBody string
	}{
		{"/ui/", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "import"},
		{"/ui/style.css", "text/css; charset=utf-8", ":root"},
		{"/ui/config.json", "application/json", `{"auth":false,"version":"v1.2.3"}`},
	} {
		resp, body := get(t, srv, "GET", tc.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.wantType || !strings.Contains(body, tc.wantBody) {
			t.Errorf("GET %s: %d %q, body %.80q; want %s containing %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.wantType, tc.wantBody)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self';") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
	if resp, _ := get(t, srv, "GET", "/ui"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, srv, "POST", "/ui/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv, "GET", "/ui/nope.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/nope.js: %d", resp.StatusCode)
	}
}

func TestSignInConfig(t *testing.T) {
	srv := serve(t, ui.Options{Issuer: "https://idp.example.com/realms/x", ClientID: "parley-ui", Resource: "urn:parley"})
	resp, body := get(t, srv, "GET", "/ui/config.json")
	var got ui.Config
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := ui.Config{Auth: true, Issuer: "https://idp.example.com/realms/x", ClientID: "parley-ui", Scopes: []string{"openid"}, Resource: "urn:parley"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("config.json: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	// The page may reach the issuer (discovery, the token exchange), and
	// nothing else beyond the gateway.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://idp.example.com;") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// The assets load nothing from elsewhere (no CDN, no fonts), and every
// module a module imports is embedded.
func TestAssetsAreSelfContained(t *testing.T) {
	assets := os.DirFS("assets")
	files, err := fs.Glob(assets, "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("assets: %v %v", files, err)
	}
	external := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//|@import|url\((["']?)(https?:)?//|from ['"]https?:`)
	imports := regexp.MustCompile(`(?m)(?:import|from) ['"](\./[^'"]+)['"]`)
	srv := serve(t, ui.Options{})
	for _, name := range files {
		data, err := fs.ReadFile(assets, name)
		if err != nil {
			t.Fatal(err)
		}
		if m := external.Find(data); m != nil {
			t.Errorf("%s loads something from elsewhere: %s", name, m)
		}
		for _, m := range imports.FindAllStringSubmatch(string(data), -1) {
			if resp, _ := get(t, srv, "GET", "/ui/"+strings.TrimPrefix(m[1], "./")); resp.StatusCode != 200 {
				t.Errorf("%s imports %s, which is not served (%d)", name, m[1], resp.StatusCode)
			}
		}
		path := "/ui/" + name
		if name == "index.html" {
			path = "/ui/" // net/http serves index.html at its directory
		}
		if resp, body := get(t, srv, "GET", path); resp.StatusCode != 200 || body != string(data) {
			t.Errorf("GET /ui/%s: %d, not the file", name, resp.StatusCode)
		}
	}
}
