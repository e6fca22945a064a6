package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/internal/sse"
	"github.com/parleyhq/parley/store"
)

// copyAnswer passes on a JSON answer (or turns what is not one into an
// error naming the agent).
func (c *call) copyAnswer(ctx context.Context, resp *http.Response) {
	c.copyActivatedExtensions(resp.Header)
	raw, err := readAnswer(resp, c.rl.opts.MaxResponseBytes)
	if err != nil {
		c.callFailed(ctx, fmt.Errorf("reading its answer: %w", err))
		return
	}
	if int64(len(raw)) > c.rl.opts.MaxResponseBytes {
		c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q answered with more than %d bytes", c.name, c.rl.opts.MaxResponseBytes)
		return
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		if resp.StatusCode == http.StatusOK {
			// a2a-go answers a call without a result (deleting a push
			// config) with nothing at all; JSON-RPC says result null.
			b, _ := compat.EncodeJSON(map[string]any{"jsonrpc": "2.0", "id": c.id, "result": nil})
			c.answer(b)
			return
		}
		c.fail(compat.CodeInternalError, causeBadResponse, "agent %q answered HTTP %s with no body", c.name, resp.Status)
		return
	}
	if c.av == c.cv && resp.StatusCode == http.StatusOK && compat.Method10(c.method) == "SendMessage" && json.Valid(raw) {
		// The hot path: a send's task, passed on as it came (sent.go).
		if id, ctxID, state, ok := sentTask(c.cv, raw); ok {
			if id != "" {
				noteTask(c.r.Context(), id) // the call's audit record names its task
				c.rl.record(store.RelayedTask{Agent: c.name, TaskID: id, ContextID: ctxID, Caller: c.caller, State: state, UpdatedAt: c.rl.opts.Now()})
			}
			c.answer(raw)
			return
		}
	}
	parsed, err := compat.DecodeJSON(raw)
	answer, _ := parsed.(map[string]any)
	_, hasResult := answer["result"]
	_, hasError := answer["error"]
	if _, hasID := answer["id"]; err == nil && hasID && !hasResult && !hasError && answer["jsonrpc"] == "2.0" && resp.StatusCode == http.StatusOK {
		// a2a-go (0.3.15) leaves the result out of an answer without one
		// (deleting a push config); JSON-RPC says result null.
		answer["result"] = nil
		if b, err := compat.EncodeJSON(answer); err == nil {
			raw, hasResult = b, true
		}
	}
	if err != nil || answer == nil || (!hasResult && !hasError) {
		if resp.StatusCode/100 != 2 {
			c.fail(compat.CodeInternalError, causeBadResponse, "agent %q answered HTTP %s: %s", c.name, resp.Status, snippet(raw))
			return
		}
		c.fail(compat.CodeInvalidAgentResponse, causeBadResponse, "agent %q answered with something that is not a JSON-RPC response: %s", c.name, snippet(raw))
		return
	}
	if c.av != c.cv {
		translate := compat.ResponseTo10
		if c.cv == compat.V03 {
			translate = compat.ResponseTo03
		}
		if raw, err = translate(c.method, raw); err != nil {
			c.fail(compat.CodeInvalidAgentResponse, causeTranslation, "agent %q: its A2A %s answer cannot be translated to A2A %s: %s", c.name, c.av, c.cv, compat.AsError(err).Message)
			return
		}
		parsed, _ = compat.DecodeJSON(raw)
		answer, _ = parsed.(map[string]any)
	}
	if out, changed := c.inspect(answer); changed {
		if b, err := compat.EncodeJSON(out); err == nil {
			raw = b
		}
	}
	c.answer(raw)
}

// readAnswer reads an agent's answer, up to max+1 bytes (one more than
// allowed, to tell an answer over the limit), as io.ReadAll of a
// LimitReader does, into a buffer sized from the declared length when
// there is one: io.ReadAll starts at 512 bytes and grows, copying the
// answer several times. The declared length is the agent's word, so what
// is allocated before any byte arrives stays within answerPresize.
func readAnswer(resp *http.Response, max int64) ([]byte, error) {
	return readSized(resp.Body, resp.ContentLength, max)
}

// readSized is readAnswer for any body whose length is declared as
// length (-1: not declared): a REST caller's request too (restsend.go).
func readSized(body io.Reader, length, max int64) ([]byte, error) {
	r := io.LimitReader(body, max+1)
	size := int64(512)
	if n := length; n > 0 && n <= max {
		size = min(n+1, answerPresize) // + 1: room for the read that meets the end
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow, as io.ReadAll does
		}
	}
}

// answerPresize bounds the buffer readAnswer allocates from an answer's
// declared length; a longer answer grows it as it arrives.
const answerPresize = 1 << 20

