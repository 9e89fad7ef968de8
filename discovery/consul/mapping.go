package consul

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// Labels and meta keys with a meaning for the mesh.
const (
	metaProtocol   = "protocol"
	metaNetwork    = "network"
	metaTLSMode    = "tlsMode"
	labelTLSMode   = "security.istio.io/tlsMode"
	labelNetwork   = "topology.istio.io/network"
	labelCluster   = "topology.istio.io/cluster"
	labelRegion    = "topology.kubernetes.io/region"
	consulItself   = "consul" // the servers' own RPC service
	defaultWeights = 1        // Consul's weight when none is given
)

// serviceName is what a Consul service name must be to make a host: one
// DNS label.
var serviceName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// mapping turns one Consul service's instances into the mesh's service and
// endpoints; its fields are the registry's options.
type mapping struct {
	cluster        string // cluster id: the datacenter or the name given
	datacenter     string // the locality region
	suffix         string
	namespace      string
	includeWarning bool
}

// built is one Consul service as the mesh sees it: nil svc when it has no
// usable instance, and the problems of the instances left out.
type built struct {
	svc       *discovery.Service
	endpoints []*discovery.Endpoint
	problems  []error
}

// build maps the health entries of the Consul service name. Every
// instance gives the service its port; healthy ones (passing; warning too
// when admitted) are its endpoints, so a service whose instances all fail
// keeps its ports without endpoints. Connect proxies and gateways are left
// out silently; instances with a bad port, address or meta value are left
// out with a problem naming the datacenter, the service, the instance and
// the field.
func (m mapping) build(name string, entries []*api.ServiceEntry) built {
	if !serviceName.MatchString(name) {
		return built{problems: []error{fmt.Errorf("datacenter %s: service %q: name is not a DNS label, so it makes no host", m.datacenter, name)}}
	}
	var b built
	ports := map[uint32]discovery.Protocol{}
	for _, e := range sortedEntries(entries) {
		if e.Service == nil || e.Service.Kind != api.ServiceKindTypical {
			continue
		}
		ep, protocol, err := m.endpoint(e)
		if err == nil {
			err = addPort(ports, ep.ServicePort, protocol)
		}
		if err != nil {
			b.problems = append(b.problems, fmt.Errorf("datacenter %s: service %s: instance %s on node %s: %w",
				m.datacenter, name, e.Service.ID, nodeName(e), err))
		}
		if ep != nil && m.healthy(e.Checks) {
			b.endpoints = append(b.endpoints, ep)
		}
	}
	if len(ports) > 0 {
		b.svc = m.service(name, ports)
	}
	return b
}

// sortedEntries orders entries by node then instance ID, so that the
// first of two disagreeing instances is always the same one.
func sortedEntries(entries []*api.ServiceEntry) []*api.ServiceEntry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b *api.ServiceEntry) int {
		return cmp.Or(cmp.Compare(nodeName(a), nodeName(b)), cmp.Compare(serviceID(a), serviceID(b)))
	})
	return out
}

func nodeName(e *api.ServiceEntry) string {
	if e.Node == nil {
		return ""
	}
	return e.Node.Node
}

func serviceID(e *api.ServiceEntry) string {
	if e.Service == nil {
		return ""
	}
	return e.Service.ID
}

// healthy reports whether an instance with these checks serves traffic:
// every check passing, or at worst warning when warning is admitted.
func (m mapping) healthy(checks api.HealthChecks) bool {
	switch checks.AggregatedStatus() {
	case api.HealthPassing:
		return true
	case api.HealthWarning:
		return m.includeWarning
	}
	return false
}

// addPort records a service port's protocol; an instance that disagrees
// with the first one to name it is an error (the first's protocol stays).
func addPort(ports map[uint32]discovery.Protocol, number uint32, protocol discovery.Protocol) error {
	have, ok := ports[number]
	switch {
	case !ok || have == protocol:
		ports[number] = protocol
	case protocol == discovery.ProtocolUnknown:
	case have == discovery.ProtocolUnknown:
		ports[number] = protocol
	default:
		return fmt.Errorf("Service.Meta.%s %s on port %d: another instance says %s; %s is served", metaProtocol, protocol, number, have, have)
	}
	return nil
}

