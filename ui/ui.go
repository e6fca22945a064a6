// Package ui is the gateway's admin web UI: a page of plain ES modules
// and one style sheet, embedded in the binary (no CDN, no fonts, no build
// step), served at /ui/. It speaks only the admin API (/api/v1/…), with
// the caller's own credentials, so that the API's authentication, policy,
// limits and audit are the UI's too: the UI adds no permission of its own.
//
// In no-auth mode the page calls the API as the gateway's anonymous
// caller (loopback only, as the gateway is). With an issuer, it signs the
// operator in with the OpenID Connect authorization code flow and PKCE,
// as the public client config.UI.ClientID, and keeps the access token in
// the page's memory only (a reload signs in again).
package ui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// Path is where the UI is served; Mount also redirects Path without its
// trailing slash to it.
const Path = "/ui/"

//go:embed assets
var assets embed.FS

// Options configure the UI.
type Options struct {
	// Issuer is the OIDC issuer the gateway verifies tokens from; empty in
	// no-auth mode.
	Issuer string
	// ClientID, Scopes and Resource are the sign-in's (config.UI).
	ClientID string
	Scopes   []string
	Resource string
	// Version is shown in the page's footer.
	Version string
}

// Config is what the page reads from config.json: how to sign in.
type Config struct {
	// Auth says that the admin API needs a token.
	Auth     bool     `json:"auth"`
	Issuer   string   `json:"issuer,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Version  string   `json:"version,omitempty"`
}

// Handler serves the UI's files under Path.
type Handler struct {
	files  http.Handler
	config []byte
	csp    string
}

// New returns the UI's handler.
func New(opts Options) *Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	cfg := Config{Auth: opts.Issuer != "", Issuer: opts.Issuer, ClientID: opts.ClientID, Scopes: opts.Scopes,
		Resource: opts.Resource, Version: opts.Version}
	if cfg.Auth && len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid"}
	}
	data, _ := json.Marshal(cfg)
	// The page talks to the gateway, and to the issuer for discovery and
	// the token exchange; it loads nothing from anywhere else.
	connect := "'self'"
	if u, err := url.Parse(opts.Issuer); err == nil && opts.Issuer != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return &Handler{
		files:  http.StripPrefix(strings.TrimSuffix(Path, "/"), http.FileServerFS(sub)),
		config: data,
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
			"; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	}
}

// Mount adds the UI to r (the gateway's router) at Path.
func (h *Handler) Mount(r interface {
	Handle(pattern string, h http.Handler)
}) {
	r.Handle(strings.TrimSuffix(Path, "/"), http.RedirectHandler(Path, http.StatusMovedPermanently))
	r.Handle(Path+"*", h)
}

// ServeHTTP serves the UI's files, and config.json.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method "+r.Method+" not allowed on "+r.URL.Path, http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// Small files, served from memory: always revalidated, so that an
	// upgraded gateway's page is never mixed with an old module.
	hd.Set("Cache-Control", "no-cache")
	if r.URL.Path == Path+"config.json" {
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		_, _ = w.Write(h.config)
		return
	}
	h.files.ServeHTTP(w, r)
}
