package caservice

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
)

// ClusterIDMetadata is the metadata key of the cluster the caller names:
// istio-agent sends "ClusterID", which gRPC lowercases.
const ClusterIDMetadata = "clusterid"

// Signer is the CA the service signs with; *certs.CA is one. A Signer
// that rotates may return another trust bundle from call to call.
type Signer interface {
	TrustDomain() string
	RootsPEM() []byte
	SignCSR(csr *x509.CertificateRequest, id certs.Identity, ttl time.Duration) (*certs.Certificate, error)
}

// Options configure a Service. Zero values take the defaults.
type Options struct {
	// MaxTTL caps the lifetime a caller may ask for (default certs.DefaultWorkloadTTL).
	MaxTTL time.Duration
	// Logger receives refusals and, at DEBUG, signings (default slog.Default()).
	Logger *slog.Logger
	// LogEvery is how often one kind of refusal is logged at most (default 1 minute).
	LogEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxTTL <= 0 {
		o.MaxTTL = certs.DefaultWorkloadTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogEvery <= 0 {
		o.LogEvery = time.Minute
	}
	return o
}

// Service serves IstioCertificateService. It is safe for concurrent use.
type Service struct {
	pb.UnimplementedIstioCertificateServiceServer
	ca      Signer
	auth    authn.Authenticator
	opts    Options
	metrics *metrics
	refused *limitedLog
}

// New returns a Service signing with ca for callers auth proves.
func New(ca Signer, auth authn.Authenticator, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{ca: ca, auth: auth, opts: opts, metrics: newMetrics(), refused: newLimitedLog(opts.Logger, opts.LogEvery)}
}

// Register adds the service to a gRPC server (a *grpc.Server).
func (s *Service) Register(r grpc.ServiceRegistrar) {
	pb.RegisterIstioCertificateServiceServer(r, s)
}

// CreateCertificate signs the request's CSR for the identity the caller
// proves; see the package documentation.
func (s *Service) CreateCertificate(ctx context.Context, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	resp, r := s.create(ctx, req)
	if r != nil {
		s.metrics.count(r.result(), r.reason)
		s.refused.warn(r.result()+"/"+r.reason, "certificate request refused",
			"result", r.result(), "reason", r.reason, "client", clientAddr(ctx), "cluster", clip(ClusterID(ctx)), "error", r.err)
		return nil, status.Error(r.code, r.public)
	}
	s.metrics.count(resultSigned, "")
	return resp, nil
}

func (s *Service) create(ctx context.Context, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, *refusal) {
	id, err := s.auth.Authenticate(ctx, ClusterID(ctx))
	if err != nil {
		reason := authn.ReasonOf(err)
		return nil, &refusal{codes.Unauthenticated, reason, "authentication failed: " + reason, err}
	}
	csr, r := parseCSR(req.GetCsr())
	if r != nil {
		return nil, r
	}
	if r := s.checkNames(csr, id); r != nil {
		return nil, r
	}
	cert, err := s.ca.SignCSR(csr, id, s.ttl(req.GetValidityDuration()))
	if errors.Is(err, certs.ErrInvalidCSR) {
		return nil, invalid("bad_csr", err)
	}
	if err != nil {
		return nil, &refusal{codes.Internal, "sign_failed", "signing failed", err}
	}
	chain, err := responseChain(cert.ChainPEM, s.ca.RootsPEM())
	if err != nil {
		return nil, &refusal{codes.Internal, "bad_ca_chain", "signing failed", err}
	}
	s.opts.Logger.Debug("signed workload certificate", "identity", id, "notAfter", cert.NotAfter, "client", clientAddr(ctx))
	return &pb.IstioCertificateResponse{CertChain: chain}, nil
}

// checkNames refuses a CSR naming anything but the proven identity.
func (s *Service) checkNames(csr *x509.CertificateRequest, id certs.Identity) *refusal {
	if err := checkSANs(csr, id); err != nil {
		return err
	}
	if td := s.ca.TrustDomain(); id.TrustDomain != td {
		return denied("other_trust_domain", fmt.Errorf("caller proved %s, not of the CA's trust domain %q", id, td))
	}
	return nil
}

// ttl is the lifetime to sign for: the requested seconds, or the default
// for none, capped at MaxTTL.
func (s *Service) ttl(seconds int64) time.Duration {
	maxTTL := s.opts.MaxTTL
	switch {
	case seconds <= 0:
		return min(certs.DefaultWorkloadTTL, maxTTL)
	case seconds >= int64(maxTTL/time.Second):
		return maxTTL
	}
	return time.Duration(seconds) * time.Second
}

// ClusterID is the cluster the caller names in its metadata, "" if none
// (or more than one value).
func ClusterID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if values := md.Get(ClusterIDMetadata); len(values) == 1 {
		return values[0]
	}
	return ""
}

func clientAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// refusal is a request refused: the status the caller gets and what is
// logged and counted.
type refusal struct {
	code   codes.Code
	reason string // label: the authn reason or the kind of refusal
	public string // the status message, for the caller
	err    error  // details, for the log
}

func (r *refusal) result() string {
	switch r.code {
	case codes.Unauthenticated:
		return "unauthenticated"
	case codes.InvalidArgument:
		return "invalid_argument"
	case codes.PermissionDenied:
		return "permission_denied"
	}
	return "internal"
}

func invalid(reason string, err error) *refusal {
	return &refusal{codes.InvalidArgument, reason, err.Error(), err}
}

func denied(reason string, err error) *refusal {
	return &refusal{codes.PermissionDenied, reason, err.Error(), err}
}
