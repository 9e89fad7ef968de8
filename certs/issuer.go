package certs

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// IssuerOptions configures an Issuer. Zero values take the defaults.
type IssuerOptions struct {
	TTL        time.Duration    // workload certificate lifetime; default DefaultWorkloadTTL (24h)
	RenewAt    float64          // fraction of a certificate's lifetime after which it is renewed, in (0,1); default 0.5
	CheckEvery time.Duration    // how often Run looks for due renewals; default TTL/20 within [1s, 1m]
	Now        func() time.Time // clock; default time.Now
	OnRotate   func([]Identity) // called with the identities just renewed (sorted), from RenewDue's caller
	Logger     *slog.Logger     // default slog.Default()
}

func (o IssuerOptions) withDefaults() IssuerOptions {
	if o.TTL <= 0 {
		o.TTL = DefaultWorkloadTTL
	}
	if o.RenewAt <= 0 || o.RenewAt >= 1 {
		o.RenewAt = 0.5
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = min(max(o.TTL/20, time.Second), time.Minute)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Issuer holds one certificate per identity, issued on first use and renewed
// by Run, and the SDS secrets built from them. It is safe for concurrent use.
type Issuer struct {
	ca   *CA
	opts IssuerOptions
	root *tlsv3.Secret
	err  error // from building root; returned by Secrets

	mu      sync.Mutex
	issued  map[Identity]*issued
	pending map[Identity]*pendingIssue
}

// issued is one identity's current certificate and its secret; replaced
// whole on renewal, never modified.
type issued struct {
	cert    *Certificate
	secret  *tlsv3.Secret
	renewAt time.Time
}

// pendingIssue lets concurrent first calls for one identity share one issuance.
type pendingIssue struct {
	done   chan struct{}
	result *issued
	err    error
}

// NewIssuer returns an Issuer signing with ca.
func NewIssuer(ca *CA, opts IssuerOptions) *Issuer {
	root, err := RootSecret(ca.RootsPEM())
	return &Issuer{
		ca:      ca,
		opts:    opts.withDefaults(),
		root:    root,
		err:     err,
		issued:  map[Identity]*issued{},
		pending: map[Identity]*pendingIssue{},
	}
}

// Secrets returns id's "default" workload secret and the "ROOTCA" secret,
// issuing id's certificate on first call. The workload secret is the same
// pointer on every call until the certificate is renewed; the root secret is
// one object for every identity. Callers must not modify either.
func (i *Issuer) Secrets(id Identity) (workload, root *tlsv3.Secret, err error) {
	if i.err != nil {
		return nil, nil, i.err
	}
	entry, err := i.current(id)
	if err != nil {
		return nil, nil, err
	}
	return entry.secret, i.root, nil
}

// Certificate returns id's current certificate, issuing it on first call.
func (i *Issuer) Certificate(id Identity) (*Certificate, error) {
	entry, err := i.current(id)
	if err != nil {
		return nil, err
	}
	return entry.cert, nil
}

func (i *Issuer) current(id Identity) (*issued, error) {
	i.mu.Lock()
	if entry := i.issued[id]; entry != nil {
		i.mu.Unlock()
		return entry, nil
	}
	if p := i.pending[id]; p != nil {
		i.mu.Unlock()
		<-p.done
		return p.result, p.err
	}
	p := &pendingIssue{done: make(chan struct{})}
	i.pending[id] = p
	i.mu.Unlock()

	p.result, p.err = i.issue(id)
	i.mu.Lock()
	if p.err == nil {
		i.issued[id] = p.result
	}
	delete(i.pending, id)
	i.mu.Unlock()
	close(p.done)
	return p.result, p.err
}

func (i *Issuer) issue(id Identity) (*issued, error) {
	now := i.opts.Now()
	cert, err := i.ca.issue(id, i.opts.TTL, now)
	if err != nil {
		return nil, err
	}
	secret, err := WorkloadSecret(cert)
	if err != nil {
		return nil, err
	}
	lifetime := cert.NotAfter.Sub(now)
	renewAt := now.Add(time.Duration(float64(lifetime) * i.opts.RenewAt))
	i.opts.Logger.Debug("issued workload certificate", "identity", id, "notAfter", cert.NotAfter, "renewAt", renewAt)
	return &issued{cert: cert, secret: secret, renewAt: renewAt}, nil
}

// RenewDue renews every certificate whose renewal time has come, calls
// OnRotate with the renewed identities if there are any, and returns them.
// A failed renewal keeps the old certificate (it is retried next time) and is
// logged and returned joined in err. Run calls it periodically; tests may call
// it directly with a fake clock.
func (i *Issuer) RenewDue() (renewed []Identity, err error) {
	var errs []error
	for id, old := range i.due() {
		entry, issueErr := i.issue(id)
		if issueErr != nil {
			errs = append(errs, issueErr)
			continue
		}
		if i.replace(id, old, entry) {
			renewed = append(renewed, id)
		}
	}
	slices.SortFunc(renewed, compareIdentities)
	err = errors.Join(errs...)
	i.report(renewed, err)
	return renewed, err
}

func (i *Issuer) due() map[Identity]*issued {
	now := i.opts.Now()
	due := map[Identity]*issued{}
	i.mu.Lock()
	defer i.mu.Unlock()
	for id, entry := range i.issued {
		if !now.Before(entry.renewAt) {
			due[id] = entry
		}
	}
	return due
}

// replace installs entry unless id was dropped or renewed meanwhile.
func (i *Issuer) replace(id Identity, old, entry *issued) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.issued[id] != old {
		return false
	}
	i.issued[id] = entry
	return true
}

func (i *Issuer) report(renewed []Identity, err error) {
	if err != nil {
		i.opts.Logger.Error("certificate renewal failed; keeping the current certificates", "error", err)
	}
	if len(renewed) == 0 {
		return
	}
	i.opts.Logger.Info("renewed workload certificates", "count", len(renewed))
	if i.opts.OnRotate != nil {
		i.opts.OnRotate(renewed)
	}
}

// Run calls RenewDue every CheckEvery until ctx ends.
func (i *Issuer) Run(ctx context.Context) {
	ticker := time.NewTicker(i.opts.CheckEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			_, _ = i.RenewDue() // already logged
		}
	}
}

// Retain drops the certificates of identities not in inUse, so memory follows
// the identities proxies use. A dropped identity is issued anew if asked for again.
func (i *Issuer) Retain(inUse map[Identity]bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for id := range i.issued {
		if !inUse[id] {
			delete(i.issued, id)
		}
	}
}

// Len is the number of identities holding a certificate.
func (i *Issuer) Len() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.issued)
}

func compareIdentities(a, b Identity) int {
	return cmp.Or(
		strings.Compare(a.TrustDomain, b.TrustDomain),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.ServiceAccount, b.ServiceAccount),
	)
}
