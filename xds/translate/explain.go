package translate

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Explanation says where every resource a proxy is served comes from: for
// each, the Istio objects and the services that produced it.
type Explanation struct {
	Proxy     string              `json:"proxy"`
	Listeners []ExplainedResource `json:"listeners"`
	Routes    []ExplainedRoute    `json:"routes"`
	Clusters  []ExplainedResource `json:"clusters"`
	Endpoints []ExplainedResource `json:"endpoints"`
}

// ExplainedResource is one resource and what produced it.
type ExplainedResource struct {
	Name string `json:"name"`
	Origin
}

// ExplainedRoute is one route configuration and, for each of its virtual
// hosts, what produced it.
type ExplainedRoute struct {
	Name         string                 `json:"name"`
	VirtualHosts []ExplainedVirtualHost `json:"virtualHosts"`
}

// ExplainedVirtualHost is one virtual host of a route configuration: the
// service it routes to, the VirtualServices for its host in precedence
// order (the first with routes for the port gives them: Winner, or none
// for the default route), and everything else its routes read.
type ExplainedVirtualHost struct {
	Name            string         `json:"name"`
	VirtualServices []ObjectOrigin `json:"virtualServices,omitempty"`
	Winner          string         `json:"winner,omitempty"` // NAMESPACE/NAME of the VirtualService whose routes it has
	Origin
}

// Origin is what produced a resource: Istio objects and services.
type Origin struct {
	Objects  []ObjectOrigin  `json:"objects,omitempty"`
	Services []ServiceOrigin `json:"services,omitempty"`
}

// ObjectOrigin is one Istio object and where it was read from.
type ObjectOrigin struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Source is the file (and document) or the cluster (and
	// resourceVersion) the object came from.
	Source string `json:"source,omitempty"`
}

func (o ObjectOrigin) String() string {
	s := fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	if o.Source != "" {
		s += " (" + o.Source + ")"
	}
	return s
}

// ServiceOrigin is one service and the registry it came from.
type ServiceOrigin struct {
	Hostname  string `json:"hostname"`
	Namespace string `json:"namespace"`
	Registry  string `json:"registry,omitempty"`
}

func (s ServiceOrigin) String() string {
	out := s.Namespace + "/" + s.Hostname
	if s.Registry != "" {
		out += " (" + s.Registry + ")"
	}
	return out
}

// Explain translates p as Translate does and says what produced each
// resource: a cluster and its endpoints, the service port and what
// building them read (its DestinationRule, the PeerAuthentications that
// decide mTLS to its endpoints...); a route configuration's virtual hosts,
// the VirtualServices in precedence and what their routes read; a
// listener, and a gateway's SNI-DNAT cluster, what the proxy's outbound view
// read; an inbound listener or cluster, what its workload's inbound part
// read. The fixed clusters (pass-through, black-hole) have no origin.
func Explain(idx *Index, p *model.Proxy) (*Explanation, error) {
	idx = idx.ForCluster(p.ClusterID)
	v := viewOf(idx, p)
	units := &explainingUnits{}
	shared, err := buildShared(idx.recording(newReads()), v, units)
	if err != nil {
		return nil, fmt.Errorf("explain proxy %s: %w", p.ID, err)
	}
	workload, err := buildWorkload(idx.recording(newReads()), v, shared.scope, inboundTargets(idx, p, shared.scope))
	if err != nil {
		return nil, fmt.Errorf("explain proxy %s: %w", p.ID, err)
	}
	out := &Explanation{Proxy: p.ID}
	outbound, inbound := idx.origin(shared.reads, routingKinds...), idx.origin(workload.reads, routingKinds...)
	for _, l := range shared.listeners {
		out.Listeners = append(out.Listeners, ExplainedResource{Name: l.GetName(), Origin: outbound})
	}
	for _, l := range workload.listeners {
		out.Listeners = append(out.Listeners, ExplainedResource{Name: l.GetName(), Origin: inbound})
	}
	out.Clusters, out.Endpoints = units.explainClusters(idx)
	for _, c := range shared.own.Clusters {
		origin := outbound
		if isFixedCluster(c.GetName()) {
			origin = Origin{}
		}
		out.Clusters = append(out.Clusters, ExplainedResource{Name: c.GetName(), Origin: origin})
	}
	for _, cla := range shared.own.Endpoints {
		out.Endpoints = append(out.Endpoints, ExplainedResource{Name: cla.GetClusterName(), Origin: outbound})
	}
	for _, c := range workload.clusters {
		out.Clusters = append(out.Clusters, ExplainedResource{Name: c.GetName(), Origin: inbound})
	}
	for _, rc := range shared.routes {
		out.Routes = append(out.Routes, units.explainRoute(idx, rc.GetName(), rc.GetVirtualHosts()))
	}
	sortExplained(out)
	return out, nil
}

