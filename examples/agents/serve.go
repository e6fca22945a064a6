package agents

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ShutdownTimeout bounds how long Serve waits for requests in flight once
// its context ends.
const ShutdownTimeout = 5 * time.Second

// URLFor is the base URL an agent on ln is reached at, with a trailing
// slash: http://127.0.0.1:PORT/. An unspecified address (0.0.0.0, ::)
// becomes 127.0.0.1.
func URLFor(ln net.Listener) string {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + ln.Addr().String() + "/"
	}
	host := addr.IP.String()
	if addr.IP == nil || addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)) + "/"
}

// Serve serves a on ln until ctx ends, then shuts down gracefully: it
// stops accepting, lets requests in flight finish (up to
// ShutdownTimeout) and returns nil. The card advertises URLFor(ln) unless
// the agent's Options.URL says otherwise.
func Serve(ctx context.Context, ln net.Listener, a *Agent) error {
	srv := &http.Server{Handler: a.Handler(URLFor(ln)), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Start makes an agent of role and serves it on addr (e.g.
// "127.0.0.1:0") until ctx ends or stop is called. It returns the agent's
// base URL (http://127.0.0.1:PORT/, its card's URL) once it is listening;
// stop shuts it down gracefully and waits for that, and may be called more
// than once.
func Start(ctx context.Context, addr string, role Role, opts Options) (url string, stop func(), err error) {
	a, err := New(role, opts)
	if err != nil {
		return "", nil, err
	}
	return StartAgent(ctx, addr, a)
}

// StartAgent is Start for an agent already made.
func StartAgent(ctx context.Context, addr string, a *Agent) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("agent %s: %w", a.Name(), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := Serve(ctx, ln, a); err != nil {
			a.log.Error("serve", "error", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(cancel)
		<-done
	}
	url = URLFor(ln)
	if a.opts.URL != "" {
		url = a.opts.URL
	}
	return url, stop, nil
}
