package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/internal/sse"
	"github.com/parleyhq/parley/store"
)

// ChangesPath streams what changes, as server-sent events.
const ChangesPath = "/api/v1/changes"

// ActionWatchChanges is the Authorize action of following the changes.
const ActionWatchChanges = "changes.watch"

// ChangeKinds are the kinds of change the stream passes on: those an
// admin looks at. Sessions, streams and tasks stay out of it.
var ChangeKinds = []string{store.KindTicket, store.KindAnalysis, store.KindNegotiation, store.KindAgent,
	store.KindUpstream, store.KindUpstreamTool}

// ChangesOptions tune a ChangesHandler.
type ChangesOptions struct {
	Options
	// MaxStreams caps the streams open at once; one more is answered 503.
	// Default 32.
	MaxStreams int
	// MaxDuration ends a stream after this long, so that a stream does not
	// outlive the token that opened it; the client reconnects with
	// Last-Event-ID and misses nothing. Default 5 minutes.
	MaxDuration time.Duration
	// KeepAlive is how often a comment is sent while nothing changes, so
	// that proxies keep the connection. Default 15 seconds.
	KeepAlive time.Duration
}

// ChangesHandler serves GET /api/v1/changes: every committed change of
// the kinds in ChangeKinds, on any replica, as an event "change" whose
// data is an api.Change (kind, key, version: what changed, never its
// contents, which the caller reads through the API and its checks) and
// whose ID is the change's sequence number. A client that reconnects
// with Last-Event-ID resumes after it; if the store no longer holds
// what followed, the stream starts with an event "reset" (refetch
// everything). Every stream opens with an event "ready", sent once the
// subscription is in place: what is committed after it is delivered.
type ChangesHandler struct {
	feed    store.Feed
	opts    ChangesOptions
	base    *Handler
	streams chan struct{}
	router  chi.Router
}

// NewChanges returns the change stream over feed.
func NewChanges(feed store.Feed, opts ChangesOptions) *ChangesHandler {
	opts.Options = opts.Options.withDefaults()
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 32
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = 5 * time.Minute
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	h := &ChangesHandler{feed: feed, opts: opts, base: &Handler{opts: opts.Options, log: opts.Logger},
		streams: make(chan struct{}, opts.MaxStreams)}
	h.router = standalone(h.Mount)
	return h
}

// Mount adds the route, at its full path, to r.
func (h *ChangesHandler) Mount(r chi.Router) { r.Get(ChangesPath, h.watch) }

// ServeHTTP serves the route on its own.
func (h *ChangesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

func (h *ChangesHandler) watch(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionWatchChanges) {
		return
	}
	if len(r.URL.Query()) > 0 {
		gateway.WriteError(w, http.StatusBadRequest, "the change stream takes no query parameters (resume with the Last-Event-ID header)")
		return
	}
	var after int64
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			gateway.WriteError(w, http.StatusBadRequest, "Last-Event-ID: "+strconv.Quote(s)+" is not an ID this stream sent")
			return
		}
		after = n
	}
	select {
	case h.streams <- struct{}{}:
		defer func() { <-h.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		gateway.WriteError(w, http.StatusServiceUnavailable, "too many change streams are open; try again shortly")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.MaxDuration)
	defer cancel()
	changes, reset, err := h.subscribe(ctx, after)
	if err != nil {
		h.base.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	out := sse.NewWriter(w)
	// retry: how long a browser's EventSource waits before reconnecting.
	if err := out.Write(sse.Event{Type: "ready", Data: []byte("{}"), Retry: time.Second, HasRetry: true}); err != nil {
		return
	}
	if reset {
		if err := out.Write(sse.Event{Type: "reset", Data: []byte("{}")}); err != nil {
			return
		}
	}
	tick := time.NewTicker(h.opts.KeepAlive)
	defer tick.Stop()
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				return // the stream's time is up, or the client left
			}
			if !slices.Contains(ChangeKinds, c.Kind) {
				continue
			}
			data, _ := json.Marshal(api.Change{Kind: c.Kind, Key: c.Key, Version: c.Version})
			if err := out.Write(sse.Event{Type: "change", ID: strconv.FormatInt(c.Seq, 10), Data: data}); err != nil {
				return
			}
		case <-tick.C:
			if err := out.Write(sse.Event{Comments: []string{"keep-alive"}}); err != nil {
				return
			}
		}
	}
}

// subscribe follows the feed after seq after (0: from now); reset says
// that what followed after was swept away and the stream starts from now.
func (h *ChangesHandler) subscribe(ctx context.Context, after int64) (<-chan store.Change, bool, error) {
	if after > 0 {
		ch, err := h.feed.SubscribeAfter(ctx, after)
		if err == nil {
			return ch, false, nil
		}
		if !errors.Is(err, store.ErrEventsPurged) {
			return nil, false, err
		}
	}
	ch, err := h.feed.Subscribe(ctx)
	return ch, after > 0, err
}
