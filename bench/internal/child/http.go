package child

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// ServeHTTP serves h on a free port of 127.0.0.1, with the gateway's
// server timeouts, until ctx ends; once it listens, it calls ready with
// its base URL (http://127.0.0.1:PORT).
func ServeHTTP(ctx context.Context, h http.Handler, ready func(base string) error) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // the gateway's (gateway.New)
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if err := ready("http://" + ln.Addr().String()); err != nil {
		_ = srv.Close()
		<-done
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
