package bootstrap

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/xds/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const productpageID = "sidecar~10.0.0.1~productpage-v1-abc.default~default.svc.cluster.local"

func productpageOptions() Options {
	return Options{
		XDSAddress: "127.0.0.1:15010",
		NodeID:     productpageID,
		Metadata: map[string]any{
			"LABELS":            map[string]any{"app": "productpage", "version": "v1"},
			"SERVICE_ACCOUNT":   "bookinfo-productpage",
			"CLUSTER_ID":        "Kubernetes",
			"NETWORK":           "net1",
			"INTERCEPTION_MODE": "REDIRECT",
			"INSTANCE_IPS":      "10.0.0.1",
			"ISTIO_VERSION":     "1.31.1",
		},
	}
}

func TestGenerateSotW(t *testing.T) {
	b, err := Generate(productpageOptions())
	if err != nil {
		t.Fatal(err)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_GRPC {
		t.Errorf("ADS api_type = %v, want GRPC", ads.GetApiType())
	}
	if got := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName(); got != "xds-grpc" {
		t.Errorf("ADS cluster = %q, want xds-grpc", got)
	}
	for name, cs := range map[string]*corev3.ConfigSource{"cds": b.GetDynamicResources().GetCdsConfig(), "lds": b.GetDynamicResources().GetLdsConfig()} {
		if cs.GetAds() == nil || cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
			t.Errorf("%s_config = %v, want ads {} with V3", name, cs)
		}
	}
	node := b.GetNode()
	if node.GetId() != productpageID || node.GetCluster() != "productpage.default" {
		t.Errorf("node id %q cluster %q, want %q and productpage.default", node.GetId(), node.GetCluster(), productpageID)
	}
	md := node.GetMetadata().AsMap()
	if md["NAMESPACE"] != "default" || md["SERVICE_ACCOUNT"] != "bookinfo-productpage" {
		t.Errorf("metadata NAMESPACE=%v SERVICE_ACCOUNT=%v, want default and bookinfo-productpage", md["NAMESPACE"], md["SERVICE_ACCOUNT"])
	}
	if labels, _ := md["LABELS"].(map[string]any); labels["version"] != "v1" {
		t.Errorf("metadata LABELS = %v, want a struct with version v1", md["LABELS"])
	}
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() != 15000 {
		t.Errorf("admin at %s:%d, want 127.0.0.1:15000", admin.GetAddress(), admin.GetPortValue())
	}
}

func TestGenerateDelta(t *testing.T) {
	o := productpageOptions()
	o.Delta = true
	b, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.GetDynamicResources().GetAdsConfig().GetApiType(); got != corev3.ApiConfigSource_DELTA_GRPC {
		t.Errorf("ADS api_type = %v, want DELTA_GRPC", got)
	}
}

func TestXDSClusterTypeFollowsHost(t *testing.T) {
	cases := map[string]clusterv3.Cluster_DiscoveryType{
		"127.0.0.1:15010":          clusterv3.Cluster_STATIC,
		"[::1]:15010":              clusterv3.Cluster_STATIC,
		"localhost:15010":          clusterv3.Cluster_STRICT_DNS,
		"isthmus.isthmus.svc:8080": clusterv3.Cluster_STRICT_DNS,
	}
	for addr, want := range cases {
		o := productpageOptions()
		o.XDSAddress = addr
		b, err := Generate(o)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		c := b.GetStaticResources().GetClusters()[0]
		if c.GetType() != want {
			t.Errorf("xDS at %s: cluster type %v, want %v", addr, c.GetType(), want)
		}
	}
}

