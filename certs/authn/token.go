package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
)

// DefaultAudience is the audience istio-agent requests its token for.
const DefaultAudience = "istio-ca"

// AuthorizationMetadata is the gRPC metadata key of the bearer token.
const AuthorizationMetadata = "authorization"

const (
	defaultCacheSize     = 10000
	defaultReviewTimeout = 10 * time.Second
	// maxTokenBytes bounds what is hashed, parsed and sent for review;
	// Kubernetes tokens are about 1 KiB.
	maxTokenBytes = 16 << 10
	// serviceAccountGroup is the group of every service account's user.
	serviceAccountGroup = "system:serviceaccounts"
	serviceAccountUser  = "system:serviceaccount:"
)

// ClusterClients returns the client of the Kubernetes cluster a caller
// names, and whether Isthmus knows that cluster. It must be safe for
// concurrent use.
type ClusterClients func(clusterID string) (kubernetes.Interface, bool)

// TokenOptions configure a TokenAuthenticator. Zero values take the defaults.
type TokenOptions struct {
	// TrustDomain is the trust domain of the identities (default certs.DefaultTrustDomain).
	TrustDomain string
	// Audiences are those a token may be for; the API server must confirm
	// one (default [DefaultAudience]).
	Audiences []string
	// CacheSize bounds the cached positive reviews (default 10,000; negative: no cache).
	CacheSize int
	// CacheMaxAge bounds how long a review is cached; 0 caches it until
	// the token expires.
	CacheMaxAge time.Duration
	// ReviewTimeout bounds one TokenReview call (default 10 s).
	ReviewTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o TokenOptions) withDefaults() TokenOptions {
	if o.TrustDomain == "" {
		o.TrustDomain = certs.DefaultTrustDomain
	}
	if len(o.Audiences) == 0 {
		o.Audiences = []string{DefaultAudience}
	}
	if o.CacheSize == 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.ReviewTimeout <= 0 {
		o.ReviewTimeout = defaultReviewTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// TokenAuthenticator proves identities from Kubernetes service account
// tokens, reviewed by the API server of the caller's cluster. It is safe
// for concurrent use.
type TokenAuthenticator struct {
	clients ClusterClients
	opts    TokenOptions
	cache   *reviewCache

	mu       sync.Mutex
	inflight map[reviewKey]*pendingReview // reviews under way, which callers of the same token wait for
}

// pendingReview is one TokenReview under way; done is closed once id and
// err are set.
type pendingReview struct {
	done chan struct{}
	id   certs.Identity
	err  error
}

// NewTokenAuthenticator returns an authenticator reviewing tokens with the
// clusters clients returns.
func NewTokenAuthenticator(clients ClusterClients, opts TokenOptions) *TokenAuthenticator {
	opts = opts.withDefaults()
	opts.Audiences = slices.Clone(opts.Audiences)
	return &TokenAuthenticator{clients: clients, opts: opts, cache: newReviewCache(opts.CacheSize), inflight: map[reviewKey]*pendingReview{}}
}

// Authenticate returns the service account identity of the call's bearer
// token, as the API server of cluster clusterID reviews it.
func (a *TokenAuthenticator) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return certs.Identity{}, err
	}
	client, ok := a.clients(clusterID)
	if !ok || client == nil {
		return refuse(ReasonUnknownCluster, fmt.Errorf("no Kubernetes cluster %q", clip(clusterID)))
	}
	now := a.opts.Now()
	c, err := a.precheck(token, now)
	if err != nil {
		return certs.Identity{}, err
	}
	key := newReviewKey(clusterID, token)
	if id, ok := a.cache.get(key, now); ok {
		return id, nil
	}
	return a.reviewOnce(ctx, key, c, now, func(ctx context.Context) (certs.Identity, error) {
		return a.review(ctx, client, clusterID, token)
	})
}

// reviewOnce runs review for a token not in the cache, once for every
// caller presenting it meanwhile (a fleet reconnecting presents each token
// many times at once), and caches a positive answer. The review is not
// cancelled with the caller that started it; a caller stops waiting when
// its own context ends.
func (a *TokenAuthenticator) reviewOnce(ctx context.Context, key reviewKey, c claims, now time.Time, review func(context.Context) (certs.Identity, error)) (certs.Identity, error) {
	a.mu.Lock()
	p, waiting := a.inflight[key]
	if !waiting {
		p = &pendingReview{done: make(chan struct{})}
		a.inflight[key] = p
	}
	a.mu.Unlock()
	if !waiting {
		p.id, p.err = review(context.WithoutCancel(ctx))
		if p.err == nil {
			if until, ok := a.cacheUntil(c, now); ok {
				a.cache.put(key, p.id, until)
			}
		}
		a.mu.Lock()
		delete(a.inflight, key)
		a.mu.Unlock()
		close(p.done)
	}
	select {
	case <-p.done:
		return p.id, p.err
	case <-ctx.Done():
		return refuse(ReasonTokenReviewFailed, fmt.Errorf("waiting for the TokenReview: %w", ctx.Err()))
	}
}

