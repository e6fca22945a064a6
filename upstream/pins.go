package upstream

// Tool-definition pinning, against tool poisoning and rug pulls: an
// upstream that changes what a tool says it does (its description, its
// schemas) after people came to trust it. The first definition seen of a
// tool is approved; a later different one hides the tool, flagged as
// drift, until an admin approves it. Pins are per (upstream, tool name at
// the upstream) and live in the store, so that every replica serves the
// same approved definitions: a tool that changes on one replica's
// connection is held back on all of them only when they see the change
// themselves, but an approval reaches every replica (the feed's
// store.KindUpstreamTool change). A tool that leaves the upstream keeps
// its pin, so that leaving and coming back changed is drift too; removing
// the upstream drops its pins.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/parleyhq/parley/store"
)

// PinOptions tune Pins.
type PinOptions struct {
	Logger *slog.Logger
	// Now reads the clock. Default time.Now.
	Now func() time.Time
}

// Pins keeps the approved definitions of upstream tools.
type Pins struct {
	st  store.Upstreams
	log *slog.Logger
	now func() time.Time
}

// NewPins returns Pins over st.
func NewPins(st store.Upstreams, opts PinOptions) *Pins {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pins{st: st, log: opts.Logger, now: func() time.Time { return opts.Now().UTC().Truncate(time.Microsecond) }}
}