// inspect looks at an answer (or streamed event) in the caller's version:
// an agent's error is annotated with its name, a task is recorded, a card
// is rewritten. It returns the answer and whether it changed.
func (c *call) inspect(answer map[string]any) (map[string]any, bool) {
	if answer == nil {
		return nil, false
	}
	if e, ok := answer["error"].(map[string]any); ok {
		c.rl.log.DebugContext(c.r.Context(), "relay: agent error", "agent", c.name, "method", c.method, "caller", c.caller, "error", e["message"])
		noteRelayFailure(c.r.Context(), causeAgentError)
		return c.agentError(answer["id"], e), true
	}
	result := answer["result"]
	if compat.Method10(c.method) == "ListTasks" {
		if out, changed := c.ownTasksOnly(answer); changed {
			return out, true
		}
	}
	if id, ctxID, state, ok := taskOf(c.cv, result); ok {
		noteTask(c.r.Context(), id) // the call's audit record names its task
		c.rl.record(store.RelayedTask{Agent: c.name, TaskID: id, ContextID: ctxID, Caller: c.caller, State: state, UpdatedAt: c.rl.opts.Now()})
	}
	if compat.Method10(c.method) == "GetExtendedAgentCard" {
		if card, ok := result.(map[string]any); ok {
			if doc, err := compat.EncodeJSON(card); err == nil {
				if rewritten, err := c.rl.rewriteCard(doc, c.name); err == nil {
					if c.cv == compat.V10 {
						rewritten, err = compat.CardTo10(rewritten)
					}
					if v, err2 := compat.DecodeJSON(rewritten); err == nil && err2 == nil {
						out := maps.Clone(answer)
						out["result"] = v
						return out, true
					}
				}
			}
		}
	}
	return answer, false
}

// agentError renders an agent's JSON-RPC error for the caller: its message
// prefixed with the agent's name, its data in the shape of the caller's
// version (whatever shape the agent used) and naming the agent, as an
// "agent" member of object data (0.3, and 1.0 codes without an A2A
// reason) or an ErrorInfo detail in a 1.0 list of details.
func (c *call) agentError(id any, e map[string]any) map[string]any {
	code := compat.CodeInternalError
	if n, ok := e["code"].(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			code = int(i)
		}
	}
	msg, _ := e["message"].(string)
	data := e["data"]
	if code == compat.CodeTaskNotFound {
		// One form for every "task not found": the agent's own answers
		// differ per method and SDK (a2a-go v2: "failed to cancel:
		// cancelation failed: canceler setup failed: … task not found"),
		// and one that read otherwise than the relay's refusal of another
		// caller's task (taskNotFound) would tell that caller the task
		// exists.
		msg, data = relayTaskNotFound, map[string]any{"error": relayTaskNotFound}
	}
	if prefix := fmt.Sprintf("agent %q: ", c.name); !strings.HasPrefix(msg, prefix) {
		msg = prefix + msg
	}
	parsed, err := compat.DecodeJSON(compat.ErrorResponse(c.cv, id, &compat.Error{Code: code, Message: msg, Data: data}))
	out, _ := parsed.(map[string]any)
	rendered, _ := out["error"].(map[string]any)
	if err != nil || rendered == nil {
		return map[string]any{"jsonrpc": "2.0", "id": id, "error": e}
	}
	switch d := rendered["data"].(type) {
	case map[string]any:
		d["agent"] = c.name
	case []any:
		rendered["data"] = append(d, agentErrorInfo(c.name))
	case nil: // compat's rendering of codes without an A2A reason
		rendered["data"] = map[string]any{"agent": c.name}
	default:
		rendered["data"] = map[string]any{"value": d, "agent": c.name}
	}
	return out
}

func agentErrorInfo(agent string) map[string]any {
	return map[string]any{
		"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
		"reason":   "RELAYED_AGENT_ERROR",
		"domain":   "parley",
		"metadata": map[string]any{"agent": agent},
	}
}

// answer writes a JSON-RPC answer in the caller's version: a JSON body, or
// for a streaming method a stream of one event.
func (c *call) answer(b []byte) {
	if c.streaming {
		c.startStream(nil)
		_ = c.writeEvent(renderEvent(sse.Event{Data: b, HasData: true}))
		return
	}
	c.writeJSON(http.StatusOK, b)
}

func (c *call) writeJSON(status int, b []byte) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(append(b, '\n'))
}

// fail answers with a JSON-RPC error naming the agent.
func (c *call) fail(code int, cause, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.cause = cause
	noteRelayFailure(c.r.Context(), cause) // the call's audit record says it failed, or was refused
	c.answer(compat.ErrorResponse(c.cv, c.id, relayError(code, c.name, cause, msg)))
}

func relayError(code int, agent, cause, msg string) *compat.Error {
	// "error" is what a2a-go's client shows of an error's data.
	return &compat.Error{Code: code, Message: msg, Data: map[string]any{"agent": agent, "cause": cause, "error": msg}}
}

func snippet(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
