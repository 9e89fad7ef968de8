package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/isthmus-mesh/isthmus/certs"
)

// The webhook is served over TLS with a mesh CA certificate for the secure
// port's DNS names, and refuses an invalid VirtualService.
func TestWebhookServedWithMeshCertificate(t *testing.T) {
	opts, _, err := parseServeFlags([]string{"--config-dir", ".", "--webhook-listen", "127.0.0.1:0"})
	if err != nil || !opts.webhookListenSet || opts.secureDNSNames.String() != defaultSecureDNSNames {
		t.Fatalf("flags %+v, %v", opts, err)
	}
	if d, _, _ := parseServeFlags([]string{"--config-dir", "."}); d.webhookListen != ":15017" || d.webhookListenSet {
		t.Fatalf("default --webhook-listen %q (set %v), want :15017, unset", d.webhookListen, d.webhookListenSet)
	}
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issuer := certs.NewIssuer(ca, certs.IssuerOptions{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hook, err := openWebhook(opts, issuer, nil, logger)
	if err != nil || hook == nil {
		t.Fatalf("openWebhook: %v", err)
	}
	failed := make(chan error, 1)
	hook.start(failed, logger)
	defer hook.close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.RootPool(), ServerName: "istiod.istio-system.svc"}}}
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","namespace":"shop",
		"kind":{"group":"networking.istio.io","version":"v1","kind":"VirtualService"},
		"object":{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"r"},
			"spec":{"hosts":["r"],"http":[{"match":[{"uri":{"regex":"(["}}],"route":[{"destination":{"host":"r"}}]}]}}}}`
	resp, err := client.Post("https://"+hook.lis.Addr().String()+"/validate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || out.Response.Allowed ||
		!strings.Contains(out.Response.Result.Message, "VirtualService shop/r: spec.http[0].match[0].uri.regex") {
		t.Fatalf("response %+v (%v), want refused naming the field", out.Response, err)
	}

	// A taken default port only turns the webhook off; a taken explicit one fails.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts.webhookListen = taken.Addr().String()
	if _, err := openWebhook(opts, issuer, nil, logger); err == nil {
		t.Fatal("explicit taken port: no error")
	}
	opts.webhookListenSet = false
	if w, err := openWebhook(opts, issuer, nil, logger); w != nil || err != nil {
		t.Fatalf("default taken port: %v, %v; want off", w, err)
	}
	opts.webhookListen = ""
	if w, err := openWebhook(opts, issuer, nil, logger); w != nil || err != nil {
		t.Fatalf("empty --webhook-listen: %v, %v; want off", w, err)
	}
}
