package caservice

import (
	"testing"

	"google.golang.org/grpc/codes"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// TestCreateCertificateWithKubernetesTokens runs the CA service as istiod
// runs it: a proxy's projected service account token (audience istio-ca),
// reviewed by a real kube-apiserver, proves the identity it may have
// signed.
func TestCreateCertificateWithKubernetesTokens(t *testing.T) {
	cluster := kubeharness.StartT(t, kubeharness.Options{Name: "caservice"})
	reviewer, err := cluster.CreateUser(t.Context(), "isthmus-ca", rbacv1.PolicyRule{
		APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"},
	})
	if err != nil {
		t.Fatal(err)
	}
	createServiceAccount(t, cluster.Client, "shop", "reviews")
	clusters := func(id string) (kubernetes.Interface, bool) { return reviewer.Client, id == "Kubernetes" }
	auth := authn.NewTokenAuthenticator(clusters, authn.TokenOptions{})
	ca := mustCA(t)
	srv := serve(t, New(ca, auth, Options{Logger: quietLogger()}), ca.RootsPEM())

	token := requestToken(t, cluster.Client, "shop", "reviews", authn.DefaultAudience)
	proxy := dial(t, srv, "Kubernetes", token, nil)
	csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
	resp, err := proxy.sign(t, csr, 3600)
	if err != nil {
		t.Fatal(err)
	}
	chain := parseChain(t, resp.CertChain)
	checkChainOrder(t, chain, ca.RootsPEM())
	if got := chain[0].URIs; len(got) != 1 || got[0].String() != reviews.SPIFFEID() {
		t.Errorf("certificate names %v, want %s", got, reviews.SPIFFEID())
	}

	admin, _ := makeCSR(t, csrSpec{uris: []string{certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "kube-system", ServiceAccount: "admin"}.SPIFFEID()}})
	_, err = proxy.sign(t, admin, 3600)
	wantCode(t, "the reviews token asking for kube-system/admin", err, codes.PermissionDenied)

	wrongAudience := dial(t, srv, "Kubernetes", requestToken(t, cluster.Client, "shop", "reviews", "kubernetes.default.svc"), nil)
	_, err = wrongAudience.sign(t, csr, 3600)
	wantCode(t, "token for the API server's audience", err, codes.Unauthenticated)

	otherCluster := dial(t, srv, "elsewhere", token, nil)
	_, err = otherCluster.sign(t, csr, 3600)
	wantCode(t, "a cluster Isthmus does not know", err, codes.Unauthenticated)
}

func createServiceAccount(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// requestToken gets a token of ns/name for audience from the TokenRequest
// API, as the kubelet does for istio-proxy's istio-token volume.
func requestToken(t *testing.T, client kubernetes.Interface, ns, name, audience string) string {
	t.Helper()
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: new(int64(600))}}
	got, err := client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name, request, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status.Token
}