// DefinitionHash identifies a tool definition: "sha256:" and the hex
// SHA-256 of its canonical JSON.
func DefinitionHash(def []byte) string {
	sum := sha256.Sum256(def)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckTool records that upstream serves tool with definition def (its
// canonical JSON: name, description, input and output schemas,
// annotations) and reports whether Parley may serve it: yes for the first
// definition ever seen of the tool and for the approved one, no for any
// other (drift) until Approve. Of several replicas seeing a new tool at
// once, the first to record it decides what is approved; the others read
// its pin. Seeing the definition seen last again writes nothing.
//
// An error means the pin could not be read or written: the caller should
// not serve the tool (fail closed). ErrNotFound if the upstream is not
// registered.
func (p *Pins) CheckTool(ctx context.Context, upstream, tool string, def []byte) (visible bool, err error) {
	hash := DefinitionHash(def)
	for attempt := 0; ; attempt++ {
		pin, err := p.st.GetUpstreamTool(ctx, upstream, tool)
		if errors.Is(err, store.ErrNotFound) {
			now := p.now()
			pin, err = p.st.CreateUpstreamTool(ctx, store.UpstreamTool{
				Upstream: upstream, Tool: tool,
				ApprovedHash: hash, ApprovedAt: now, SeenHash: hash, SeenAt: now, FirstSeenAt: now,
			})
			if err == nil {
				p.log.Info("upstream tool pinned", "upstream", upstream, "tool", tool, "hash", hash)
				return true, nil
			}
			if errors.Is(err, store.ErrExists) && attempt < maxRetries {
				continue // another replica saw it first: read its pin
			}
			return false, fmt.Errorf("pin tool %q of upstream %q: %w", tool, upstream, err)
		}
		if err != nil {
			return false, fmt.Errorf("read the pin of tool %q of upstream %q: %w", tool, upstream, err)
		}
		if pin.SeenHash == hash {
			return hash == pin.ApprovedHash, nil
		}
		version := pin.Version
		pin.SeenHash, pin.SeenAt = hash, p.now()
		_, err = p.st.UpdateUpstreamTool(ctx, pin, version)
		if errors.Is(err, store.ErrVersionConflict) && attempt < maxRetries {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("record the definition of tool %q of upstream %q: %w", tool, upstream, err)
		}
		if hash == pin.ApprovedHash {
			p.log.Info("upstream tool serves its approved definition again", "upstream", upstream, "tool", tool)
			return true, nil
		}
		p.log.Warn("upstream tool definition changed: held back until approved", "upstream", upstream, "tool", tool,
			"approved_hash", pin.ApprovedHash, "seen_hash", hash)
		return false, nil
	}
}

// Drift is a tool whose definition changed since it was approved.
type Drift struct {
	// Tool is the tool's name at the upstream; Exposed its name behind
	// Parley.
	Tool    string
	Exposed string
	// ApprovedHash is the definition approved; SeenHash the one served now.
	ApprovedHash string
	SeenHash     string
	// DetectedAt is when the changed definition was first seen.
	DetectedAt time.Time
}

// Drifted returns the tools of spec's upstream whose definition changed
// since it was approved, by tool name.
func (p *Pins) Drifted(ctx context.Context, spec Spec) ([]Drift, error) {
	pins, err := p.st.ListUpstreamTools(ctx, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("list the tools of upstream %q: %w", spec.Name, err)
	}
	var out []Drift
	for _, pin := range pins {
		if pin.Drifted() {
			out = append(out, Drift{Tool: pin.Tool, Exposed: spec.Exposed(pin.Tool), ApprovedHash: pin.ApprovedHash,
				SeenHash: pin.SeenHash, DetectedAt: pin.SeenAt})
		}
	}
	return out, nil
}

// Approve makes the definitions last seen of spec's drifted tools the
// approved ones, so that they are served again: the tools named (by their
// name at the upstream or behind Parley), or every drifted tool when none
// is named. A named tool that has not drifted is left as it is. It returns
// the tools approved, by their names at the upstream. ErrNotFound for a
// name never seen.
func (p *Pins) Approve(ctx context.Context, spec Spec, tools []string) ([]string, error) {
	pins, err := p.st.ListUpstreamTools(ctx, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("list the tools of upstream %q: %w", spec.Name, err)
	}
	var chosen []store.UpstreamTool
	if len(tools) == 0 {
		for _, pin := range pins {
			if pin.Drifted() {
				chosen = append(chosen, pin)
			}
		}
	}
	for _, name := range tools {
		i := slices.IndexFunc(pins, func(pin store.UpstreamTool) bool { return pin.Tool == name })
		if i < 0 {
			i = slices.IndexFunc(pins, func(pin store.UpstreamTool) bool { return spec.Exposed(pin.Tool) == name })
		}
		if i < 0 {
			return nil, fmt.Errorf("upstream %q has served no tool named %q (name tools as the upstream names them, or as Parley serves them): %w",
				spec.Name, name, ErrNotFound)
		}
		if pins[i].Drifted() && !slices.ContainsFunc(chosen, func(c store.UpstreamTool) bool { return c.Tool == pins[i].Tool }) {
			chosen = append(chosen, pins[i])
		}
	}
	approved := []string{}
	for _, pin := range chosen {
		ok, err := p.approveOne(ctx, pin)
		if err != nil {
			return approved, err
		}
		if ok {
			approved = append(approved, pin.Tool)
		}
	}
	return approved, nil
}

// approveOne approves a pin's last seen definition, re-reading it when
// another write got in between. It reports false when the pin turned out
// not to be drifted (approved meanwhile, or the upstream reverted).
func (p *Pins) approveOne(ctx context.Context, pin store.UpstreamTool) (bool, error) {
	for attempt := 0; ; attempt++ {
		if !pin.Drifted() {
			return false, nil
		}
		version, was := pin.Version, pin.ApprovedHash
		pin.ApprovedHash, pin.ApprovedAt = pin.SeenHash, p.now()
		_, err := p.st.UpdateUpstreamTool(ctx, pin, version)
		if err == nil {
			p.log.Info("upstream tool definition approved", "upstream", pin.Upstream, "tool", pin.Tool, "hash", pin.ApprovedHash, "was", was)
			return true, nil
		}
		if !errors.Is(err, store.ErrVersionConflict) || attempt >= maxRetries {
			return false, fmt.Errorf("approve tool %q of upstream %q: %w", pin.Tool, pin.Upstream, err)
		}
		if pin, err = p.st.GetUpstreamTool(ctx, pin.Upstream, pin.Tool); err != nil {
			return false, fmt.Errorf("approve tool %q of upstream %q: %w", pin.Tool, pin.Upstream, err)
		}
	}
}