// bearerToken reads "authorization: Bearer TOKEN" from the call's metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(AuthorizationMetadata)
	switch {
	case len(values) == 0:
		return "", refusal(ReasonNoCredential, errors.New("no authorization metadata"))
	case len(values) > 1:
		return "", refusal(ReasonBadToken, fmt.Errorf("%d authorization values, want one", len(values)))
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	switch {
	case !strings.EqualFold(scheme, "Bearer"):
		return "", refusal(ReasonBadToken, fmt.Errorf("authorization scheme %q, want Bearer", clip(scheme)))
	case token == "":
		return "", refusal(ReasonBadToken, errors.New("empty bearer token"))
	case len(token) > maxTokenBytes:
		return "", refusal(ReasonBadToken, fmt.Errorf("bearer token of %d bytes, at most %d", len(token), maxTokenBytes))
	}
	return token, nil
}

// precheck refuses, without asking the API server, a token that cannot pass
// its review. It reads unverified claims: it may refuse, never accept.
func (a *TokenAuthenticator) precheck(token string, now time.Time) (claims, error) {
	c, err := unverifiedClaims(token)
	if err != nil {
		return claims{}, refusal(ReasonBadToken, err)
	}
	if !c.expiry.IsZero() && !now.Before(c.expiry) {
		return claims{}, refusal(ReasonExpired, fmt.Errorf("token expired at %s", c.expiry.UTC().Format(time.RFC3339)))
	}
	if !a.acceptedAudience(c.audiences) {
		return claims{}, refusal(ReasonWrongAudience, fmt.Errorf("token audiences %q, want one of %q", clipAll(c.audiences), a.opts.Audiences))
	}
	return c, nil
}

func (a *TokenAuthenticator) acceptedAudience(audiences []string) bool {
	return slices.ContainsFunc(audiences, func(aud string) bool { return slices.Contains(a.opts.Audiences, aud) })
}

// review asks the cluster's TokenReview API about token.
func (a *TokenAuthenticator) review(ctx context.Context, client kubernetes.Interface, clusterID, token string) (certs.Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.ReviewTimeout)
	defer cancel()
	request := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.opts.Audiences}}
	got, err := client.AuthenticationV1().TokenReviews().Create(ctx, request, metav1.CreateOptions{})
	if err != nil {
		return refuse(ReasonTokenReviewFailed, fmt.Errorf("TokenReview in cluster %q: %w", clip(clusterID), err))
	}
	status := got.Status
	if !status.Authenticated {
		return refuse(ReasonBadToken, fmt.Errorf("cluster %q does not authenticate the token: %s", clip(clusterID), clip(status.Error)))
	}
	if !a.acceptedAudience(status.Audiences) {
		// An API server that ignores spec.audiences answers none: the
		// token was then checked for the API server's audience only.
		return refuse(ReasonWrongAudience, fmt.Errorf("cluster %q confirmed audiences %q, want one of %q", clip(clusterID), clipAll(status.Audiences), a.opts.Audiences))
	}
	id, err := a.serviceAccount(status.User)
	if err != nil {
		return refuse(ReasonBadToken, fmt.Errorf("cluster %q: %w", clip(clusterID), err))
	}
	return id, nil
}

// serviceAccount is the identity of a reviewed service account user.
func (a *TokenAuthenticator) serviceAccount(user authenticationv1.UserInfo) (certs.Identity, error) {
	rest, ok := strings.CutPrefix(user.Username, serviceAccountUser)
	if !ok || !slices.Contains(user.Groups, serviceAccountGroup) {
		return certs.Identity{}, fmt.Errorf("user %q is not a service account", clip(user.Username))
	}
	ns, sa, ok := strings.Cut(rest, ":")
	if !ok || strings.Contains(sa, ":") {
		return certs.Identity{}, fmt.Errorf("user %q is not system:serviceaccount:NAMESPACE:NAME", clip(user.Username))
	}
	id := certs.Identity{TrustDomain: a.opts.TrustDomain, Namespace: ns, ServiceAccount: sa}
	if err := id.Validate(); err != nil {
		return certs.Identity{}, fmt.Errorf("user %q: %w", clip(user.Username), err)
	}
	return id, nil
}

// cacheUntil is when a positive review of a token with claims c stops
// being used: its expiry, or CacheMaxAge from now when sooner. A token
// without expiry is not cached.
func (a *TokenAuthenticator) cacheUntil(c claims, now time.Time) (time.Time, bool) {
	if c.expiry.IsZero() {
		return time.Time{}, false
	}
	until := c.expiry
	if maxAge := a.opts.CacheMaxAge; maxAge > 0 && now.Add(maxAge).Before(until) {
		until = now.Add(maxAge)
	}
	return until, true
}

// maxQuoted bounds caller-supplied strings quoted in errors.
const maxQuoted = 128

func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "…"
}

func clipAll(ss []string) []string {
	const maxItems = 8
	out := make([]string, 0, min(len(ss), maxItems))
	for _, s := range ss[:min(len(ss), maxItems)] {
		out = append(out, clip(s))
	}
	return out
}
