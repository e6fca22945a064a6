package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/internal/sse"
)

// copyStream passes on a text/event-stream answer event by event, each
// flushed to the caller as soon as it is complete, until the agent ends
// the stream or either side goes away. Comments (keep-alives) and events
// without data pass on as they are; an event the agent's stream ended in
// the middle of is passed on too.
func (c *call) copyStream(ctx context.Context, resp *http.Response) {
	c.startStream(resp.Header)
	limit := int(min(c.rl.opts.MaxResponseBytes, int64(^uint(0)>>1)))
	rd := sse.NewReader(resp.Body, sse.Options{MaxEventBytes: limit, KeepComments: true})
	for {
		ev, err := rd.Next()
		if err == nil || errors.Is(err, sse.ErrTruncated) {
			out, ok := c.event(ev)
			if werr := c.writeEvent(out); werr != nil {
				return // the caller went away; ctx ends the agent's side
			}
			if !ok {
				return
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF), errors.Is(err, sse.ErrTruncated):
			return
		case c.r.Context().Err() != nil:
			return
		case errors.Is(err, sse.ErrEventTooLarge):
			c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q streamed an event larger than %d bytes", c.name, c.rl.opts.MaxResponseBytes)
			return
		default:
			if errors.Is(context.Cause(ctx), errRelayTimeout) {
				c.callFailed(ctx, err)
				return
			}
			c.rl.log.WarnContext(c.r.Context(), "relay: agent stream broke", "agent", c.name, "method", c.method, "caller", c.caller, "err", err)
			reason, _ := agentcards.NetErrorReason(err)
			c.fail(compat.CodeInternalError, causeUnreachable, "agent %q: its stream broke: %s", c.name, reason)
			return
		}
	}
}

// event translates, inspects and renders one streamed event; ok false
// means the stream should end after it (it could not be translated).
func (c *call) event(ev sse.Event) (out []byte, ok bool) {
	if !ev.HasData {
		return renderEvent(ev), true
	}
	data := ev.Data
	if c.av != c.cv {
		translate := compat.StreamEventTo10
		if c.cv == compat.V03 {
			translate = compat.StreamEventTo03
		}
		var err error
		if data, err = translate(c.method, data); err != nil {
			e := relayError(compat.CodeInvalidAgentResponse, c.name, causeTranslation,
				fmt.Sprintf("agent %q: an A2A %s event cannot be translated to A2A %s: %s", c.name, c.av, c.cv, compat.AsError(err).Message))
			ev.Data = compat.ErrorResponse(c.cv, c.id, e)
			return renderEvent(ev), false
		}
	}
	if parsed, err := compat.DecodeJSON(data); err == nil {
		answer, _ := parsed.(map[string]any)
		if changed, ok := c.inspect(answer); ok {
			if b, err := compat.EncodeJSON(changed); err == nil {
				data = b
			}
		}
	}
	ev.Data = data
	return renderEvent(ev), true
}

// renderEvent writes an event out. The reader never returns a field Append
// refuses (a line break in an ID); should it, the event goes without its
// ID and type rather than not at all.
func renderEvent(ev sse.Event) []byte {
	b, err := sse.Append(nil, ev)
	if err != nil {
		ev.ID, ev.HasID, ev.Type = "", false, ""
		b, _ = sse.Append(nil, ev)
	}
	return b
}

// startStream writes the SSE response headers, once.
func (c *call) startStream(agentHeader http.Header) {
	if c.started {
		return
	}
	c.started = true
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	c.copyActivatedExtensions(agentHeader)
	c.w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(c.w).Flush()
}

// writeEvent writes rendered events and flushes them to the caller.
func (c *call) writeEvent(b []byte) error { return sse.NewWriter(c.w).WriteRaw(b) }

// copyActivatedExtensions passes on the extensions the agent activated, in
// the caller's spelling.
func (c *call) copyActivatedExtensions(agentHeader http.Header) {
	if agentHeader == nil {
		return
	}
	if ext := extensions(agentHeader, c.av); len(ext) > 0 {
		c.w.Header()[http.CanonicalHeaderKey(extensionsHeader(c.cv))] = ext
	}
}
