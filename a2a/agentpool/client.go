package agentpool

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2agrpcv0 "github.com/a2aproject/a2a-go/v2/a2agrpc/v0"
	a2agrpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/agentcards"
)

// newClient builds a client for agent from its registered card: every
// binding and version a2a-go speaks is offered to the factory, which picks
// the newest protocol version the card lists and, within it, the
// interface the card lists first (its preferred one).
func (p *Pool) newClient(ctx context.Context, agent agentcards.Agent) (*a2aclient.Client, error) {
	card := clientCard(agent.Card)
	if len(card.SupportedInterfaces) == 0 {
		return nil, fmt.Errorf("its card lists no interface")
	}
	var rt http.RoundTripper = p.transport
	if p.opts.Outbound != nil {
		rt = p.opts.Outbound(agent.Name, rt)
	}
	// Outermost, so that a gateway answer in front of the agent (a proxy's
	// 502 page) is a failure to reach it, not an A2A error answer.
	rt = statusTransport{base: rt}
	// No total timeout: a streamed answer may last as long as the task;
	// callers bound their calls with their contexts.
	hc := &http.Client{Transport: rt}
	dial := []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return p.guard.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithChainUnaryInterceptor(unavailableUnary),
		grpc.WithChainStreamInterceptor(unavailableStream),
	}
	if p.opts.OutboundRPC != nil {
		if creds := p.opts.OutboundRPC(agent.Name); creds != nil {
			dial = append(dial, grpc.WithPerRPCCredentials(creds))
		}
	}
	return a2aclient.NewFromCard(ctx, card,
		a2aclient.WithDefaultsDisabled(),
		a2aclient.WithCallInterceptors(traceInterceptor{agent: agent.Name}), // spans and trace context (trace.go)
		a2aclient.WithJSONRPCTransport(hc),
		a2aclient.WithRESTTransport(hc),
		a2aclient.WithTransport(a2a.TransportProtocolGRPC, grpcFactory(dial, a2agrpcv1.NewGRPCTransport)),
		a2av0.WithJSONRPCTransport(a2av0.JSONRPCTransportConfig{Client: &http.Client{Transport: errorData03{base: rt}}}),
		a2av0.WithRESTTransport(a2av0.RESTTransportConfig{Client: hc}),
		a2aclient.WithCompatTransport(a2av0.Version, a2a.TransportProtocolGRPC, grpcFactory(dial, a2agrpcv0.NewGRPCTransport)),
	)
}

// clientCard is the registered card as a2a-go v2's AgentCard (either
// version's JSON is read), with the interfaces the registry validated:
// the registry fills in what a 0.3 card leaves implicit (a url without
// preferredTransport is JSON-RPC; additional interfaces share the card's
// protocol version), which a2av0's parser does not.
func clientCard(c *agentcards.Card) *a2a.AgentCard {
	card, err := a2av0.NewAgentCardParser()(c.Raw)
	if err != nil || card == nil {
		// Only the interfaces and extensions matter to the client.
		card = &a2a.AgentCard{Name: c.Name, Description: c.Description, Version: c.Version}
		for _, uri := range c.Capabilities.Extensions {
			card.Capabilities.Extensions = append(card.Capabilities.Extensions, a2a.AgentExtension{URI: uri})
		}
	}
	card.SupportedInterfaces = nil
	for _, i := range c.Interfaces {
		card.SupportedInterfaces = append(card.SupportedInterfaces, &a2a.AgentInterface{
			URL:             i.URL,
			ProtocolBinding: a2a.TransportProtocol(i.Transport),
			ProtocolVersion: interfaceVersion(c, i),
		})
	}
	return card
}

// interfaceVersion is the A2A version an interface speaks, as a2a-go's
// factory matches it (by major version): its own, else the card's, else
// 1.0 for a card with 1.0 fields and 0.3 for one without.
func interfaceVersion(c *agentcards.Card, i agentcards.Interface) a2a.ProtocolVersion {
	v := i.ProtocolVersion
	if v == "" {
		v = c.ProtocolVersion
	}
	if v == "" {
		if c.A2A10 {
			return a2a.Version
		}
		return a2av0.Version
	}
	return a2a.ProtocolVersion(strings.TrimPrefix(v, "v"))
}

