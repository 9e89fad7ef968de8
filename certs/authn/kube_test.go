package authn

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// TestTokenAuthenticatorAgainstKubeAPIServer reviews tokens the TokenRequest
// API issues, as a projected istio-token volume holds them, with a real
// kube-apiserver. Isthmus reviews as a user that may only create
// TokenReviews (what system:auth-delegator grants).
func TestTokenAuthenticatorAgainstKubeAPIServer(t *testing.T) {
	cluster := kubeharness.StartT(t, kubeharness.Options{Name: "authn"})
	reviewer, err := cluster.CreateUser(t.Context(), "isthmus-reviewer", rbacv1.PolicyRule{
		APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"},
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := cluster.Client
	createServiceAccount(t, admin, "shop", "reviews")
	auth := NewTokenAuthenticator(oneCluster(reviewer.Client), TokenOptions{})

	good := requestToken(t, admin, "shop", "reviews", []string{DefaultAudience}, nil)
	t.Run("Good", func(t *testing.T) {
		id, err := auth.Authenticate(bearer(good), "Kubernetes")
		if err != nil || id != reviews {
			t.Fatalf("Authenticate = %v, %v; want %v", id, err, reviews)
		}
	})
	t.Run("WrongAudience", func(t *testing.T) {
		token := requestToken(t, admin, "shop", "reviews", []string{"kubernetes.default.svc"}, nil)
		id, err := auth.Authenticate(bearer(token), "Kubernetes")
		wantRefused(t, "token for the API server's audience", id, err, ReasonWrongAudience)
		// Reviewed for an audience the token is not for, the API server refuses too.
		strict := NewTokenAuthenticator(oneCluster(reviewer.Client), TokenOptions{Audiences: []string{"isthmus"}})
		forIstio := requestToken(t, admin, "shop", "reviews", []string{"isthmus", DefaultAudience}, nil)
		if _, err := strict.Authenticate(bearer(forIstio), "Kubernetes"); err != nil {
			t.Errorf("token for isthmus and istio-ca, accepting isthmus: %v", err)
		}
		_, err = strict.review(t.Context(), reviewer.Client, "Kubernetes", good)
		if ReasonOf(err) != ReasonBadToken {
			t.Errorf("istio-ca token reviewed for isthmus by the API server: %v, want %s", err, ReasonBadToken)
		}
	})
	t.Run("ForgedClaims", func(t *testing.T) {
		// The unverified claims only ever refuse: a real token whose
		// payload names another service account fails its review.
		forged := forgeServiceAccount(t, good, "reviews", "admin")
		id, err := auth.Authenticate(bearer(forged), "Kubernetes")
		wantRefused(t, "token with a forged payload", id, err, ReasonBadToken)
	})
	t.Run("DeletedServiceAccount", func(t *testing.T) {
		createServiceAccount(t, admin, "shop", "gone")
		token := requestToken(t, admin, "shop", "gone", []string{DefaultAudience}, nil)
		if err := admin.CoreV1().ServiceAccounts("shop").Delete(t.Context(), "gone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The API server refuses the token once its own cache of service
		// accounts has seen the deletion; until then a review succeeds.
		deadline := time.Now().Add(10 * time.Second)
		for _, err := auth.review(t.Context(), reviewer.Client, "Kubernetes", token); err == nil && time.Now().Before(deadline); _, err = auth.review(t.Context(), reviewer.Client, "Kubernetes", token) {
			time.Sleep(100 * time.Millisecond)
		}
		fresh := NewTokenAuthenticator(oneCluster(reviewer.Client), TokenOptions{})
		id, err := fresh.Authenticate(bearer(token), "Kubernetes")
		wantRefused(t, "token of a deleted service account", id, err, ReasonBadToken)
	})
	t.Run("DeletedBoundObject", func(t *testing.T) {
		secret, err := admin.CoreV1().Secrets("shop").Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "holder"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound := &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret.Name, UID: secret.UID}
		token := requestToken(t, admin, "shop", "reviews", []string{DefaultAudience}, bound)
		if err := admin.CoreV1().Secrets("shop").Delete(t.Context(), "holder", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The API server learns of the deletion through its own caches:
		// review again, each time uncached, until it does (10 s at most).
		deadline := time.Now().Add(10 * time.Second)
		for {
			fresh := NewTokenAuthenticator(oneCluster(reviewer.Client), TokenOptions{})
			id, err := fresh.Authenticate(bearer(token), "Kubernetes")
			if err != nil || time.Now().After(deadline) {
				wantRefused(t, "token bound to a deleted secret", id, err, ReasonBadToken)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		id, err := auth.Authenticate(bearer("garbage"), "Kubernetes")
		wantRefused(t, "garbage", id, err, ReasonBadToken)
		expired := unsignedJWT(t, map[string]any{"aud": DefaultAudience, "exp": time.Now().Add(-time.Hour).Unix()})
		id, err = auth.Authenticate(bearer(expired), "Kubernetes")
		wantRefused(t, "expired", id, err, ReasonExpired)
	})
	t.Run("UnknownCluster", func(t *testing.T) {
		id, err := auth.Authenticate(bearer(good), "elsewhere")
		wantRefused(t, "unknown cluster", id, err, ReasonUnknownCluster)
	})
	t.Run("APIServerStopped", func(t *testing.T) {
		fresh := requestToken(t, admin, "shop", "reviews", []string{DefaultAudience}, nil)
		cluster.Stop()
		// Not reviewed before: refused, never trusted.
		id, err := auth.Authenticate(bearer(fresh), "Kubernetes")
		wantRefused(t, "API server stopped", id, err, ReasonTokenReviewFailed)
		// Reviewed before: the cached review stands until the token expires.
		if _, err := auth.Authenticate(bearer(good), "Kubernetes"); err != nil {
			t.Errorf("cached token while the API server is stopped: %v", err)
		}
	})
}

func createServiceAccount(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// requestToken asks the TokenRequest API for a token of ns/name, valid for
// the shortest time it allows (10 minutes).
func requestToken(t *testing.T, client kubernetes.Interface, ns, name string, audiences []string, bound *authenticationv1.BoundObjectReference) string {
	t.Helper()
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: audiences, ExpirationSeconds: new(int64(600)), BoundObjectRef: bound,
	}}
	got, err := client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name, request, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status.Token
}

// forgeServiceAccount rewrites the payload of token, replacing from with to,
// and keeps the original signature.
func forgeServiceAccount(t *testing.T, token, from, to string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.ReplaceAll(string(payload), `"`+from+`"`, `"`+to+`"`)
	forged = strings.ReplaceAll(forged, ":"+from+`"`, ":"+to+`"`)
	if forged == string(payload) {
		t.Fatalf("payload %s does not name %q", payload, from)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}
