package auth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// TestEveryFaceJudgesTokensAlike sends every bad token to every face of
// one Service (MCP, A2A JSON-RPC, which also fronts the relays, the admin
// API's middleware and its authorizer, gRPC unary and streaming calls
// over a real connection) and checks that each refuses it, for the same
// reason, and reports the refusal once. A token one face accepts and
// another refuses is how a string exp got through (issue 10, finding 6).
func TestEveryFaceJudgesTokensAlike(t *testing.T) {
	iss := newIssuer(t)
	var mu sync.Mutex
	var heard []string
	s := iss.service(t, func(_ *config.Auth, o *auth.Options) {
		o.OnRefused = func(_ context.Context, endpoint string, err error) {
			var te *auth.TokenError
			reason := "not a token error"
			if errors.As(err, &te) {
				reason = string(te.Reason)
			}
			mu.Lock()
			heard = append(heard, endpoint+": "+reason)
			mu.Unlock()
		}
	})

	gs := grpc.NewServer(s.GRPCServerOptions()...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	grpcCtx := func(t *testing.T, header string) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		if header != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", header)
		}
		return ctx
	}
	// httpFace answers whether the face let the request through.
	httpFace := func(face func(http.Handler) http.Handler) func(t *testing.T, header string) bool {
		return func(t *testing.T, header string) bool {
			return do(face(echo()), http.MethodPost, "/", header).Code == http.StatusOK
		}
	}
	authorize := s.AdminAuthorizer(adminapi.ErrUnauthenticated)
	faces := []struct {
		endpoint string
		accepts  func(t *testing.T, header string) bool
	}{
		{"mcp", httpFace(s.MCP)},
		{"a2a", httpFace(s.A2A)},
		{"admin", httpFace(s.Admin)},
		{"admin", func(t *testing.T, header string) bool {
			r, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, adminapi.AgentsPath, nil)
			if header != "" {
				r.Header.Set("Authorization", header)
			}
			// An accepted token meets the policy: denied, not refused.
			return !errors.Is(authorize(r, adminapi.ActionListAgents), adminapi.ErrUnauthenticated)
		}},
		{"grpc", func(t *testing.T, header string) bool {
			_, err := hc.Check(grpcCtx(t, header), &healthpb.HealthCheckRequest{})
			if c := status.Code(err); c != codes.OK && c != codes.Unauthenticated {
				t.Errorf("gRPC unary: %v, want OK or Unauthenticated", err)
			}
			return err == nil
		}},
		{"grpc", func(t *testing.T, header string) bool {
			stream, err := hc.Watch(grpcCtx(t, header), &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if c := status.Code(err); c != codes.OK && c != codes.Unauthenticated {
				t.Errorf("gRPC stream: %v, want OK or Unauthenticated", err)
			}
			return err == nil
		}},
	}

	for _, tt := range badTokens(t, iss) {
		t.Run(tt.name, func(t *testing.T) {
			var got, want []string
			mu.Lock()
			heard = nil
			mu.Unlock()
			for _, f := range faces {
				want = append(want, f.endpoint+": "+string(tt.reason))
				if f.accepts(t, tt.header) {
					t.Errorf("the %s face accepted the token", f.endpoint)
				}
			}
			mu.Lock()
			got = append(got, heard...)
			mu.Unlock()
			if !slices.Equal(got, want) {
				t.Errorf("refusals reported:\n got %q\nwant %q", got, want)
			}
		})
	}

	// The same good token passes every face: the refusals above are the
	// tokens', not the faces'.
	t.Run("good token", func(t *testing.T) {
		header := "Bearer " + iss.token(map[string]any{"exp": float64(time.Now().Add(time.Hour).Unix()) + 0.5})
		mu.Lock()
		heard = nil
		mu.Unlock()
		for _, f := range faces {
			if !f.accepts(t, header) {
				t.Errorf("the %s face refused a good token", f.endpoint)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(heard) != 0 {
			t.Errorf("refusals reported for a good token: %q", heard)
		}
	})
}
