package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// Against a real kube-apiserver with Istio's CRDs and a
// ValidatingWebhookConfiguration pointing at the handler over TLS on
// 127.0.0.1: an invalid VirtualService is refused at create and at update
// with Isthmus's reason (reason Invalid, the field named), a valid one is
// created, at any served version, and deletion is allowed.
func TestWebhookOnARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "webhook"})
	ctx := t.Context()
	if err := c.ApplyIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	caPEM, tlsConfig := loopbackTLS(t)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Handler(Options{}), nil)
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })

	url := fmt.Sprintf("https://%s%s", lis.Addr(), Path)
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-validator-isthmus"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validation.istio.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.istio.io", "security.istio.io", "telemetry.istio.io"},
					APIVersions: []string{"*"}, Resources: []string{"*"}},
			}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	vss := c.Dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "virtualservices"}).Namespace("default")
	invalid := object(t, invalidRegexVS)
	invalid.SetNamespace("default")
	// The API server picks up a new webhook configuration asynchronously:
	// dry runs (sideEffects None webhooks see them) until it is called.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = vss.Create(ctx, invalid, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = vss.Create(ctx, invalid, metav1.CreateOptions{})
	checkRefused(t, "create", err)

	valid := object(t, validVS)
	valid.SetNamespace("default")
	valid.SetAPIVersion("networking.istio.io/v1alpha3")
	valid.SetResourceVersion("")
	valid.SetUID("")
	valid.SetCreationTimestamp(metav1.Time{})
	valid.SetManagedFields(nil)
	created, err := vss.Create(ctx, valid, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("valid VirtualService refused: %v", err)
	}
	// At v1 too, for another kind.
	pas := c.Dynamic.Resource(schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}).Namespace("default")
	pa := object(t, `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"strict"},"spec":{"mtls":{"mode":"STRICT"}}}`)
	if _, err := pas.Create(ctx, pa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid PeerAuthentication refused: %v", err)
	}

	spec := created.Object["spec"].(map[string]any)
	http := spec["http"].([]any)[0].(map[string]any)
	http["match"] = []any{map[string]any{"uri": map[string]any{"regex": "(["}}}
	_, err = vss.Update(ctx, created, metav1.UpdateOptions{})
	checkRefused(t, "update", err)

	if err := vss.Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete refused: %v", err)
	}
}

// checkRefused wants err to be the API server relaying Isthmus's refusal.
func checkRefused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s of an invalid VirtualService admitted", what)
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("%s: %v, want an Invalid status", what, err)
	}
	msg := err.Error()
	for _, want := range []string{`admission webhook "validation.istio.io" denied the request`, "VirtualService default/reviews", "spec.http[0].match[0].uri.regex"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%s refused with %q, want it to name %q", what, msg, want)
		}
	}
	t.Logf("%s refused: %v", what, err)
}

func object(t *testing.T, js string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// loopbackTLS is a throwaway CA (its PEM, the caBundle) and a server
// configuration with a certificate it signed for IP 127.0.0.1.
func loopbackTLS(t *testing.T) ([]byte, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhook test CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	pair := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
