package server

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// benchMesh is the benchmark mesh of the project's scale targets: services
// spread round robin over namespaces, each with endpoints labelled
// v1, v2, v3..., a DestinationRule with one subset per version, an
// 80/20-style VirtualService between v1 and v2, and per namespace a Sidecar
// scoping egress to the namespace itself and istio-system.
type benchMesh struct {
	services   int
	namespaces int
	endpoints  int // per service
	subsets    int
	unscoped   bool // no Sidecar resources: every proxy sees every service
}

// targetMesh is 1,000 services in 100 namespaces, 3 endpoints each.
var targetMesh = benchMesh{services: 1000, namespaces: 100, endpoints: 3, subsets: 3}

// unscopedMesh is targetMesh without Sidecar resources.
var unscopedMesh = func() benchMesh { m := targetMesh; m.unscoped = true; return m }()

func (m benchMesh) namespace(i int) string { return fmt.Sprintf("ns-%d", i%m.namespaces) }
func (m benchMesh) name(i int) string      { return fmt.Sprintf("svc-%d", i) }
func (m benchMesh) host(i int) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", m.name(i), m.namespace(i))
}

// endpointIP is the address of endpoint e of service i.
func endpointIP(i, e int) string { return fmt.Sprintf("10.%d.%d.%d", i>>8&255, i&255, e+1) }

func version(e int) string { return fmt.Sprintf("v%d", e+1) }

// snapshot is the mesh with VirtualService weight v1 (and 100-v1 for v2),
// where the last endpoint of services 0 to moved-1 has moved to another
// address.
func (m benchMesh) snapshot(v uint64, v1, moved int) *model.Snapshot {
	var services []*discovery.Service
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{}
	var objs []*policy.Object
	for i := range m.services {
		svc := &discovery.Service{
			ServiceKey: discovery.ServiceKey{Hostname: m.host(i), Namespace: m.namespace(i)},
			Addresses:  []string{fmt.Sprintf("240.240.%d.%d", i>>8&255, i&255)},
			Ports:      []discovery.Port{{Name: "http", Number: 8080, Protocol: discovery.ProtocolHTTP}},
		}
		services = append(services, svc)
		for e := range m.endpoints {
			ip := endpointIP(i, e)
			if i < moved && e == m.endpoints-1 {
				ip = endpointIP(i, 100)
			}
			endpoints[svc.ServiceKey] = append(endpoints[svc.ServiceKey], &discovery.Endpoint{
				Address: ip, Port: 8080, ServicePort: 8080,
				Labels: map[string]string{"app": m.name(i), "version": version(e % m.subsets)},
			})
		}
		objs = append(objs, m.destinationRule(i), m.virtualService(i, v1))
	}
	for j := range m.namespaces {
		if !m.unscoped {
			objs = append(objs, m.sidecar(j))
		}
	}
	return &model.Snapshot{Version: v, Config: policy.NewConfig(objs), Catalog: discovery.NewCatalog(services, endpoints)}
}

func (m benchMesh) destinationRule(i int) *policy.Object {
	dr := &networking.DestinationRule{Host: m.name(i)}
	for s := range m.subsets {
		dr.Subsets = append(dr.Subsets, &networking.Subset{Name: version(s), Labels: map[string]string{"version": version(s)}})
	}
	return &policy.Object{Key: policy.Key{Kind: policy.KindDestinationRule, Namespace: m.namespace(i), Name: m.name(i)}, Spec: dr}
}

func (m benchMesh) virtualService(i, v1 int) *policy.Object {
	vs := &networking.VirtualService{
		Hosts: []string{m.name(i)},
		Http: []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{
			{Destination: &networking.Destination{Host: m.name(i), Subset: "v1"}, Weight: int32(v1)},
			{Destination: &networking.Destination{Host: m.name(i), Subset: "v2"}, Weight: int32(100 - v1)},
		}}},
	}
	return &policy.Object{Key: policy.Key{Kind: policy.KindVirtualService, Namespace: m.namespace(i), Name: m.name(i)}, Spec: vs}
}

func (m benchMesh) sidecar(j int) *policy.Object {
	sc := &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*", "istio-system/*"}}}}
	return &policy.Object{Key: policy.Key{Kind: policy.KindSidecar, Namespace: m.namespace(j), Name: "default"}, Spec: sc}
}

// proxy is sidecar k: proxies are spread evenly over the namespaces, and
// within a namespace round robin over its services and their endpoints
// (all but the last, which endpoint changes move), taking the endpoint's
// address and labels.
func (m benchMesh) proxy(k int) *corev3.Node {
	j := k % m.namespaces
	round := k / m.namespaces
	perNS := m.services / m.namespaces
	i := j + m.namespaces*(round%perNS)
	e := (round / perNS) % max(m.endpoints-1, 1)
	ns := m.namespace(i)
	md, err := model.NodeMetadata(map[string]any{
		"NAMESPACE":         ns,
		"SERVICE_ACCOUNT":   m.name(i),
		"CLUSTER_ID":        "Kubernetes",
		"INTERCEPTION_MODE": "REDIRECT",
		"INSTANCE_IPS":      endpointIP(i, e),
		"LABELS":            map[string]any{"app": m.name(i), "version": version(e % m.subsets)},
	})
	if err != nil {
		panic(err)
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("sidecar~%s~%s-%d.%s~%s.svc.cluster.local", endpointIP(i, e), m.name(i), k, ns, ns),
		Cluster:  m.name(i) + "." + ns,
		Metadata: md,
	}
}
