package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/isthmus-mesh/isthmus/certs"
)

// fakeAPIServer answers TokenReviews from a table of tokens, counting them.
type fakeAPIServer struct {
	mu      sync.Mutex
	users   map[string]authenticationv1.UserInfo // token → user
	down    bool
	noAud   bool // answer without status.audiences, as an audience-unaware server
	reviews int
	last    authenticationv1.TokenReviewSpec
	gate    chan struct{} // when set, reviews wait for it to close
}

func newFakeAPIServer() (*fakeAPIServer, kubernetes.Interface) {
	f := &fakeAPIServer{users: map[string]authenticationv1.UserInfo{}}
	client := fake.NewClientset()
	client.PrependReactor("create", "tokenreviews", f.react)
	return f, client
}

func (f *fakeAPIServer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	f.mu.Lock()
	f.reviews++
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	review := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
	f.last = review.Spec
	if f.down {
		return true, nil, errors.New("connection refused")
	}
	out := review.DeepCopy()
	user, ok := f.users[review.Spec.Token]
	if !ok {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		return true, out, nil
	}
	out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: user}
	if !f.noAud {
		out.Status.Audiences = review.Spec.Audiences
	}
	return true, out, nil
}

func (f *fakeAPIServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reviews
}

func (f *fakeAPIServer) set(fn func(*fakeAPIServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// serviceAccountToken adds a token for ns/sa, expiring at exp, to f.
func (f *fakeAPIServer) serviceAccountToken(t *testing.T, ns, sa string, exp time.Time) string {
	t.Helper()
	token := unsignedJWT(t, map[string]any{
		"aud": []string{DefaultAudience}, "exp": exp.Unix(), "sub": "system:serviceaccount:" + ns + ":" + sa,
	})
	f.set(func(f *fakeAPIServer) {
		f.users[token] = authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":" + sa,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		}
	})
	return token
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// oneCluster is a ClusterClients knowing only cluster "Kubernetes".
func oneCluster(client kubernetes.Interface) ClusterClients {
	return func(id string) (kubernetes.Interface, bool) { return client, id == "Kubernetes" }
}

func TestTokenAuthenticatorReviewsOnceThenCaches(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{})
	token := api.serviceAccountToken(t, "shop", "reviews", time.Now().Add(time.Hour))
	for i := range 3 {
		id, err := auth.Authenticate(bearer(token), "Kubernetes")
		if err != nil || id != reviews {
			t.Fatalf("call %d: Authenticate = %v, %v; want %v", i, id, err, reviews)
		}
	}
	if n := api.count(); n != 1 {
		t.Errorf("%d TokenReviews for one token, want 1 (then cached)", n)
	}
	if got := api.last.Audiences; len(got) != 1 || got[0] != DefaultAudience {
		t.Errorf("TokenReview audiences = %q, want [%q]", got, DefaultAudience)
	}
}

// A fleet reconnecting presents each token many times at once: the callers
// of one token wait for one review.
func TestTokenAuthenticatorReviewsATokenOnceForConcurrentCallers(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{})
	token := api.serviceAccountToken(t, "shop", "reviews", time.Now().Add(time.Hour))
	gate := make(chan struct{})
	api.set(func(f *fakeAPIServer) { f.gate = gate })
	const callers = 20
	errs := make(chan error, callers)
	for range callers {
		go func() {
			id, err := auth.Authenticate(bearer(token), "Kubernetes")
			if err == nil && id != reviews {
				err = fmt.Errorf("identity %v, want %v", id, reviews)
			}
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond) // the callers reach the review under way
	close(gate)
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := api.count(); n != 1 {
		t.Errorf("%d TokenReviews for %d concurrent callers of one token, want 1", n, callers)
	}
}

func TestTokenAuthenticatorCacheIsPerCluster(t *testing.T) {
	apiA, clientA := newFakeAPIServer()
	apiB, clientB := newFakeAPIServer()
	clusters := func(id string) (kubernetes.Interface, bool) {
		switch id {
		case "a":
			return clientA, true
		case "b":
			return clientB, true
		}
		return nil, false
	}
	auth := NewTokenAuthenticator(clusters, TokenOptions{})
	token := apiA.serviceAccountToken(t, "shop", "reviews", time.Now().Add(time.Hour))
	if _, err := auth.Authenticate(bearer(token), "a"); err != nil {
		t.Fatal(err)
	}
	id, err := auth.Authenticate(bearer(token), "b")
	wantRefused(t, "cluster a's token in cluster b", id, err, ReasonBadToken)
	if apiB.count() != 1 {
		t.Errorf("cluster b reviewed %d times, want 1: a review in cluster a must not answer for b", apiB.count())
	}
}

func TestTokenAuthenticatorCacheEndsAtExpiryOrMaxAge(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{Now: clock.Now, CacheMaxAge: 10 * time.Minute})
	token := api.serviceAccountToken(t, "shop", "reviews", clock.Now().Add(time.Hour))
	authenticate := func() {
		t.Helper()
		if _, err := auth.Authenticate(bearer(token), "Kubernetes"); err != nil {
			t.Fatal(err)
		}
	}
	authenticate()
	clock.Advance(9 * time.Minute)
	authenticate()
	if n := api.count(); n != 1 {
		t.Fatalf("%d reviews within CacheMaxAge, want 1", n)
	}
	clock.Advance(2 * time.Minute)
	authenticate()
	if n := api.count(); n != 2 {
		t.Fatalf("%d reviews after CacheMaxAge, want 2", n)
	}
	clock.Advance(time.Hour)
	id, err := auth.Authenticate(bearer(token), "Kubernetes")
	wantRefused(t, "after the token's exp", id, err, ReasonExpired)
	if n := api.count(); n != 2 {
		t.Errorf("an expired token was sent for review (%d reviews)", n)
	}
}

