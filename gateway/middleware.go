package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"

	"github.com/parleyhq/parley/internal/stack"
)

// RequestIDHeader carries a request's ID in both directions.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming request ID: it is logged on every
// line, so a client must not be able to make it arbitrarily large.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestIDFrom returns the request ID the middleware put in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// growStack gives the connection's goroutine its working stack at once
// (internal/stack), before the middleware goes deep: net/http starts it
// small, and each growth would copy every frame of the chain.
func growStack(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stack.Grow()
		next.ServeHTTP(w, r)
	})
}

// requestID gives every request an ID, echoed in the response header. A
// caller's own ID is kept so that its logs and ours can be joined, unless
// it is too long or holds anything but visible ASCII (it ends up in logs
// and headers, where control characters could forge lines).
func (g *Gateway) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		generated := !validRequestID(id)
		if generated {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		if generated {
			// Handlers that see only the request's headers (go-sdk hands MCP
			// handlers the headers, not the context) link their audit
			// records by this header: give them the ID we answer with, not
			// the caller's missing or refused one. WithContext made a
			// shallow copy; the header map is the caller's, so copy it.
			r.Header = r.Header.Clone()
			r.Header.Set(RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// newRequestID makes an ID that sorts by time (a UUIDv7): request IDs are
// indexed in the audit log, and an index takes keys that only grow at
// its right-hand end, where a random key (rand.Text) would dirty a page
// anywhere in the index for every audited request and make each commit
// write that many more pages.
func newRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return rand.Text()
	}
	return id.String()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// accessLog logs one line per request once the response is done.
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// chi's wrapper records status and size and keeps Flusher and
		// Hijacker visible, which streaming handlers need.
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		// Deferred so that a request aborted by a re-raised panic is
		// logged too.
		defer func() {
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK // nothing written: net/http sends 200
			}
			level := slog.LevelInfo
			if status >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			// Straight to the handler: a Logger finds every line's caller
			// (runtime.Callers), which this line, one per request, never
			// shows.
			ctx := r.Context()
			h := g.log.Handler()
			if !h.Enabled(ctx, level) {
				return
			}
			rec := slog.NewRecord(time.Now(), level, "request", 0)
			rec.AddAttrs(
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", RequestIDFrom(ctx)),
				slog.String("remote", r.RemoteAddr),
			)
			_ = h.Handle(ctx, rec)
		}()
		next.ServeHTTP(ww, r)
	})
}

// recoverPanics turns a panicking handler into a logged 500 instead of a
// dropped connection with the stack on stderr.
func (g *Gateway) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v) // net/http's deliberate way to abort a response
			}
			g.log.ErrorContext(r.Context(), "panic serving request",
				"panic", fmt.Sprint(v),
				"method", r.Method,
				"path", r.URL.Path,
				"request_id", RequestIDFrom(r.Context()),
				"stack", string(debug.Stack()),
			)
			if sw, ok := w.(interface{ Status() int }); ok && sw.Status() != 0 {
				// The status line is already out, so a 500 cannot be sent.
				// Abort the connection: a cut response is better than a
				// truncated one that looks complete.
				panic(http.ErrAbortHandler)
			}
			WriteError(w, http.StatusInternalServerError, "internal server error")
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody enforces cfg.MaxBodyBytes. A declared length over the limit
// is refused before the handler runs; any other body is capped with
// http.MaxBytesReader, whose error handlers turn into the same 413 with
// WriteBodyError.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	limit := g.cfg.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			WriteError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body too large: %d bytes exceeds the limit of %d bytes", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
