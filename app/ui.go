package app

// The admin UI's assembly: the admin API routes it reads (tickets,
// negotiations, the audit chain's verification, the change stream),
// mounted with the other admin routes behind the same authentication,
// policy and audit, and the UI's own files at /ui/.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/ui"
)

// mountPipelineAPI adds the routes the admin UI reads to r, the admin
// group (authn.Admin and the audit middleware in front).
func (a *App) mountPipelineAPI(r chi.Router, authorize func(*http.Request, string) error, logger *slog.Logger) {
	opts := adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize}
	adminapi.NewTickets(a.Workspace, a.Negotiations, opts).Mount(r)
	adminapi.NewNegotiations(a.Negotiations, adminapi.NegotiationOptions{
		Options: opts,
		// Who decided, as the MCP decide_negotiation tool names it.
		DecidedBy: func(ctx context.Context) string {
			if p, ok := auth.FromContext(ctx); ok {
				return p.Name()
			}
			return ""
		},
		Denied: func(err error) bool { return errors.Is(err, auth.ErrForbidden) },
	}).Mount(r)
	adminapi.NewAuditVerify(a.Audit, opts).Mount(r)
	// The change stream ends when the gateway shuts down, rather than
	// holding the drain open; the page reconnects (with Last-Event-ID) to
	// whichever replica answers.
	r.Handle(adminapi.ChangesPath, a.Gateway.EndStreamsOnShutdown(adminapi.NewChanges(a.Store, adminapi.ChangesOptions{Options: opts})))
}

// mountUI serves the admin UI's files at /ui/: public, like the agent
// card (they hold no data); everything they show comes from the admin
// API, with the operator's token.
func (a *App) mountUI(version string) {
	cfg := a.Config
	ui.New(ui.Options{Issuer: cfg.Auth.Issuer, ClientID: cfg.UI.ClientID, Scopes: cfg.UI.Scopes, Resource: cfg.UI.Resource,
		Version: version}).Mount(a.Gateway.Router())
}
