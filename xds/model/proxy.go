package model

import (
	"encoding/json"
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// ProxyType is the role of a proxy, the first field of its node id.
type ProxyType string

// Proxy roles, as istio-proxy names them.
const (
	SidecarProxy ProxyType = "sidecar"
	RouterProxy  ProxyType = "router"
)

// InterceptionMode says how traffic reaches the proxy.
type InterceptionMode string

// Interception modes, as istio-proxy's INTERCEPTION_MODE.
const (
	InterceptRedirect InterceptionMode = "REDIRECT"
	InterceptTProxy   InterceptionMode = "TPROXY"
	InterceptNone     InterceptionMode = "NONE"
)

// Proxy is one Envoy as it identified itself: node id
// "TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local" plus metadata.
type Proxy struct {
	ID               string
	Type             ProxyType
	IPAddresses      []string
	PodName          string
	Namespace        string
	DNSDomain        string
	Labels           map[string]string
	ServiceAccount   string
	ClusterID        string
	Network          string
	InterceptionMode InterceptionMode
	IstioVersion     string
	// Locality is where the proxy runs, "REGION/ZONE/SUBZONE" (from
	// node.locality), for locality load balancing; "" when unknown.
	Locality string
	// Metadata holds the node metadata fields that translation reads and
	// that have no field above (keptMetadataFields), as Go values
	// (structpb.Value.AsInterface); nil when the node sent none. The other fields are dropped: istio-proxy sends a few
	// kilobytes of them per proxy, and the server holds a Proxy for every
	// connected one.
	Metadata map[string]any
}

// keptMetadataFields are the node metadata fields ParseNode keeps in
// Proxy.Metadata: those translation reads that have no Proxy field of their
// own. A feature that reads another field adds it here.
var keptMetadataFields = []string{
	"UNPRIVILEGED_POD", // the proxy cannot bind privileged ports
}

// ParseNode builds a Proxy from an Envoy node. It fails when the node id
// does not have istio-proxy's four '~'-separated parts.
func ParseNode(node *corev3.Node) (*Proxy, error) {
	if node == nil {
		return nil, fmt.Errorf("node is missing")
	}
	parts := strings.Split(node.GetId(), "~")
	if len(parts) != 4 {
		return nil, fmt.Errorf("node id %q: want TYPE~IP~POD.NAMESPACE~DOMAIN", node.GetId())
	}
	p := &Proxy{ID: node.GetId(), Type: ProxyType(parts[0]), DNSDomain: parts[3]}
	if p.Type != SidecarProxy && p.Type != RouterProxy {
		return nil, fmt.Errorf("node id %q: unknown proxy type %q", node.GetId(), parts[0])
	}
	p.PodName, p.Namespace, _ = strings.Cut(parts[2], ".")
	if p.Namespace == "" {
		p.Namespace, _, _ = strings.Cut(parts[3], ".")
	}
	applyMetadata(p, node.GetMetadata().GetFields(), parts[1])
	p.Locality = LocalityString(node.GetLocality())
	return p, nil
}

// LocalityString writes a locality as "REGION/ZONE/SUBZONE", without
// trailing empty parts; "" for none.
func LocalityString(l *corev3.Locality) string {
	return strings.TrimRight(l.GetRegion()+"/"+l.GetZone()+"/"+l.GetSubZone(), "/")
}

// ParseLocality reads "REGION/ZONE/SUBZONE" (trailing parts may be left
// out); "" is no locality.
func ParseLocality(s string) (*corev3.Locality, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("locality %q: want REGION/ZONE/SUBZONE", s)
	}
	parts = append(parts, "", "")
	return &corev3.Locality{Region: parts[0], Zone: parts[1], SubZone: parts[2]}, nil
}

// Node metadata fields ParseNode reads into Proxy fields.
const (
	metaNamespace        = "NAMESPACE"
	metaLabels           = "LABELS"
	metaServiceAccount   = "SERVICE_ACCOUNT"
	metaClusterID        = "CLUSTER_ID"
	metaNetwork          = "NETWORK"
	metaIstioVersion     = "ISTIO_VERSION"
	metaInterceptionMode = "INTERCEPTION_MODE"
	metaInstanceIPs      = "INSTANCE_IPS"
)

// readMetadataFields is every node metadata field ParseNode reads.
var readMetadataFields = func() map[string]bool {
	read := map[string]bool{}
	for _, key := range append([]string{metaNamespace, metaLabels, metaServiceAccount, metaClusterID,
		metaNetwork, metaIstioVersion, metaInterceptionMode, metaInstanceIPs}, keptMetadataFields...) {
		read[key] = true
	}
	return read
}()

// ReadsMetadataField reports whether ParseNode reads the node metadata
// field key. A decoder may drop the other fields of a node's metadata
// before ParseNode without changing the Proxy it builds.
func ReadsMetadataField(key string) bool { return readMetadataFields[key] }

func applyMetadata(p *Proxy, md map[string]*structpb.Value, idIP string) {
	if ns := stringField(md, metaNamespace); ns != "" {
		p.Namespace = ns
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	p.Labels = stringMap(md[metaLabels])
	p.ServiceAccount = stringField(md, metaServiceAccount)
	p.ClusterID = stringField(md, metaClusterID)
	p.Network = stringField(md, metaNetwork)
	p.IstioVersion = stringField(md, metaIstioVersion)
	p.InterceptionMode = InterceptionMode(strings.ToUpper(stringField(md, metaInterceptionMode)))
	if p.InterceptionMode == "" {
		p.InterceptionMode = InterceptRedirect
	}
	if ips := stringField(md, metaInstanceIPs); ips != "" {
		p.IPAddresses = strings.Split(ips, ",")
	} else if idIP != "" {
		p.IPAddresses = []string{idIP}
	}
	p.Metadata = keptMetadata(md)
}

// keptMetadata is the part of md that Proxy.Metadata keeps.
func keptMetadata(md map[string]*structpb.Value) map[string]any {
	var kept map[string]any
	for _, key := range keptMetadataFields {
		v, ok := md[key]
		if !ok {
			continue
		}
		if kept == nil {
			kept = map[string]any{}
		}
		kept[key] = v.AsInterface()
	}
	return kept
}

func stringField(md map[string]*structpb.Value, key string) string {
	return md[key].GetStringValue()
}

// stringMap accepts a struct of strings, or a JSON object encoded as a string.
func stringMap(v *structpb.Value) map[string]string {
	out := map[string]string{}
	switch m := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		for k, val := range m.StructValue.GetFields() {
			if s, ok := val.GetKind().(*structpb.Value_StringValue); ok {
				out[k] = s.StringValue
			}
		}
	case *structpb.Value_StringValue:
		_ = json.Unmarshal([]byte(m.StringValue), &out)
	}
	return out
}

// NodeMetadata builds node metadata as istio-proxy sends it; used by the
// bootstrap generator and by tests that simulate sidecars.
func NodeMetadata(fields map[string]any) (*structpb.Struct, error) {
	return structpb.NewStruct(fields)
}
