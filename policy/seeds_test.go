package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSeedConfigurationIsAccepted decodes and validates the Istio YAML taken
// from published mesh guides (testdata/seeds): every object must be accepted.
func TestSeedConfigurationIsAccepted(t *testing.T) {
	files, err := filepath.Glob("testdata/seeds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed files: %v", err)
	}
	var all []*Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, errs := Decode(f, data)
		for _, e := range errs {
			t.Errorf("decode: %v", e)
		}
		for _, o := range objs {
			for _, e := range Validate(o) {
				t.Errorf("validate: %v", e)
			}
		}
		all = append(all, objs...)
	}
	for _, e := range CheckReferences(all) {
		t.Errorf("references: %v", e)
	}
	kinds := map[Kind]int{}
	for _, o := range all {
		kinds[o.Kind]++
	}
	want := map[Kind]int{KindGateway: 1, KindVirtualService: 1, KindPeerAuthentication: 1,
		KindAuthorizationPolicy: 1, KindServiceEntry: 1, KindTelemetry: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d (the IstioOperator must be skipped)", kinds[k], k, n)
		}
	}
}

// TestPublishedMutualGatewayIsRejected: the Gateway as the guide prints it
// asks for MUTUAL TLS without any certificate source, which Istio rejects.
func TestPublishedMutualGatewayIsRejected(t *testing.T) {
	data, err := os.ReadFile("testdata/gateway-mutual-without-certs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := Decode("gw.yaml", data)
	if len(errs) != 0 || len(objs) != 1 {
		t.Fatalf("decode: %v %v", objs, errs)
	}
	fields := map[string]bool{}
	for _, e := range Validate(objs[0]) {
		fields[e.Field] = true
	}
	for _, f := range []string{"spec.servers[0].tls.serverCertificate", "spec.servers[0].tls.privateKey", "spec.servers[0].tls.caCertificates"} {
		if !fields[f] {
			t.Errorf("no error for %s; got %v", f, fields)
		}
	}
}
