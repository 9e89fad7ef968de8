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
	OnRotate   func([]Identity) // called with the identities whose secrets just changed (sorted), from RenewDue's caller
	Logger     *slog.Logger     // default slog.Default()

	// RootTrustDelay is how long a new root sits in ROOTCA beside the old
	// ones before certificates are issued from the new CA, so that every
	// proxy trusts it first (see Rotate); default DefaultRootTrustDelay.
	RootTrustDelay time.Duration
	// RootGrace is how long the old roots stay in ROOTCA after the last
	// certificate moved to the new CA; default DefaultRootGrace. They
	// also stay until the certificates SignCSR signed from them expire.
	RootGrace time.Duration
}

// Defaults of a root rotation's phases (IssuerOptions).
const (
	DefaultRootTrustDelay = time.Minute
	DefaultRootGrace      = 5 * time.Minute
)

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
	if o.RootTrustDelay <= 0 {
		o.RootTrustDelay = DefaultRootTrustDelay
	}
	if o.RootGrace <= 0 {
		o.RootGrace = DefaultRootGrace
	}
	return o
}

// Issuer holds one certificate per identity, issued on first use and renewed
// by Run, and the SDS secrets built from them; Rotate moves it to another
// CA. It is safe for concurrent use.
type Issuer struct {
	trustDomain string
	opts        IssuerOptions
	wake        chan struct{} // tells Run a rotation's schedule changed

	mu      sync.Mutex
	trust   trustState
	issued  map[Identity]*issued
	pending map[Identity]*pendingIssue
}

// issued is one identity's current certificate and its secret; replaced
// whole on renewal, never modified.
type issued struct {
	cert    *Certificate
	secret  *tlsv3.Secret
	renewAt time.Time
	ca      *CA // that issued cert
}

// pendingIssue lets concurrent first calls for one identity share one issuance.
type pendingIssue struct {
	done   chan struct{}
	result *issued
	err    error
}

// NewIssuer returns an Issuer signing with ca, its roots the trust bundle.
func NewIssuer(ca *CA, opts IssuerOptions) *Issuer {
	return &Issuer{
		trustDomain: ca.TrustDomain(),
		opts:        opts.withDefaults(),
		wake:        make(chan struct{}, 1),
		trust:       newTrustState(ca),
		issued:      map[Identity]*issued{},
		pending:     map[Identity]*pendingIssue{},
	}
}

// Secrets returns id's "default" workload secret and the "ROOTCA" secret,
// issuing id's certificate on first call. The workload secret is the same
// pointer on every call until the certificate is renewed; the root secret is
// one object for every identity. Callers must not modify either.
func (i *Issuer) Secrets(id Identity) (workload, root *tlsv3.Secret, err error) {
	entry, err := i.current(id)
	if err != nil {
		return nil, nil, err
	}
	i.mu.Lock()
	root, err = i.trust.root, i.trust.err
	i.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return entry.secret, root, nil
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
	i.mu.Lock()
	ca := i.trust.signing
	i.mu.Unlock()
	cert, err := ca.issue(id, i.opts.TTL, now)
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
	return &issued{cert: cert, secret: secret, renewAt: renewAt, ca: ca}, nil
}

// RenewDue renews every certificate whose renewal time has come, advances a
// root rotation (see Rotate: once its trust delay passed, every certificate
// is re-issued from the new CA; once its grace passed, the old roots leave
// ROOTCA), calls OnRotate with the identities whose secrets changed if there
// are any, and returns them. A failed renewal keeps the old certificate (it
// is retried next time) and is logged and returned joined in err. Run calls
// it periodically; tests may call it directly with a fake clock.
func (i *Issuer) RenewDue() (renewed []Identity, err error) {
	i.switchIfDue()
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
	if i.dropIfDue() || i.takeBundleChanged() {
		renewed = i.liveIdentities()
	}
	slices.SortFunc(renewed, compareIdentities)
	err = errors.Join(errs...)
	i.report(renewed, err)
	return renewed, err
}

// due lists the certificates past their renewal time or issued by another
// CA than the signing one.
func (i *Issuer) due() map[Identity]*issued {
	now := i.opts.Now()
	due := map[Identity]*issued{}
	i.mu.Lock()
	defer i.mu.Unlock()
	for id, entry := range i.issued {
		if !now.Before(entry.renewAt) || entry.ca != i.trust.signing {
			due[id] = entry
		}
	}
	return due
}

// replace installs entry unless id was dropped or renewed meanwhile. A
// certificate moved off an old CA restarts the old roots' grace.
func (i *Issuer) replace(id Identity, old, entry *issued) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.issued[id] != old {
		return false
	}
	i.issued[id] = entry
	if old.ca != entry.ca && !i.trust.dropAt.IsZero() {
		i.trust.dropAt = latest(i.trust.dropAt, i.opts.Now().Add(i.opts.RootGrace))
	}
	return true
}

func (i *Issuer) liveIdentities() []Identity {
	i.mu.Lock()
	defer i.mu.Unlock()
	ids := make([]Identity, 0, len(i.issued))
	for id := range i.issued {
		ids = append(ids, id)
	}
	return ids
}

func (i *Issuer) report(renewed []Identity, err error) {
	if err != nil {
		i.opts.Logger.Error("certificate renewal failed; keeping the current certificates", "error", err)
	}
	if len(renewed) == 0 {
		return
	}
	i.opts.Logger.Info("workload secrets changed", "count", len(renewed))
	if i.opts.OnRotate != nil {
		i.opts.OnRotate(renewed)
	}
}

// Run calls RenewDue every CheckEvery, and when a root rotation's next
// phase is due, until ctx ends.
func (i *Issuer) Run(ctx context.Context) {
	for {
		timer := time.NewTimer(i.nextCheck())
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-i.wake:
			timer.Stop()
		case <-timer.C:
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
