package upstream

// What an upstream serves, as Parley mirrors it: listed once when the
// upstream connects and again when it says its lists changed (or an
// approval asks for a re-check), never per call. Tools and prompts are
// filtered by the spec's Allow and Deny; tools are checked against their
// pins.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Catalog is an upstream's tools, prompts, resources and resource
// templates, under the upstream's own names. It is not modified once
// published: read it, do not change it.
type Catalog struct {
	Tools     []*mcp.Tool
	Prompts   []*mcp.Prompt
	Resources []*mcp.Resource
	Templates []*mcp.ResourceTemplate
	// HeldBack are the upstream's own names of tools hidden because their
	// definition changed since it was approved (or its pin could not be
	// checked).
	HeldBack []string
}

// Pinner decides whether an upstream tool may be served, given the
// canonical JSON of its definition (name, title, description, input and
// output schemas, annotations): the registry's Pins. An error hides the
// tool (fail closed).
type Pinner interface {
	CheckTool(ctx context.Context, upstream, tool string, def []byte) (visible bool, err error)
}

// Definition is the canonical JSON of a tool's definition, as pins hash
// it: what the tool tells a model about itself. Object keys are sorted
// (encoding/json sorts map keys), so that the same definition always
// gives the same bytes.
func Definition(t *mcp.Tool) ([]byte, error) {
	// Round-trip the schemas through generic values, so that key order
	// in the upstream's JSON does not matter.
	var in, out any
	if err := remarshal(t.InputSchema, &in); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	if t.OutputSchema != nil {
		if err := remarshal(t.OutputSchema, &out); err != nil {
			return nil, fmt.Errorf("output schema: %w", err)
		}
	}
	var ann any
	if t.Annotations != nil {
		if err := remarshal(t.Annotations, &ann); err != nil {
			return nil, fmt.Errorf("annotations: %w", err)
		}
	}
	return json.Marshal(map[string]any{
		"name": t.Name, "title": t.Title, "description": t.Description,
		"inputSchema": in, "outputSchema": out, "annotations": ann,
	})
}

func remarshal(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// list reads the upstream's catalog over cs and applies the spec's
// filters and the pins.
func (u *Conn) list(ctx context.Context, cs *mcp.ClientSession) (*Catalog, error) {
	c := &Catalog{}
	caps := &mcp.ServerCapabilities{}
	if ir := cs.InitializeResult(); ir != nil && ir.Capabilities != nil {
		caps = ir.Capabilities
	}
	if caps.Tools != nil {
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list tools: %w", err)
			}
			if !u.spec.Serves(t.Name) {
				continue
			}
			if !u.pinned(ctx, t) {
				c.HeldBack = append(c.HeldBack, t.Name)
				continue
			}
			c.Tools = append(c.Tools, t)
		}
	}
	if caps.Prompts != nil {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list prompts: %w", err)
			}
			if u.spec.Serves(p.Name) {
				c.Prompts = append(c.Prompts, p)
			}
		}
	}
	if caps.Resources != nil {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list resources: %w", err)
			}
			c.Resources = append(c.Resources, r)
		}
		for t, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("list resource templates: %w", err)
			}
			c.Templates = append(c.Templates, t)
		}
	}
	return c, nil
}

// pinned reports whether tool t may be served (no Pinner: yes).
func (u *Conn) pinned(ctx context.Context, t *mcp.Tool) bool {
	if u.m.opts.Pinner == nil {
		return true
	}
	def, err := Definition(t)
	if err != nil {
		u.log.WarnContext(ctx, "upstream tool held back: its definition cannot be read", "tool", t.Name, "error", err)
		return false
	}
	ok, err := u.m.opts.Pinner.CheckTool(ctx, u.spec.Name, t.Name, def)
	if err != nil {
		u.log.WarnContext(ctx, "upstream tool held back: its pin cannot be checked", "tool", t.Name, "error", err)
		return false
	}
	return ok
}
