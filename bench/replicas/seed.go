package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/parallel"
	"github.com/parleyhq/parley/workspace"
)

func ticketIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("LOAD-%05d", i)
	}
	return ids
}

// seed saves the tickets on gateway a with save_ticket (stateless), as
// bench/mcpload does: realistic sizes, refunds below the confirmation
// threshold.
func seed(ctx context.Context, cfg *Config, e *env) error {
	const workers = 4
	count := newLandings(e.hosts())
	css := make([]*mcp.ClientSession, workers)
	defer mcpclient.CloseAll(css)
	for i := range css {
		var err error
		if css[i], err = mcpclient.Connect(ctx, e.replicas[0].url, e.httpClient(count, "", ""), mcpclient.ModeStateless, "replicas-seed"); err != nil {
			return fmt.Errorf("seed: connect to gateway a: %w", err)
		}
	}
	categories := []string{"billing", "technical", "account"}
	return parallel.Run(ctx, len(e.ids), workers, func(ctx context.Context, i int) error {
		customer := fmt.Sprintf("ACME-%05d", i)
		args := map[string]any{
			"ticket_id": e.ids[i], "customer": customer, "category": categories[i%len(categories)],
			"priority":      workspace.Priorities[i%len(workspace.Priorities)],
			"summary":       fmt.Sprintf("Customer %s reports being charged twice for the March invoice and asks for a refund of the duplicate payment.", customer),
			"refund_amount": float64(50 + i%400),
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		defer cancel()
		res, err := css[i%workers].CallTool(cctx, &mcp.CallToolParams{Name: "save_ticket", Arguments: args})
		if err == nil && res.IsError {
			err = errors.New(mcpclient.ResultText(res))
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", e.ids[i], err)
		}
		return nil
	})
}

// nginxVersion is what nginx -v says ("nginx/1.22.1"), or "".
func nginxVersion(path string) string {
	out, err := exec.Command(path, "-v").CombinedOutput()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	_, v, _ := strings.Cut(s, "version: ")
	return v
}
