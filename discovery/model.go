package discovery

import "strings"

// Protocol is a service port's application protocol, as Istio names it.
type Protocol string

// Protocols Istio knows.
const (
	ProtocolHTTP    Protocol = "HTTP"
	ProtocolHTTP2   Protocol = "HTTP2"
	ProtocolGRPC    Protocol = "GRPC"
	ProtocolHTTPS   Protocol = "HTTPS"
	ProtocolTLS     Protocol = "TLS"
	ProtocolTCP     Protocol = "TCP"
	ProtocolMongo   Protocol = "MONGO"
	ProtocolRedis   Protocol = "REDIS"
	ProtocolMySQL   Protocol = "MYSQL"
	ProtocolUnknown Protocol = "UNKNOWN"
)

// ParseProtocol maps an Istio protocol name (any case) to a Protocol.
func ParseProtocol(s string) Protocol {
	switch p := Protocol(strings.ToUpper(s)); p {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC, ProtocolHTTPS, ProtocolTLS,
		ProtocolTCP, ProtocolMongo, ProtocolRedis, ProtocolMySQL:
		return p
	case "GRPC-WEB":
		return ProtocolGRPC
	}
	return ProtocolUnknown
}

// IsHTTP reports whether traffic on the port is routed by HTTP route rules.
func (p Protocol) IsHTTP() bool {
	return p == ProtocolHTTP || p == ProtocolHTTP2 || p == ProtocolGRPC
}

// IsHTTP2 reports whether upstream connections must speak HTTP/2.
func (p Protocol) IsHTTP2() bool { return p == ProtocolHTTP2 || p == ProtocolGRPC }

// Resolution says how a proxy finds a service's endpoints.
type Resolution int

// Resolutions, as in ServiceEntry.
const (
	ResolutionStatic Resolution = iota // endpoints are IPs served over EDS
	ResolutionDNS                      // endpoints are hostnames resolved by the proxy
	ResolutionDNSRoundRobin
	ResolutionNone // pass-through to the original destination
)

// Location says whether a service is part of the mesh.
type Location int

// Locations, as in ServiceEntry.
const (
	MeshInternal Location = iota
	MeshExternal
)

// Port is one port of a service.
type Port struct {
	Name     string
	Number   uint32
	Protocol Protocol
}

// ServiceKey identifies a service: the same hostname may be defined in
// several namespaces.
type ServiceKey struct {
	Hostname  string
	Namespace string
}

// Service is a named, addressable set of endpoints.
type Service struct {
	ServiceKey
	Addresses  []string // virtual IPs or CIDRs; empty when the service has none
	Ports      []Port
	Resolution Resolution
	Location   Location
	// ExportTo lists the namespaces that may see the service: "*" for all,
	// "." for its own namespace. Empty means visible to all.
	ExportTo []string
	Labels   map[string]string
	// Registry names the registry that produced the service (e.g. "file", a cluster id).
	Registry string
	// ClusterAddresses are the service's addresses in each cluster that
	// defines it (a Kubernetes ClusterIP is the cluster's own), by cluster
	// id; nil when it comes from one source only.
	ClusterAddresses map[string][]string
}

// Port returns the port with the given number, or nil.
func (s *Service) Port(number uint32) *Port {
	for i := range s.Ports {
		if s.Ports[i].Number == number {
			return &s.Ports[i]
		}
	}
	return nil
}

// VisibleTo reports whether a proxy in namespace ns may see the service.
func (s *Service) VisibleTo(ns string) bool {
	if len(s.ExportTo) == 0 {
		return true
	}
	for _, e := range s.ExportTo {
		if e == "*" || e == ns || (e == "." && s.Namespace == ns) {
			return true
		}
	}
	return false
}

// Endpoint is one instance of a service, reachable at Address:Port for one
// service port.
type Endpoint struct {
	Address        string // IP, or hostname for DNS resolution
	Port           uint32 // port the instance listens on
	ServicePort    uint32 // the service port this endpoint serves
	Labels         map[string]string
	Network        string
	Locality       string // region/zone/subzone
	Weight         uint32 // 0 means the default weight
	ServiceAccount string
	Cluster        string // cluster or registry the endpoint was found in
}
