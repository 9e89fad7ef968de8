package authn

import (
	"context"
	"errors"

	"github.com/isthmus-mesh/isthmus/certs"
)

// Authenticator proves the identity of the caller of a gRPC call.
type Authenticator interface {
	// Authenticate returns the identity the credentials of the call in ctx
	// prove. clusterID is the Kubernetes cluster the caller says it runs
	// in (it may be empty); authenticators that need no cluster ignore it.
	// Errors are *Error. It must be safe for concurrent use.
	Authenticate(ctx context.Context, clusterID string) (certs.Identity, error)
}

// Reasons an Authenticator refuses, as Error.Reason.
const (
	ReasonNoCredential      = "no_credential"       // no credential of this kind was presented
	ReasonBadCertificate    = "bad_certificate"     // the client certificate does not verify or names no single mesh identity
	ReasonBadToken          = "bad_token"           // the token is malformed, or the API server does not authenticate it as a service account
	ReasonTokenReviewFailed = "token_review_failed" // the TokenReview call failed: refused, never trusted
	ReasonUnknownCluster    = "unknown_cluster"     // no Kubernetes client for the cluster the caller names
	ReasonWrongAudience     = "wrong_audience"      // the token is not for any of the accepted audiences
	ReasonExpired           = "expired"             // the certificate or token has expired
)

// ReasonUnknown is ReasonOf an error that is not an *Error.
const ReasonUnknown = "unknown"

// Error is an authentication refusal.
type Error struct {
	Reason string // one of the Reason constants
	Err    error  // the details, for logs; not meant for the caller
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "authentication failed: " + e.Reason
	}
	return "authentication failed: " + e.Reason + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the *Error in err's chain, "" for a nil
// err, and ReasonUnknown for any other error.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUnknown
}

func refusal(reason string, err error) error {
	return &Error{Reason: reason, Err: err}
}

func refuse(reason string, err error) (certs.Identity, error) {
	return certs.Identity{}, refusal(reason, err)
}

// Chain returns an Authenticator trying auths in order. The first one
// whose credential is present decides, even when it refuses: a present but
// invalid credential never falls through to the next. When none is
// present the error is ReasonNoCredential.
func Chain(auths ...Authenticator) Authenticator {
	return chain(auths)
}

type chain []Authenticator

func (c chain) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	for _, a := range c {
		id, err := a.Authenticate(ctx, clusterID)
		if ReasonOf(err) != ReasonNoCredential {
			return id, err
		}
	}
	return refuse(ReasonNoCredential, errors.New("neither a client certificate nor a bearer token"))
}
