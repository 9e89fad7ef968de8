package xdsload

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// Identity is who one simulated sidecar claims to be: a pod of one of the
// generated services.
type Identity struct {
	Index     int
	Namespace string
	Pod       string
	IP        string
	Service   *meshgen.Service
	Labels    map[string]string
	// ClusterID is the node's CLUSTER_ID metadata, the Kubernetes cluster
	// it runs in; "" reports Istio's default, "Kubernetes".
	ClusterID string
}

// IstioVersion is the version simulated sidecars report.
const IstioVersion = "1.27.0"

// NodeID is istio-proxy's "sidecar~IP~POD.NS~NS.svc.cluster.local".
func (id *Identity) NodeID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", id.IP, id.Pod, id.Namespace, id.Namespace)
}

// IdentityFor spreads proxies evenly over the namespaces: proxy k lives in
// namespace k mod K, belongs to the services of that namespace round robin,
// and takes the address of one of the service's endpoints that endpoint
// churn never moves (see meshgen.Service.SetEndpointGeneration).
func IdentityFor(spec meshgen.Spec, k int) *Identity {
	j := k % spec.Namespaces
	services := spec.ServicesIn(j)
	round := k / spec.Namespaces
	svc := spec.Service(services[round%len(services)])
	slot := (round / len(services)) % stableEndpoints(spec.EndpointsPerService)
	version := meshgen.VersionLabel(slot, spec.Subsets)
	ip := meshgen.EndpointAddress(svc.Index, slot)
	labels := svc.Labels(version)
	labels[meshgen.SidecarLabel] = "istio"
	labels["service.istio.io/canonical-name"] = svc.Name
	labels["service.istio.io/canonical-revision"] = version
	return &Identity{
		Index:     k,
		Namespace: svc.Namespace,
		Pod:       fmt.Sprintf("%s-%s-%d", svc.Name, version, k),
		IP:        ip,
		Service:   svc,
		Labels:    labels,
	}
}

// stableEndpoints is how many endpoints of a service keep their address
// under churn: all but the last one, at least one.
func stableEndpoints(p int) int {
	if p <= 1 {
		return 1
	}
	return p - 1
}

// Node builds the Envoy node as istio-proxy sends it.
func (id *Identity) Node() (*corev3.Node, error) {
	md, err := structpb.NewStruct(id.metadata())
	if err != nil {
		return nil, fmt.Errorf("node metadata of %s: %w", id.Pod, err)
	}
	return &corev3.Node{
		Id:            id.NodeID(),
		Cluster:       id.Service.Name + "." + id.Namespace,
		Metadata:      md,
		UserAgentName: "envoy",
		UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: &corev3.BuildVersion{
			Version: &typev3.SemanticVersion{MajorNumber: 1, MinorNumber: 40},
		}},
	}, nil
}

func (id *Identity) metadata() map[string]any {
	labels := map[string]any{}
	for k, v := range id.Labels {
		labels[k] = v
	}
	return map[string]any{
		"NAMESPACE":             id.Namespace,
		"NAME":                  id.Pod,
		"LABELS":                labels,
		"SERVICE_ACCOUNT":       id.Service.ServiceAccount(),
		"CLUSTER_ID":            id.clusterID(),
		"MESH_ID":               "cluster.local",
		"ISTIO_VERSION":         IstioVersion,
		"INTERCEPTION_MODE":     "REDIRECT",
		"INSTANCE_IPS":          id.IP,
		"WORKLOAD_NAME":         id.Service.Name + "-" + id.Labels["version"],
		"OWNER":                 fmt.Sprintf("kubernetes://apis/apps/v1/namespaces/%s/deployments/%s-%s", id.Namespace, id.Service.Name, id.Labels["version"]),
		"APP_CONTAINERS":        "app",
		"POD_PORTS":             fmt.Sprintf(`[{"name":"http","containerPort":%d,"protocol":"TCP"}]`, id.Service.Port),
		"ENVOY_STATUS_PORT":     15021.0,
		"ENVOY_PROMETHEUS_PORT": 15090.0,
		"PROXY_CONFIG":          proxyConfig(),
	}
}

// defaultClusterID is the cluster id istio-proxy reports unless told
// otherwise.
const defaultClusterID = "Kubernetes"

func (id *Identity) clusterID() string {
	if id.ClusterID == "" {
		return defaultClusterID
	}
	return id.ClusterID
}

// proxyConfig is a minimal ProxyConfig as istio-proxy reports it; every
// field is one istiod's ProxyConfig decoder accepts.
func proxyConfig() map[string]any {
	return map[string]any{
		"binaryPath":               "/usr/local/bin/envoy",
		"configPath":               "./etc/istio/proxy",
		"concurrency":              2.0,
		"discoveryAddress":         "istiod.istio-system.svc:15012",
		"drainDuration":            "45s",
		"proxyAdminPort":           15000.0,
		"serviceCluster":           "istio-proxy",
		"statNameLength":           189.0,
		"statusPort":               15020.0,
		"terminationDrainDuration": "5s",
	}
}
