package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Authenticator proves who the proxy behind a stream is, from the
// stream's context (its TLS peer certificate, its authorization metadata);
// clusterID is the cluster the proxy names (CLUSTER_ID). An error may
// carry a reason for isthmus_xds_auth_failures_total (see reasoned).
type Authenticator interface {
	Authenticate(ctx context.Context, clusterID string) (certs.Identity, error)
}

// reasoned is an authentication error that names its reason.
type reasoned interface{ Reason() string }

// Reasons a stream is refused before any response, besides those of the
// Authenticator.
const (
	reasonIdentityMismatch = "identity_mismatch"
	reasonNoAuthenticator  = "no_authenticator"
	reasonUnknown          = "unknown"
)

// ServeTLS accepts xDS connections on lis over TLS (Options.TLS) until
// Stop. Every stream must prove its proxy's identity
// (Options.Authenticator) before its first response, and the node metadata
// must claim that very identity; its proxy is then served its identity's
// private key.
func (s *Server) ServeTLS(lis net.Listener) error {
	if s.grpcTLS == nil {
		return errors.New("isthmus: ServeTLS without Options.TLS")
	}
	s.serving.Store(true)
	return s.grpcTLS.Serve(lis)
}

// grpcServers are the server's gRPC servers: plaintext, and TLS if any.
func (s *Server) grpcServers() []*grpc.Server {
	if s.grpcTLS == nil {
		return []*grpc.Server{s.grpc}
	}
	return []*grpc.Server{s.grpc, s.grpcTLS}
}

// newTLSServer is the gRPC server of ServeTLS for cfg, nil without one.
// Its connections read without gRPC's read buffer: on a TLS connection
// gRPC cannot pool that buffer, as it does on a plain TCP one, so each
// connection would hold connBufferSize for its life, while crypto/tls
// already buffers the record it decrypts and returns at most one record
// per read, so the buffer saves no system call.
func newTLSServer(xds xdsService, cfg *tls.Config) *grpc.Server {
	if cfg == nil {
		return nil
	}
	return newGRPCServer(xds, grpc.Creds(credentials.NewTLS(cfg)), grpc.ReadBufferSize(0))
}

// authenticate proves the identity of the proxy p of stream st: nil for a
// stream that did not come through ServeTLS (it proves nothing). A stream
// through ServeTLS without a valid credential, or whose node claims
// another identity than the proven one, is refused, counted and logged.
func (s *Server) authenticate(st *streamState, p *model.Proxy) (*certs.Identity, error) {
	if !st.tls {
		return nil, nil
	}
	if s.opts.Authenticator == nil {
		return nil, s.refuseAuth(st, p, reasonNoAuthenticator, codes.Unauthenticated, "isthmus: no authenticator for the secure port")
	}
	id, err := s.opts.Authenticator.Authenticate(st.ctx, p.ClusterID)
	if err != nil {
		return nil, s.refuseAuth(st, p, reasonOf(err), codes.Unauthenticated, "isthmus: "+clipError(err))
	}
	if claimed := claimedIdentity(p, id.TrustDomain); claimed != id {
		return nil, s.refuseAuth(st, p, reasonIdentityMismatch, codes.PermissionDenied,
			fmt.Sprintf("isthmus: the node claims %s but its credential proves %s", claimed.SPIFFEID(), id.SPIFFEID()))
	}
	return &id, nil
}

// claimedIdentity is the identity p's node metadata names.
func claimedIdentity(p *model.Proxy, trustDomain string) certs.Identity {
	sa := p.ServiceAccount
	if sa == "" {
		sa = DefaultServiceAccount
	}
	return certs.Identity{TrustDomain: trustDomain, Namespace: p.Namespace, ServiceAccount: sa}
}

func reasonOf(err error) string {
	var r reasoned
	if errors.As(err, &r) {
		return r.Reason()
	}
	return reasonUnknown
}

// refuseAuth counts, logs (bounded) and returns the refusal of a stream.
func (s *Server) refuseAuth(st *streamState, p *model.Proxy, reason string, code codes.Code, message string) error {
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	s.logs.logAt(slog.LevelWarn, logKey{msg: "refusing xDS stream: identity not proven", subject: reason},
		"reason", reason, "proxy", clipID(p.ID), "peer", peerString(st.peer), "error", clip(message, maxLoggedMessage))
	return status.Error(code, message)
}

// attachProven attaches a stream to its proxy with the identity it
// proved (nil: none). A proxy id connected with another proof is refused.
func (s *Server) attachProven(p *model.Proxy, proven *certs.Identity) (*proxyState, error) {
	ps := s.attach(p, proven)
	if (ps.proven == nil) != (proven == nil) || (proven != nil && *ps.proven != *proven) {
		s.detach(ps)
		return nil, status.Error(codes.PermissionDenied, "isthmus: proxy "+clipID(p.ID)+" is connected already with another proof of identity")
	}
	return ps, nil
}

// keyless reports whether ps must get no private key: it proved no
// identity and Options.InsecureIdentities is off.
func (s *Server) keyless(ps *proxyState) bool {
	return ps.proven == nil && !s.opts.InsecureIdentities
}

// withoutKeys keeps the secrets that hold no private key (the roots).
func withoutKeys(secrets []*tlsv3.Secret) []*tlsv3.Secret {
	var out []*tlsv3.Secret
	for _, sec := range secrets {
		if sec.GetTlsCertificate() == nil {
			out = append(out, sec)
		}
	}
	return out
}
