package app

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/observe"
)

// NewLogger builds the process logger that cfg describes: a text or JSON
// handler at cfg's level, writing to w ("gateway serve" passes stderr,
// leaving stdout to commands' output). Benchmarks use it too, so that the
// cost of logging is what ships.
//
// go-sdk's own info lines are logged at debug level (see sdkDebug).
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	// Lines logged inside a span carry its trace_id and span_id.
	return slog.New(observe.LogHandler(&sdkDebug{next: h, sdk: &pcCache{}}))
}

// sdkPackage is the import path prefix of go-sdk, whose log records
// sdkDebug recognises by their caller.
const sdkPackage = "github.com/modelcontextprotocol/go-sdk/"

// sdkDebug lowers go-sdk's info records to debug level. go-sdk logs at
// info every session's lifecycle ("server connecting", "server session
// connected", "session initialized", "server session disconnected") and
// every resource notification: on the 2026-07-28 path, where each request
// is a session of its own, three lines beside the access log's one for
// every call, which cost more CPU than the rest of the gateway's logging.
// They remain at debug level; go-sdk's warnings and errors pass as they
// are, and so does everything Parley logs.
type sdkDebug struct {
	next slog.Handler
	sdk  *pcCache
}

func (h *sdkDebug) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *sdkDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && h.sdk.fromSDK(r.PC) {
		if !h.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.next.Handle(ctx, r)
}

func (h *sdkDebug) WithAttrs(as []slog.Attr) slog.Handler {
	return &sdkDebug{next: h.next.WithAttrs(as), sdk: h.sdk}
}

func (h *sdkDebug) WithGroup(name string) slog.Handler {
	return &sdkDebug{next: h.next.WithGroup(name), sdk: h.sdk}
}

// pcCache remembers, per program counter, whether it lies in go-sdk.
type pcCache struct{ m sync.Map } // uintptr → bool

func (c *pcCache) fromSDK(pc uintptr) bool {
	if pc == 0 {
		return false
	}
	if v, ok := c.m.Load(pc); ok {
		return v.(bool)
	}
	fn := runtime.FuncForPC(pc)
	sdk := fn != nil && strings.HasPrefix(fn.Name(), sdkPackage)
	c.m.Store(pc, sdk)
	return sdk
}

// sdkLogger is l for go-sdk where Parley hands it a logger of its own (the
// MCP server and handlers, which log a few lines for every session): its
// info lines are debug lines, as sdkDebug makes them, and unless debug
// logging is on they are not even built (sdkDebug can only drop a line
// already built: it tells go-sdk's by the line's caller).
func sdkLogger(l *slog.Logger) *slog.Logger { return slog.New(infoAsDebug{l.Handler()}) }

// infoAsDebug takes info lines for debug lines.
type infoAsDebug struct{ next slog.Handler }

func infoToDebug(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (h infoAsDebug) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, infoToDebug(l))
}

func (h infoAsDebug) Handle(ctx context.Context, r slog.Record) error {
	r.Level = infoToDebug(r.Level)
	return h.next.Handle(ctx, r)
}

func (h infoAsDebug) WithAttrs(as []slog.Attr) slog.Handler {
	return infoAsDebug{h.next.WithAttrs(as)}
}

func (h infoAsDebug) WithGroup(name string) slog.Handler { return infoAsDebug{h.next.WithGroup(name)} }
