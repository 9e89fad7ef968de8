package translate

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// routeContext is what translating HTTP routes for one listener port needs:
// the proxy they are for is seen through view alone.
type routeContext struct {
	idx  *Index
	view routeView
	port uint32 // the port the route configuration serves
}

// newRouteContext is the context of p's routes on port, for the routes of
// egress listener egress (nil: the implicit catch-all).
func newRouteContext(idx *Index, p *model.Proxy, port uint32, egress *networking.IstioEgressListener) *routeContext {
	view := newProxyView(idx, p)
	view.egress = egress
	return &routeContext{idx: idx, view: view, port: port}
}

// withEgress is c for the routes of another egress listener.
func (c *routeContext) withEgress(l *networking.IstioEgressListener) *routeContext {
	out := *c
	out.view = c.view.withEgress(l)
	return &out
}

// serviceFor returns the service a proxy means by hostname: the one in its
// own namespace when several namespaces define it, else the first visible.
func (c *routeContext) serviceFor(hostname string) *discovery.Service {
	return c.view.serviceFor(hostname)
}

func serviceForHost(idx *Index, ns, hostname string) *discovery.Service {
	var first *discovery.Service
	for _, svc := range idx.servicesByHost(hostname) {
		if !svc.VisibleTo(ns) {
			continue
		}
		if svc.Namespace == ns {
			return svc
		}
		if first == nil {
			first = svc
		}
	}
	return first
}

// destinationPort is the service port a destination means: its own port,
// else the service's only port, else the listener port.
func (c *routeContext) destinationPort(d *networking.Destination, hostname string) uint32 {
	if n := d.GetPort().GetNumber(); n != 0 {
		return n
	}
	if svc := c.serviceFor(hostname); svc != nil && len(svc.Ports) == 1 {
		return svc.Ports[0].Number
	}
	return c.port
}

// destinationCluster names the outbound cluster of a destination written in
// an object of namespace ns.
func (c *routeContext) destinationCluster(d *networking.Destination, ns string) string {
	hostname := ResolveHost(d.GetHost(), ns)
	return ClusterName(Outbound, c.destinationPort(d, hostname), d.GetSubset(), hostname)
}

// hashPolicy is the consistent-hash policy of the DestinationRule that
// applies to a destination (subset and port level included); nil when the
// destination is not load balanced by hash.
func (c *routeContext) hashPolicy(d *networking.Destination, ns string) []*routev3.RouteAction_HashPolicy {
	hostname := ResolveHost(d.GetHost(), ns)
	svc := c.serviceFor(hostname)
	if svc == nil {
		return nil
	}
	lb := c.loadBalancer(svc, d.GetSubset(), c.destinationPort(d, hostname))
	return HashPolicy(lb)
}

func (c *routeContext) loadBalancer(svc *discovery.Service, subset string, port uint32) *networking.LoadBalancerSettings {
	rule := c.view.destinationRule(svc)
	if rule == nil {
		return nil
	}
	policy := rule.Spec.GetTrafficPolicy()
	if s := rule.Subset(subset); s != nil {
		return subsetTrafficPolicy(policy, s.GetTrafficPolicy(), port).GetLoadBalancer()
	}
	portPolicy, _ := portTrafficPolicy(policy, port)
	return portPolicy.GetLoadBalancer()
}
