package auth

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// GRPCServerOptions are the unary and stream interceptors that
// authenticate every gRPC call (the A2A gRPC binding): a missing or bad
// token is codes.Unauthenticated, missing required scopes
// codes.PermissionDenied, unreachable issuer keys codes.Unavailable. An
// accepted call's context carries its Principal. Pass them to
// a2a.Options.GRPCServerOptions.
func (s *Service) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(s.StreamServerInterceptor()),
	}
}

// UnaryServerInterceptor authenticates unary calls (see GRPCServerOptions).
func (s *Service) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := s.authenticateGRPC(ctx)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authenticates streaming calls (see
// GRPCServerOptions).
func (s *Service) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := s.authenticateGRPC(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (p *principalStream) Context() context.Context { return p.ctx }

// authenticateGRPC reads the authorization metadata of the call in ctx.
func (s *Service) authenticateGRPC(ctx context.Context) (context.Context, error) {
	if s.verifier == nil {
		return WithPrincipal(ctx, anonymousPrincipal()), nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	var p *Principal
	var err error
	switch len(values) {
	case 0:
		err = &TokenError{Reason: ReasonMissing}
	case 1:
		p, err = s.authenticateHeader(ctx, values[0])
	default:
		err = &TokenError{Reason: ReasonMalformed, Detail: "more than one authorization value"}
	}
	if err != nil {
		s.refused(ctx, "grpc", err)
		var te *TokenError
		switch {
		case errors.Is(err, ErrIssuerUnavailable):
			return nil, status.Error(codes.Unavailable, "authorization server unavailable")
		case errors.As(err, &te) && te.Reason == ReasonMissing:
			return nil, status.Error(codes.Unauthenticated, "authentication required")
		default:
			return nil, status.Error(codes.Unauthenticated, "invalid token")
		}
	}
	if missing := s.missingScopes(p); len(missing) > 0 {
		s.refused(ctx, "grpc", missingScopesError{errors.New("principal " + p.Name() + " lacks required scopes")})
		return nil, status.Error(codes.PermissionDenied, "insufficient scope")
	}
	return WithPrincipal(ctx, p), nil
}
