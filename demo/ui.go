package demo

import (
	"context"

	"github.com/parleyhq/parley/app"
)

// uiURL is where the gateway serves its admin web UI.
func uiURL(gw *app.App) string { return gw.URL + "/ui/" }

// holdForUI, with Options.UI, keeps the gateway and the agents running
// once the pipeline is done, so that the run can be looked at in the web
// UI, until hold ends (Ctrl-C, or the gateway failing).
func (d *demo) holdForUI(hold context.Context, gw *app.App) {
	if !d.ui {
		return
	}
	d.out.blank()
	d.out.plain("The gateway and the agents keep running. Web UI: %s", uiURL(gw))
	d.out.plain("Press Ctrl-C to stop.")
	<-hold.Done()
}