// grpcFactory dials an interface's gRPC target through the guard. Cards
// name gRPC endpoints either as dial targets (host:port) or as URLs: an
// https URL gets TLS, an http URL or a bare target none (agents on a
// private network, as a2a-go's own examples serve).
func grpcFactory(dial []grpc.DialOption, newTransport func(*grpc.ClientConn) a2aclient.Transport) a2aclient.TransportFactory {
	return a2aclient.TransportFactoryFn(func(ctx context.Context, _ *a2a.AgentCard, iface *a2a.AgentInterface) (a2aclient.Transport, error) {
		target, secure, err := grpcTarget(iface.URL)
		if err != nil {
			return nil, err
		}
		creds := insecure.NewCredentials()
		if secure {
			creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
		}
		// passthrough: the guard's dialer resolves and checks the host
		// itself, at every dial.
		conn, err := grpc.NewClient("passthrough:///"+target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, dial...)...)
		if err != nil {
			return nil, fmt.Errorf("gRPC endpoint: %w", err)
		}
		return newTransport(conn), nil
	})
}

// grpcTarget turns a card's gRPC URL into host:port, and says whether it
// asks for TLS.
func grpcTarget(raw string) (target string, secure bool, err error) {
	if !strings.Contains(raw, "://") {
		if _, _, err := net.SplitHostPort(raw); err != nil {
			return "", false, fmt.Errorf("gRPC endpoint %q is not host:port or a URL", raw)
		}
		return raw, false, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("gRPC endpoint %q is not a URL with a host", raw)
	}
	switch u.Scheme {
	case "https", "grpcs":
		secure = true
	case "http", "grpc":
	default:
		return "", false, fmt.Errorf("gRPC endpoint %q: scheme %q is not http(s)", raw, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return host, secure, nil
}

// UnavailableError: an agent's gRPC endpoint could not be reached (the
// call ended with status Unavailable). a2a-go's gRPC client turns every
// status it does not know into an A2A "internal error", as if the agent
// had answered: the pool's interceptors say it was not reached instead.
type UnavailableError struct {
	// Reason is what went wrong, without addresses: "connection refused",
	// "its host could not be resolved", "the address is not allowed" or
	// "its gRPC endpoint is unavailable".
	Reason string
	// Detail is gRPC's message, for logs.
	Detail string
}

func (e *UnavailableError) Error() string { return e.Reason + ": " + e.Detail }

// Is makes errors.Is(err, ErrAgentUnreachable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrAgentUnreachable }

func unavailable(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return err
	}
	msg := st.Message()
	reason := "its gRPC endpoint is unavailable"
	switch {
	case strings.Contains(msg, "connection refused"):
		reason = "connection refused"
	case strings.Contains(msg, "no such host"):
		reason = "its host could not be resolved"
	case strings.Contains(msg, "refusing to connect"): // the guard's *BlockedError

		reason = "the address is not allowed"
	}
	return &UnavailableError{Reason: reason, Detail: msg}
}

func unavailableUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return unavailable(invoker(ctx, method, req, reply, cc, opts...))
}

func unavailableStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, unavailable(err)
	}
	return unavailableClientStream{s}, nil
}

type unavailableClientStream struct{ grpc.ClientStream }

func (s unavailableClientStream) RecvMsg(m any) error { return unavailable(s.ClientStream.RecvMsg(m)) }

// HTTPStatusError: an agent's URL answered with an HTTP error that is not
// an A2A error (no JSON body): a proxy or server in front of the agent
// failed, so the agent was not reached.
type HTTPStatusError struct {
	Code int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// Is makes errors.Is(err, ErrAgentUnreachable) true.
func (e *HTTPStatusError) Is(target error) bool { return target == ErrAgentUnreachable }

// statusTransport turns a 5xx answer without a JSON body into an
// *HTTPStatusError. Without it a2a-go's REST client reads such an answer
// as the agent's A2A "server error", which callers (the negotiation
// engine) must tell apart from an agent that could not be reached.
type statusTransport struct{ base http.RoundTripper }

func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 500 {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		return resp, nil
	}
	resp.Body.Close()
	return nil, &HTTPStatusError{Code: resp.StatusCode}
}