func TestTokenAuthenticatorCacheIsBounded(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{CacheSize: 2})
	exp := time.Now().Add(time.Hour)
	tokens := []string{
		api.serviceAccountToken(t, "shop", "a", exp),
		api.serviceAccountToken(t, "shop", "b", exp),
		api.serviceAccountToken(t, "shop", "c", exp),
	}
	for _, token := range append(tokens, tokens[2], tokens[0]) {
		if _, err := auth.Authenticate(bearer(token), "Kubernetes"); err != nil {
			t.Fatal(err)
		}
	}
	// a, b, c reviewed; c cached; a was dropped when c came in, so reviewed again.
	if n := api.count(); n != 4 {
		t.Errorf("%d reviews, want 4", n)
	}
	if n := auth.cache.len(); n != 2 {
		t.Errorf("cache holds %d reviews, want at most 2", n)
	}
}

func TestTokenAuthenticatorDoesNotCacheRefusals(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{})
	unknown := unsignedJWT(t, map[string]any{"aud": DefaultAudience, "exp": time.Now().Add(time.Hour).Unix()})
	for range 2 {
		id, err := auth.Authenticate(bearer(unknown), "Kubernetes")
		wantRefused(t, "token the API server refuses", id, err, ReasonBadToken)
	}
	token := api.serviceAccountToken(t, "shop", "reviews", time.Now().Add(time.Hour))
	api.set(func(f *fakeAPIServer) { f.down = true })
	id, err := auth.Authenticate(bearer(token), "Kubernetes")
	wantRefused(t, "API server down", id, err, ReasonTokenReviewFailed)
	api.set(func(f *fakeAPIServer) { f.down = false })
	if id, err := auth.Authenticate(bearer(token), "Kubernetes"); err != nil || id != reviews {
		t.Errorf("after the API server is back: %v, %v; want %v", id, err, reviews)
	}
	if n := api.count(); n != 4 {
		t.Errorf("%d reviews, want 4: no refusal may be cached", n)
	}
}

