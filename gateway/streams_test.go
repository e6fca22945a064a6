package gateway_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
)

// A GET event stream (an MCP session's standalone stream) ends when the
// server shuts down, so the drain is clean and quick; a POST in flight is
// still drained, not cut.
func TestServeEndsGETStreamsOnShutdown(t *testing.T) {
	// A long timeout: without the stream ending, Serve would wait it out
	// and fail.
	g, _ := newGateway(t, func(c *config.Config) { c.ShutdownTimeout = time.Minute }, pingOK)
	streaming, posting, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stream := g.EndStreamsOnShutdown(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			close(posting)
			<-release
			io.WriteString(w, "call done")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		close(streaming)
		<-r.Context().Done() // a notification stream: open until told
	}))
	g.Router().Handle("/stream", stream)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := serve(t, ctx, g)

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-streaming
	post := make(chan string, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/stream", "application/json", nil)
		if err != nil {
			post <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		post <- string(b)
	}()
	<-posting

	cancel()
	// The stream ends as the shutdown starts; the POST is still drained.
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("the stream ended with %v, want its end", err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a POST was in flight", err)
	default:
	}
	close(release)
	if got := <-post; got != "call done" {
		t.Errorf("the POST in flight got %q, want its answer", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want a clean drain", err)
	}
}
