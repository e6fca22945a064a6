package agentcards

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// NetErrorReason says, in the caller's terms, why a request to an agent
// (or to any URL a caller gave) got no answer: "host x could not be
// resolved", "connection refused", "timed out", "the address is not
// allowed: …". It never carries what only the gateway's side knows: the
// resolver's address, the local address, Go type names or the chain of
// wrapped errors. Log err itself (with slog) for that.
//
// ok is false when err is not about reaching the other side (a bad answer,
// a programming error); reason is then a generic "the request failed".
//
// It is the one place that turns network errors into words for callers:
// agent registration (card fetches and health probes), the relay, and the
// calls the agent tools make all use it.
func NetErrorReason(err error) (reason string, ok bool) {
	if err == nil {
		return "", false
	}
	var (
		blocked *BlockedError
		unres   *UnresolvableError
		dnsErr  *net.DNSError
		redir   *redirectError
		opErr   *net.OpError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &blocked):
		return "the address is not allowed: " + blocked.Explain(), true
	case errors.As(err, &dnsErr):
		return describeDNSError(dnsErr), true
	case errors.As(err, &unres):
		return fmt.Sprintf("host %s could not be resolved", unres.Host), true
	case errors.As(err, &redir):
		return string(*redir), true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timed out", true
	case errors.Is(err, context.Canceled):
		return "the request was cancelled", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the connection was reset", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	case errors.As(err, &unknown), errors.As(err, &invalid):
		return "its TLS certificate is not trusted", true
	case errors.As(err, &hostErr):
		return "its TLS certificate is not valid for its host name", true
	case errors.As(err, &record):
		return "it does not speak TLS (an https URL for a plain HTTP server?)", true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the connection closed before the answer was complete", true
	case errors.As(err, &opErr):
		if opErr.Op == "dial" {
			return "the connection could not be made", true
		}
		return "the connection failed", true
	}
	return "the request failed", false
}

// describeDNSError says what a failed lookup means for the host asked
// about, never which resolver answered (DNSError.Server).
func describeDNSError(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return fmt.Sprintf("host %s could not be resolved", e.Name)
	case e.IsTimeout:
		return fmt.Sprintf("looking up host %s timed out", e.Name)
	default:
		return fmt.Sprintf("host %s could not be resolved (the lookup failed; it may work later)", e.Name)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// UnresolvableError: a host could not be resolved, so it could not be
// checked. Its message names the host only; Err, the resolver's error,
// is for the log.
type UnresolvableError struct {
	Host string
	Err  error
}

func (e *UnresolvableError) Error() string {
	return fmt.Sprintf("host %s could not be resolved", e.Host)
}

func (e *UnresolvableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnresolvable) true.
func (e *UnresolvableError) Is(target error) bool { return target == ErrUnresolvable }

// redirectError is a redirect the guard's client refused; its text is for
// callers.
type redirectError string

func (e *redirectError) Error() string { return string(*e) }

func refuseRedirect(format string, args ...any) error {
	e := redirectError(fmt.Sprintf(format, args...))
	return &e
}