func TestNamespaceAndCluster(t *testing.T) {
	cases := []struct {
		name          string
		nodeID        string
		metadata      map[string]any
		cluster       string
		wantNamespace string
		wantCluster   string
	}{
		{"namespace from node id, cluster from pod name", "sidecar~10.0.0.2~reviews-v2-6b746f74dc-9stvs.shop~shop.svc.cluster.local", nil, "", "shop", "reviews-v2.shop"},
		{"explicit NAMESPACE wins", "sidecar~10.0.0.2~db-0.x~x.svc.cluster.local", map[string]any{"NAMESPACE": "data"}, "", "data", "db.data"},
		{"canonical-name label before app", productpageID, map[string]any{"LABELS": map[string]any{"app": "a", "service.istio.io/canonical-name": "canon"}}, "", "default", "canon.default"},
		{"LABELS as a JSON string", productpageID, map[string]any{"LABELS": `{"app":"fromjson"}`}, "", "default", "fromjson.default"},
		{"explicit cluster", productpageID, nil, "my-cluster", "default", "my-cluster"},
		{"router without pod namespace reads the domain", "router~10.0.0.3~gw~edge.svc.cluster.local", nil, "", "edge", "gw.edge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Generate(Options{XDSAddress: "127.0.0.1:15010", NodeID: tc.nodeID, Metadata: tc.metadata, Cluster: tc.cluster})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.GetNode().GetMetadata().AsMap()["NAMESPACE"]; got != tc.wantNamespace {
				t.Errorf("NAMESPACE = %v, want %s", got, tc.wantNamespace)
			}
			if got := b.GetNode().GetCluster(); got != tc.wantCluster {
				t.Errorf("node.cluster = %q, want %q", got, tc.wantCluster)
			}
		})
	}
}

func TestGenerateDoesNotModifyMetadata(t *testing.T) {
	md := map[string]any{"LABELS": map[string]any{"app": "x"}}
	if _, err := Generate(Options{XDSAddress: "127.0.0.1:1", NodeID: productpageID, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if _, added := md["NAMESPACE"]; added {
		t.Error("Generate added NAMESPACE to the caller's metadata map")
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	cases := map[string]struct {
		opts    Options
		option  string
		mention string
	}{
		"no xDS address":     {Options{NodeID: productpageID}, "XDSAddress", "xDS address"},
		"xDS without port":   {Options{XDSAddress: "127.0.0.1", NodeID: productpageID}, "XDSAddress", "xDS address"},
		"xDS port 0":         {Options{XDSAddress: "127.0.0.1:0", NodeID: productpageID}, "XDSAddress", "xDS address"},
		"xDS port too big":   {Options{XDSAddress: "127.0.0.1:70000", NodeID: productpageID}, "XDSAddress", "xDS address"},
		"no node id":         {Options{XDSAddress: "127.0.0.1:15010"}, "NodeID", "node id"},
		"node id 3 parts":    {Options{XDSAddress: "127.0.0.1:15010", NodeID: "sidecar~1.2.3.4~pod.ns"}, "NodeID", "node id"},
		"unknown proxy type": {Options{XDSAddress: "127.0.0.1:15010", NodeID: "waypoint~1.2.3.4~p.ns~ns.svc.cluster.local"}, "NodeID", "node id"},
		"admin hostname":     {Options{XDSAddress: "127.0.0.1:15010", NodeID: productpageID, AdminAddress: "localhost:15000"}, "AdminAddress", "admin address"},
		"unencodable meta":   {Options{XDSAddress: "127.0.0.1:15010", NodeID: productpageID, Metadata: map[string]any{"X": struct{}{}}}, "Metadata", "metadata"},
	}
	for name, tc := range cases {
		_, err := Generate(tc.opts)
		var optErr *OptionError
		if !errors.As(err, &optErr) || optErr.Option != tc.option || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %v, want an OptionError for %s mentioning %q", name, err, tc.option, tc.mention)
		}
	}
}

// TestYAMLGolden shows the complete bootstrap a reviewer would get.
func TestYAMLGolden(t *testing.T) {
	for name, delta := range map[string]bool{"productpage-sotw": false, "productpage-delta": true} {
		o := productpageOptions()
		o.Delta = delta
		got, err := YAML(o)
		if err != nil {
			t.Fatal(err)
		}
		golden.Compare(t, filepath.Join("testdata", name+".yaml"), got, *update)
	}
}

// TestYAMLPassesEnvoyValidation runs real Envoy's offline config check.
func TestYAMLPassesEnvoyValidation(t *testing.T) {
	envoy, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]func(*Options){
		"sotw":        func(*Options) {},
		"delta":       func(o *Options) { o.Delta = true },
		"dns xds":     func(o *Options) { o.XDSAddress = "localhost:15010" },
		"ipv6 admin":  func(o *Options) { o.AdminAddress = "[::1]:15001" },
		"no metadata": func(o *Options) { o.Metadata = nil },
	}
	for name, change := range variants {
		t.Run(name, func(t *testing.T) {
			o := productpageOptions()
			change(&o)
			out, err := YAML(o)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "bootstrap.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(envoy, "--mode", "validate", "-c", path, "--log-level", "warn")
			if log, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("envoy --mode validate rejected the bootstrap: %v\n%s\n--- bootstrap ---\n%s", err, log, out)
			}
		})
	}
}

