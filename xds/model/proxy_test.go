package model

import (
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func node(t *testing.T, id string, md map[string]any) *corev3.Node {
	t.Helper()
	s, err := structpb.NewStruct(md)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: id, Metadata: s}
}

func TestParseNodeAsIstioProxySendsIt(t *testing.T) {
	p, err := ParseNode(node(t, "sidecar~10.0.0.5~productpage-v1-abc.bookinfo~bookinfo.svc.cluster.local", map[string]any{
		"LABELS":            map[string]any{"app": "productpage", "version": "v1"},
		"SERVICE_ACCOUNT":   "bookinfo-productpage",
		"CLUSTER_ID":        "aws-east",
		"NETWORK":           "net-aws",
		"INTERCEPTION_MODE": "none",
		"INSTANCE_IPS":      "10.0.0.5,fd00::5",
		"UNPRIVILEGED_POD":  "true",
		"PLATFORM_METADATA": map[string]any{"gcp_project": "p"},
		"ISTIO_META_X":      "dropped",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := &Proxy{
		ID: p.ID, Type: SidecarProxy, PodName: "productpage-v1-abc", Namespace: "bookinfo",
		DNSDomain: "bookinfo.svc.cluster.local", IPAddresses: []string{"10.0.0.5", "fd00::5"},
		Labels:         map[string]string{"app": "productpage", "version": "v1"},
		ServiceAccount: "bookinfo-productpage", ClusterID: "aws-east", Network: "net-aws",
		InterceptionMode: InterceptNone, Metadata: map[string]any{"UNPRIVILEGED_POD": "true"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParseNode:\n got %+v\nwant %+v", p, want)
	}
}

func TestParseNodeDefaults(t *testing.T) {
	p, err := ParseNode(node(t, "router~10.0.0.9~ingress-1.istio-system~istio-system.svc.cluster.local", map[string]any{
		"LABELS": `{"istio":"ingressgateway"}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != RouterProxy || p.Namespace != "istio-system" || p.InterceptionMode != InterceptRedirect {
		t.Errorf("got type %q namespace %q mode %q", p.Type, p.Namespace, p.InterceptionMode)
	}
	if !reflect.DeepEqual(p.IPAddresses, []string{"10.0.0.9"}) {
		t.Errorf("IPs from the node id: got %v", p.IPAddresses)
	}
	if p.Labels["istio"] != "ingressgateway" {
		t.Errorf("LABELS given as a JSON string: got %v", p.Labels)
	}
}

func TestParseNodeMetadataNamespaceWins(t *testing.T) {
	p, err := ParseNode(node(t, "sidecar~10.0.0.1~app-1.ns-a~ns-a.svc.cluster.local", map[string]any{"NAMESPACE": "ns-b"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "ns-b" {
		t.Errorf("namespace: got %q, want the metadata's ns-b", p.Namespace)
	}
}

func TestParseNodeRejectsMalformedIDs(t *testing.T) {
	for _, id := range []string{"", "envoy-1", "sidecar~10.0.0.1~pod.ns", "gateway~10.0.0.1~pod.ns~ns.svc.cluster.local"} {
		if _, err := ParseNode(&corev3.Node{Id: id}); err == nil {
			t.Errorf("node id %q: want an error", id)
		}
	}
	if _, err := ParseNode(nil); err == nil {
		t.Error("nil node: want an error")
	}
}

// Only the metadata translation reads is kept; a node that sends none of
// it has no Metadata.
func TestParseNodeKeepsOnlyMetadataTranslationReads(t *testing.T) {
	p, err := ParseNode(node(t, "sidecar~10.0.0.1~app-1.ns-a~ns-a.svc.cluster.local", map[string]any{
		"LABELS": map[string]any{"app": "a"}, "MESH_ID": "cluster.local", "ISTIO_VERSION": "1.24.0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata != nil {
		t.Errorf("Metadata: got %v, want nil", p.Metadata)
	}
	if p.IstioVersion != "1.24.0" || p.Labels["app"] != "a" {
		t.Errorf("fields parsed from the metadata: version %q labels %v", p.IstioVersion, p.Labels)
	}
}
