package translate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// envoyBinary finds Envoy (see envoybin.Path); a missing Envoy fails the
// test, never skips it.
func envoyBinary(t *testing.T) string {
	t.Helper()
	bin, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestGoldenInputsPassEnvoyValidation loads what each golden input translates
// to into a real Envoy in validate mode: clusters and listeners as static
// resources, each load assignment as the endpoints of a STATIC cluster.
func TestGoldenInputsPassEnvoyValidation(t *testing.T) {
	bin := envoyBinary(t)
	inputs, _ := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			res := translateGoldenInput(t, in)
			envoyValidate(t, bin, validationBootstrap(res))
		})
	}
}

// validationBootstrap is a bootstrap holding res statically, with an ADS
// source so EDS clusters and RDS references are legal.
func validationBootstrap(res *Resources) *bootstrapv3.Bootstrap {
	const xds = "xds-grpc"
	static := &bootstrapv3.Bootstrap_StaticResources{Listeners: res.Listeners}
	xdsCluster := newDraft(xds, clusterv3.Cluster_STATIC)
	xdsCluster.cluster.LoadAssignment = loadAssignmentOf(xds, "127.0.0.1", 15010)
	xdsCluster.useHTTP2()
	static.Clusters = append(static.Clusters, xdsCluster.finish())
	static.Clusters = append(static.Clusters, res.Clusters...)
	for i, cla := range res.Endpoints {
		name := fmt.Sprintf("eds-check-%d", i)
		c := newDraft(name, clusterv3.Cluster_STATIC).finish()
		c.LoadAssignment = cla
		c.LoadAssignment.ClusterName = name
		static.Clusters = append(static.Clusters, c)
	}
	return &bootstrapv3.Bootstrap{
		Node:            &corev3.Node{Id: "sidecar~127.0.0.1~validate.default~default.svc.cluster.local", Cluster: "validate"},
		StaticResources: static,
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{AdsConfig: &corev3.ApiConfigSource{
			ApiType:             corev3.ApiConfigSource_GRPC,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xds},
			}}},
		}},
	}
}

// goldenCertDir is where golden inputs name their certificate files; Envoy
// reads them while validating, so the test points them at generated ones.
const goldenCertDir = "/etc/certs/"

func envoyValidate(t *testing.T, bin string, b *bootstrapv3.Bootstrap) {
	t.Helper()
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestCerts(t, dir)
	js = bytes.ReplaceAll(js, []byte(`"`+goldenCertDir), []byte(`"`+dir+"/"))
	file := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(file, js, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", file, "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("envoy rejects the configuration: %v\n%s", err, out)
	}
	if deprecated := deprecationWarnings(out); len(deprecated) > 0 {
		t.Errorf("envoy warns of deprecated options:\n%s", strings.Join(deprecated, "\n"))
	}
}

// deprecationWarnings are the lines of Envoy's output that warn of a
// deprecated option.
func deprecationWarnings(out []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(strings.ToLower(line), "deprecated") {
			lines = append(lines, line)
		}
	}
	return lines
}

// writeTestCerts writes ca.pem, client.pem and client-key.pem: a
// throwaway CA and a certificate it issued.
func writeTestCerts(t *testing.T, dir string) {
	t.Helper()
	ca, err := localmesh.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"isthmus-test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"ca.pem": ca.PEM, "client.pem": certPEM, "client-key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