// explainingUnits builds every unit it is asked for, as Translate does, and
// remembers them.
type explainingUnits struct {
	buildUnits
	clusters []explainedClusters
	routes   map[string]*serviceRoutes // by virtual host name
}

type explainedClusters struct {
	in   portClustersInput
	unit *portClusters
}

func (e *explainingUnits) portClusters(in portClustersInput) *clusterUnit {
	u := e.buildUnits.portClusters(in)
	e.clusters = append(e.clusters, explainedClusters{in: in, unit: u.res})
	return u
}

func (e *explainingUnits) serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	u := e.buildUnits.serviceRoutes(in, view)
	if e.routes == nil {
		e.routes = map[string]*serviceRoutes{}
	}
	e.routes[VirtualHostName(in.service.Hostname, in.port)] = u
	return u
}

// explainClusters gives each cluster and load assignment of the units the
// origin of its unit: the service port, and what building it read.
func (e *explainingUnits) explainClusters(idx *Index) (clusters, endpoints []ExplainedResource) {
	for _, c := range e.clusters {
		origin := idx.origin(c.unit.reads, policy.KindDestinationRule)
		origin.addService(c.in.service)
		for _, cl := range c.unit.clusters {
			clusters = append(clusters, ExplainedResource{Name: cl.GetName(), Origin: origin})
		}
		for _, cla := range c.unit.endpoints {
			endpoints = append(endpoints, ExplainedResource{Name: cla.GetClusterName(), Origin: origin})
		}
	}
	return clusters, endpoints
}

// explainRoute explains the virtual hosts of route configuration name.
func (e *explainingUnits) explainRoute(idx *Index, name string, vhosts []*routev3.VirtualHost) ExplainedRoute {
	out := ExplainedRoute{Name: name}
	for _, vh := range vhosts {
		ev := ExplainedVirtualHost{Name: vh.GetName()}
		if u := e.routes[vh.GetName()]; u != nil {
			ev.Origin = idx.origin(u.reads, routingKinds...)
			ev.VirtualServices, ev.Winner = idx.precedence(u, vh.GetName())
		}
		out.VirtualHosts = append(out.VirtualHosts, ev)
	}
	return out
}

// precedence lists the VirtualServices the routes of virtual host vhost
// ("HOST:PORT") considered for its host, in the order they were tried, and
// the one that gave the routes (see serviceRoutes); none for the default
// route.
func (idx *Index) precedence(u *serviceRoutes, vhost string) ([]ObjectOrigin, string) {
	host := vhost[:strings.LastIndex(vhost, ":")]
	var list []ObjectOrigin
	for _, q := range u.trace {
		if q.question != questionVirtualServices+host || q.answer == "" {
			continue
		}
		for _, name := range strings.Split(q.answer, ",") {
			list = append(list, idx.objectOrigin("VirtualService", name))
		}
		break
	}
	return list, winnerOf(u)
}

// winnerOf is the VirtualService whose routes u holds; "" for the default
// route.
func winnerOf(u *serviceRoutes) string {
	for _, r := range u.routes {
		if vs := VirtualServiceOf(r); vs != "" {
			return vs
		}
	}
	return ""
}

// addService adds svc to o's services unless it is there.
func (o *Origin) addService(svc *discovery.Service) {
	so := ServiceOrigin{Hostname: svc.Hostname, Namespace: svc.Namespace, Registry: svc.Registry}
	if !slices.Contains(o.Services, so) {
		o.Services = append(slices.Clip(o.Services), so)
	}
}

// routingKinds are the kinds of objects a host's routing consists of.
var routingKinds = []policy.Kind{policy.KindVirtualService, policy.KindDestinationRule}

// isFixedCluster tells the clusters every proxy has, whatever the
// configuration.
func isFixedCluster(name string) bool {
	return name == PassthroughCluster || name == BlackHoleCluster || name == InboundPassthrough
}

// sortExplained orders every list by name.
func sortExplained(e *Explanation) {
	byName := func(a, b ExplainedResource) int { return strings.Compare(a.Name, b.Name) }
	slices.SortStableFunc(e.Listeners, byName)
	slices.SortStableFunc(e.Clusters, byName)
	slices.SortStableFunc(e.Endpoints, byName)
	e.Clusters = slices.CompactFunc(e.Clusters, func(a, b ExplainedResource) bool { return a.Name == b.Name })
	e.Endpoints = slices.CompactFunc(e.Endpoints, func(a, b ExplainedResource) bool { return a.Name == b.Name })
}
