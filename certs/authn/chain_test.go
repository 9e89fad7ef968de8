package authn

import (
	"context"
	"errors"
	"testing"

	"github.com/isthmus-mesh/isthmus/certs"
)

// stub answers with a fixed result and counts its calls.
type stub struct {
	id    certs.Identity
	err   error
	calls int
}

func (s *stub) Authenticate(context.Context, string) (certs.Identity, error) {
	s.calls++
	return s.id, s.err
}

func TestChainFirstPresentCredentialDecides(t *testing.T) {
	other := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "kube-system", ServiceAccount: "admin"}
	absent := func() *stub { return &stub{err: refusal(ReasonNoCredential, errors.New("none"))} }
	invalid := func() *stub { return &stub{err: refusal(ReasonBadCertificate, errors.New("bad"))} }
	valid := func(id certs.Identity) *stub { return &stub{id: id} }

	first, second := absent(), valid(reviews)
	if id, err := Chain(first, second).Authenticate(context.Background(), ""); err != nil || id != reviews {
		t.Errorf("absent then valid: %v, %v; want %v", id, err, reviews)
	}

	bad, fallback := invalid(), valid(other)
	id, err := Chain(bad, fallback).Authenticate(context.Background(), "")
	wantRefused(t, "invalid then valid", id, err, ReasonBadCertificate)
	if fallback.calls != 0 {
		t.Error("an invalid credential fell through to the next authenticator")
	}

	good, unused := valid(reviews), valid(other)
	if id, err := Chain(good, unused).Authenticate(context.Background(), ""); err != nil || id != reviews || unused.calls != 0 {
		t.Errorf("valid then valid: %v, %v (second called %d times); want %v from the first", id, err, unused.calls, reviews)
	}

	id, err = Chain(absent(), absent()).Authenticate(context.Background(), "")
	wantRefused(t, "nothing presented", id, err, ReasonNoCredential)
	id, err = Chain().Authenticate(context.Background(), "")
	wantRefused(t, "empty chain", id, err, ReasonNoCredential)
}

func TestReasonOf(t *testing.T) {
	wrapped := errors.Join(errors.New("context"), refusal(ReasonExpired, nil))
	for err, want := range map[error]string{
		nil:                 "",
		errors.New("plain"): ReasonUnknown,
		wrapped:             ReasonExpired,
	} {
		if got := ReasonOf(err); got != want {
			t.Errorf("ReasonOf(%v) = %q, want %q", err, got, want)
		}
	}
}