// endpoint maps one instance, with the protocol its meta gives its port.
func (m mapping) endpoint(e *api.ServiceEntry) (*discovery.Endpoint, discovery.Protocol, error) {
	s := e.Service
	if s.Port <= 0 || s.Port > 65535 {
		return nil, "", fmt.Errorf("Service.Port %d: not a port (1-65535)", s.Port)
	}
	address, err := instanceAddress(e)
	if err != nil {
		return nil, "", err
	}
	protocol, err := metaProtocolOf(s.Meta)
	if err != nil {
		return nil, "", err
	}
	labels, err := m.labels(s)
	if err != nil {
		return nil, "", err
	}
	port := uint32(s.Port)
	return &discovery.Endpoint{
		Address: address, Port: port, ServicePort: port, Labels: labels,
		Network: labels[labelNetwork], Locality: m.datacenter, Weight: weight(e), Cluster: m.cluster,
	}, protocol, nil
}

// instanceAddress is the instance's address, else its node's: it must be an
// IP, since the mesh's endpoints are served over EDS.
func instanceAddress(e *api.ServiceEntry) (string, error) {
	address, field := e.Service.Address, "Service.Address"
	if address == "" && e.Node != nil {
		address, field = e.Node.Address, "Node.Address"
	}
	ip, err := netip.ParseAddr(address)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Errorf("%s %q: not an IP address", field, address)
	}
	return ip.Unmap().String(), nil
}

// metaProtocolOf reads meta protocol: UNKNOWN when unset, an error when it
// names no protocol Istio knows.
func metaProtocolOf(meta map[string]string) (discovery.Protocol, error) {
	v, ok := meta[metaProtocol]
	if !ok || v == "" {
		return discovery.ProtocolUnknown, nil
	}
	p := discovery.ParseProtocol(v)
	if p == discovery.ProtocolUnknown {
		return "", fmt.Errorf("Service.Meta.%s %q: not a protocol Istio knows (http, http2, grpc, https, tls, tcp, mongo, redis, mysql)", metaProtocol, v)
	}
	return p, nil
}

// labels are the instance's k=v tags overlaid by its meta, with the
// Istio labels for its network, TLS mode, cluster and region.
func (m mapping) labels(s *api.AgentService) (map[string]string, error) {
	labels := map[string]string{}
	for _, tag := range s.Tags {
		if k, v, ok := strings.Cut(tag, "="); ok && k != "" {
			labels[k] = v
		}
	}
	for k, v := range s.Meta {
		labels[k] = v
	}
	if mode, ok := s.Meta[metaTLSMode]; ok {
		if mode != "istio" && mode != "disabled" {
			return nil, fmt.Errorf("Service.Meta.%s %q: want istio or disabled", metaTLSMode, mode)
		}
		labels[labelTLSMode] = mode
	}
	if network, ok := s.Meta[metaNetwork]; ok {
		if network == "" || strings.ContainsAny(network, " /\t\n") {
			return nil, fmt.Errorf("Service.Meta.%s %q: not a network name", metaNetwork, network)
		}
		labels[labelNetwork] = network
	}
	labels[labelCluster] = m.cluster
	labels[labelRegion] = m.datacenter
	return labels, nil
}

// weight is the instance's Consul weight for its health (0, the default,
// when it is Consul's default of 1).
func weight(e *api.ServiceEntry) uint32 {
	w := e.Service.Weights.Passing
	if e.Checks.AggregatedStatus() == api.HealthWarning {
		w = e.Service.Weights.Warning
	}
	if w <= defaultWeights || w > 1<<16 {
		return 0
	}
	return uint32(w)
}

// service is the mesh service of the Consul service name, with ports.
func (m mapping) service(name string, ports map[uint32]discovery.Protocol) *discovery.Service {
	svc := &discovery.Service{
		ServiceKey: discovery.ServiceKey{Hostname: m.host(name), Namespace: m.namespace},
		Resolution: discovery.ResolutionStatic, Location: discovery.MeshInternal, Registry: m.cluster,
	}
	for _, number := range slices.Sorted(maps.Keys(ports)) {
		svc.Ports = append(svc.Ports, discovery.Port{Name: portName(ports[number], number), Number: number, Protocol: ports[number]})
	}
	return svc
}

// host is the mesh host of the Consul service name.
func (m mapping) host(name string) string { return strings.ToLower(name) + "." + m.suffix }

// portName names a port by its protocol and number (http-8080, tcp-9000).
func portName(p discovery.Protocol, number uint32) string {
	prefix := strings.ToLower(string(p))
	if p == discovery.ProtocolUnknown {
		prefix = "tcp"
	}
	return prefix + "-" + strconv.FormatUint(uint64(number), 10)
}
