package bootstrap

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// DefaultAdminAddress is where Envoy's admin interface listens by default.
const DefaultAdminAddress = "127.0.0.1:15000"

// Options describe the proxy a bootstrap is for.
type Options struct {
	XDSAddress   string         // HOST:PORT of Isthmus
	NodeID       string         // TYPE~IP~POD.NAMESPACE~DOMAIN, as istio-proxy names itself
	Metadata     map[string]any // node metadata; values are strings or map[string]any
	Delta        bool           // ADS over delta xDS
	AdminAddress string         // IP:PORT of the admin interface; DefaultAdminAddress when empty
	Cluster      string         // node.cluster; derived from labels or pod name when empty
	Locality     string         // node.locality as REGION/ZONE/SUBZONE; parts may be empty
	// TLS, when set, connects to Isthmus's secure port (--secure-listen).
	TLS *XDSTLS
}

// XDSTLS is how Envoy connects to Isthmus's secure port: it checks
// Isthmus's certificate against RootCert for ServerName, and proves its
// own identity with the client certificate in CertChain and PrivateKey.
// The bootstrap names these files through two file-based SDS sources in
// SDSDir (see SDSFiles, which WriteSDSFiles writes there), so that Envoy
// reads them again when they are replaced by rename or through a swapped
// ..data symlink, as isthmus agent renews them; files rewritten in place
// are not noticed.
type XDSTLS struct {
	RootCert   string // PEM file of the mesh roots
	ServerName string // SNI and the DNS SAN to expect (isthmus.istio-system.svc by default)
	CertChain  string // PEM file of the client certificate chain; empty: none
	PrivateKey string // PEM file of its key
	// SDSDir holds the SDS files; empty: CertChain's directory, else
	// RootCert's.
	SDSDir string
}

// OptionError says which Options field is wrong ("XDSAddress", "NodeID",
// "AdminAddress" or "Metadata"), so a caller can name its own flag.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// hostPort is a parsed HOST:PORT.
type hostPort struct {
	host string
	port uint32
}

func (h hostPort) isIP() bool {
	_, err := netip.ParseAddr(h.host)
	return err == nil
}

func parseHostPort(what, s string) (hostPort, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Errorf("%s %q: want HOST:PORT: %w", what, s, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || host == "" {
		return hostPort{}, fmt.Errorf("%s %q: want HOST:PORT with a port from 1 to 65535", what, s)
	}
	return hostPort{host: host, port: uint32(port)}, nil
}

// resolved holds Options checked and completed with their defaults.
type resolved struct {
	xds      hostPort
	admin    hostPort
	nodeID   string
	cluster  string
	metadata map[string]any
	delta    bool
	locality *corev3.Locality
}

func resolve(o Options) (*resolved, error) {
	xds, err := parseHostPort("xDS address", o.XDSAddress)
	if err != nil {
		return nil, &OptionError{Option: "XDSAddress", Err: err}
	}
	admin, err := parseAdmin(o.AdminAddress)
	if err != nil {
		return nil, &OptionError{Option: "AdminAddress", Err: err}
	}
	proxy, err := model.ParseNode(&corev3.Node{Id: o.NodeID})
	if err != nil {
		return nil, &OptionError{Option: "NodeID", Err: err} // err names the node id
	}
	md := withNamespace(o.Metadata, proxy.Namespace)
	cluster := o.Cluster
	if cluster == "" {
		cluster = deriveCluster(md, proxy.PodName)
	}
	locality, err := model.ParseLocality(o.Locality)
	if err != nil {
		return nil, &OptionError{Option: "Locality", Err: err}
	}
	return &resolved{xds: xds, admin: admin, nodeID: o.NodeID, cluster: cluster, metadata: md, delta: o.Delta,
		locality: locality}, nil
}

func parseAdmin(s string) (hostPort, error) {
	if s == "" {
		s = DefaultAdminAddress
	}
	admin, err := parseHostPort("admin address", s)
	if err != nil {
		return hostPort{}, err
	}
	if !admin.isIP() {
		return hostPort{}, fmt.Errorf("admin address %q: the host must be an IP address", s)
	}
	return admin, nil
}

// withNamespace copies md, adding NAMESPACE when it is missing.
func withNamespace(md map[string]any, namespace string) map[string]any {
	out := maps.Clone(md)
	if out == nil {
		out = map[string]any{}
	}
	if ns, _ := out["NAMESPACE"].(string); ns == "" {
		out["NAMESPACE"] = namespace
	}
	return out
}

// deriveCluster names the workload and its namespace, as WORKLOAD.NAMESPACE.
func deriveCluster(md map[string]any, podName string) string {
	namespace, _ := md["NAMESPACE"].(string)
	labels := labelsOf(md["LABELS"])
	for _, key := range []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
		if v := labels[key]; v != "" {
			return v + "." + namespace
		}
	}
	return workloadFromPod(podName) + "." + namespace
}

// labelsOf reads LABELS given as a struct or as a JSON object in a string.
func labelsOf(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]any:
		for k, val := range m {
			if s, ok := val.(string); ok {
				out[k] = s
			}
		}
	case string:
		_ = json.Unmarshal([]byte(m), &out) // not JSON: no labels
	}
	return out
}

// workloadFromPod drops the suffixes Kubernetes appends to pod names: the
// last segment, and before it a ReplicaSet's pod-template hash.
// "productpage-v1-6b746f74dc-9stvs" and "productpage-v1-abc" both give
// "productpage-v1"; "web-0" gives "web".
func workloadFromPod(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) < 2 {
		return pod
	}
	parts = parts[:len(parts)-1]
	if len(parts) >= 2 && looksLikeTemplateHash(parts[len(parts)-1]) {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, "-")
}

// looksLikeTemplateHash reports whether s could be a pod-template hash:
// 6 to 10 lower-case letters and digits, with at least one digit.
func looksLikeTemplateHash(s string) bool {
	if len(s) < 6 || len(s) > 10 {
		return false
	}
	digit := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r < 'a' || r > 'z':
			return false
		}
	}
	return digit
}