// TestTLSRefersToWatchedSDSFiles: with TLS, the xds-grpc cluster names its
// client certificate and roots through file-based SDS, whose secrets watch
// the PEM files' directory, and real Envoy accepts the bootstrap.
func TestTLSRefersToWatchedSDSFiles(t *testing.T) {
	certDir, sdsDir := t.TempDir(), t.TempDir()
	o := productpageOptions()
	o.TLS = &XDSTLS{RootCert: filepath.Join(certDir, "root-cert.pem"), CertChain: filepath.Join(certDir, "cert-chain.pem"),
		PrivateKey: filepath.Join(certDir, "key.pem"), SDSDir: sdsDir}
	b, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	var ctx tlsv3.UpstreamTlsContext
	if err := b.GetStaticResources().GetClusters()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
		t.Fatal(err)
	}
	common := ctx.GetCommonTlsContext()
	if len(common.GetTlsCertificates()) != 0 || common.GetValidationContext() != nil {
		t.Errorf("the TLS context names files directly, which Envoy never reloads: %v", common)
	}
	certSDS := common.GetTlsCertificateSdsSecretConfigs()
	if len(certSDS) != 1 || certSDS[0].GetName() != ClientCertSecret ||
		certSDS[0].GetSdsConfig().GetPathConfigSource().GetPath() != filepath.Join(sdsDir, ClientCertSDSFile) {
		t.Errorf("client certificate from %v, want SDS file %s", certSDS, filepath.Join(sdsDir, ClientCertSDSFile))
	}
	combined := common.GetCombinedValidationContext()
	if combined.GetValidationContextSdsSecretConfig().GetSdsConfig().GetPathConfigSource().GetPath() != filepath.Join(sdsDir, RootsSDSFile) ||
		combined.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != DefaultXDSServerName {
		t.Errorf("validation context %v, want roots from %s and the SAN %s", combined, RootsSDSFile, DefaultXDSServerName)
	}

	files, err := SDSFiles(o.TLS)
	if err != nil {
		t.Fatal(err)
	}
	cert := string(files[filepath.Join(sdsDir, ClientCertSDSFile)])
	for _, want := range []string{"name: " + ClientCertSecret, "filename: " + o.TLS.CertChain, "filename: " + o.TLS.PrivateKey, "watched_directory:", "path: " + certDir} {
		if !strings.Contains(cert, want) {
			t.Errorf("client certificate SDS file lacks %q:\n%s", want, cert)
		}
	}
	roots := string(files[filepath.Join(sdsDir, RootsSDSFile)])
	for _, want := range []string{"name: " + RootsSecret, "filename: " + o.TLS.RootCert, "path: " + certDir} {
		if !strings.Contains(roots, want) {
			t.Errorf("roots SDS file lacks %q:\n%s", want, roots)
		}
	}
	if err := WriteSDSFiles(o.TLS); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(sdsDir)
	if len(entries) != 2 {
		t.Errorf("SDS directory holds %d entries, want 2", len(entries))
	}

	o.TLS.PrivateKey = ""
	if _, err := Generate(o); err == nil {
		t.Errorf("a client certificate without a key was accepted")
	}

	envoy, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	o.TLS.PrivateKey = filepath.Join(certDir, "key.pem")
	out, err := YAML(o)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if log, err := exec.Command(envoy, "--mode", "validate", "-c", path, "--log-level", "warn").CombinedOutput(); err != nil {
		t.Fatalf("envoy --mode validate rejected the bootstrap: %v\n%s\n--- bootstrap ---\n%s", err, log, out)
	}
}