func TestTokenAuthenticatorRefuses(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{})
	exp := time.Now().Add(time.Hour)
	good := api.serviceAccountToken(t, "shop", "reviews", exp)
	admin := unsignedJWT(t, map[string]any{"aud": DefaultAudience, "exp": exp.Unix()})
	api.set(func(f *fakeAPIServer) {
		f.users[admin] = authenticationv1.UserInfo{Username: "admin", Groups: []string{"system:masters"}}
	})
	md := func(kv ...string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
	}
	type refusal struct {
		ctx       context.Context
		cluster   string
		reason    string
		reviewed  bool
		apiNoAuds bool
	}
	cases := map[string]refusal{
		"no metadata":      {context.Background(), "Kubernetes", ReasonNoCredential, false, false},
		"basic auth":       {md("authorization", "Basic dXNlcjpwYXNz"), "Kubernetes", ReasonBadToken, false, false},
		"two tokens":       {md("authorization", "Bearer "+good, "authorization", "Bearer "+good), "Kubernetes", ReasonBadToken, false, false},
		"empty token":      {md("authorization", "Bearer "), "Kubernetes", ReasonBadToken, false, false},
		"garbage":          {bearer("garbage"), "Kubernetes", ReasonBadToken, false, false},
		"unknown cluster":  {bearer(good), "elsewhere", ReasonUnknownCluster, false, false},
		"no cluster":       {bearer(good), "", ReasonUnknownCluster, false, false},
		"expired":          {bearer(unsignedJWT(t, map[string]any{"aud": DefaultAudience, "exp": time.Now().Add(-time.Second).Unix()})), "Kubernetes", ReasonExpired, false, false},
		"other audience":   {bearer(unsignedJWT(t, map[string]any{"aud": "kubernetes.default.svc", "exp": exp.Unix()})), "Kubernetes", ReasonWrongAudience, false, false},
		"no audience":      {bearer(unsignedJWT(t, map[string]any{"sub": "system:serviceaccount:shop:reviews"})), "Kubernetes", ReasonWrongAudience, false, false},
		"not an SA":        {bearer(admin), "Kubernetes", ReasonBadToken, true, false},
		"audience unaware": {bearer(good), "Kubernetes", ReasonWrongAudience, true, true},
		"huge token":       {bearer(string(make([]byte, maxTokenBytes+1))), "Kubernetes", ReasonBadToken, false, false},
		"lowercase bearer": {md("authorization", "bearer garbage"), "Kubernetes", ReasonBadToken, false, false},
	}
	for name, c := range cases {
		api.set(func(f *fakeAPIServer) { f.noAud = c.apiNoAuds })
		before := api.count()
		id, err := auth.Authenticate(c.ctx, c.cluster)
		wantRefused(t, name, id, err, c.reason)
		if reviewed := api.count() > before; reviewed != c.reviewed {
			t.Errorf("%s: sent for review: %v, want %v", name, reviewed, c.reviewed)
		}
	}
}

func TestTokenAuthenticatorTrustDomainAndAudiences(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{TrustDomain: "example.org", Audiences: []string{"isthmus", DefaultAudience}})
	token := api.serviceAccountToken(t, "shop", "reviews", time.Now().Add(time.Hour))
	id, err := auth.Authenticate(bearer(token), "Kubernetes")
	want := certs.Identity{TrustDomain: "example.org", Namespace: "shop", ServiceAccount: "reviews"}
	if err != nil || id != want {
		t.Fatalf("Authenticate = %v, %v; want %v", id, err, want)
	}
	if got := fmt.Sprint(api.last.Audiences); got != "[isthmus istio-ca]" {
		t.Errorf("reviewed for audiences %s, want [isthmus istio-ca]", got)
	}
}

func TestTokenWithoutExpiryIsNotCached(t *testing.T) {
	api, client := newFakeAPIServer()
	auth := NewTokenAuthenticator(oneCluster(client), TokenOptions{})
	token := unsignedJWT(t, map[string]any{"aud": DefaultAudience})
	api.set(func(f *fakeAPIServer) {
		f.users[token] = authenticationv1.UserInfo{Username: "system:serviceaccount:shop:reviews", Groups: []string{"system:serviceaccounts"}}
	})
	for range 2 {
		if _, err := auth.Authenticate(bearer(token), "Kubernetes"); err != nil {
			t.Fatal(err)
		}
	}
	if n := api.count(); n != 2 {
		t.Errorf("%d reviews, want 2: a token without exp gives no bound to cache it for", n)
	}
}
