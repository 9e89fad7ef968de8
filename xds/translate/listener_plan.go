package translate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// wildcardAddress is the IPv4 wildcard outbound HTTP listeners sit on.
const wildcardAddress = "0.0.0.0"

// localhostAddress is where egress listeners bind when capture is NONE and
// the Sidecar names no bind address.
const localhostAddress = "127.0.0.1"

// reservedProxyPorts are ports istio-proxy's own listeners use; no service
// listener or inbound chain may take them.
var reservedProxyPorts = map[uint32]bool{
	15000: true, 15001: true, 15004: true, 15006: true, 15008: true,
	15020: true, 15021: true, 15053: true, 15090: true,
}

// outboundEntry is one outbound listener a proxy gets: an address and port,
// and what is served there. Listeners and route configurations are both
// derived from the same entries, so every route name a listener asks for is
// a route configuration that exists.
type outboundEntry struct {
	Address    string // listener address: wildcard, service VIP or egress bind
	Port       uint32
	BindToPort bool
	// HTTP is set when the listener routes HTTP; RouteName then names its
	// route configuration and HTTPEgress the egress scope whose services
	// fill it.
	HTTP       bool
	RouteName  string
	HTTPEgress *EgressScope
	// TCP lists the non-HTTP services on the listener, in order of arrival.
	TCP []tcpContribution
	// locked entries were made by a Sidecar egress listener with a port;
	// the catch-all egress listener adds nothing to them.
	locked bool
}

// tcpContribution is one service served by a TCP (or TLS) listener.
type tcpContribution struct {
	Service *discovery.Service
	Port    discovery.Port // the listener's port, protocol included
	CIDR    string         // destination range to match when the VIP is a CIDR
	Egress  *EgressScope   // the egress listener that admitted the service
}

// Sniffed reports whether the listener carries both HTTP and TCP traffic
// and must tell them apart by inspecting the first bytes.
func (e *outboundEntry) Sniffed() bool { return e.HTTP && len(e.TCP) > 0 }

// Name is the listener's name.
func (e *outboundEntry) Name() string { return ListenerName(e.Address, e.Port) }

// outboundPlan is the ordered set of outbound listeners of a proxy.
type outboundPlan struct {
	entries []*outboundEntry
	byKey   map[string]*outboundEntry
}

// planOutbound computes the outbound listeners of p within scope, following
// Istio: each Sidecar egress listener with a port gives listeners on that
// port for the services it admits; the catch-all egress listener gives one
// per service port, except on ports already taken.
func planOutbound(p *model.Proxy, scope *Scope) *outboundPlan {
	plan := &outboundPlan{byKey: map[string]*outboundEntry{}}
	for _, e := range scope.Egress {
		plan.addEgress(p, e)
	}
	return plan
}

func (plan *outboundPlan) addEgress(p *model.Proxy, e *EgressScope) {
	bindToPort, bind := egressBinding(p, e.Listener)
	if port := e.Listener.GetPort(); port != nil {
		lp := discovery.Port{Name: port.GetName(), Number: port.GetNumber(), Protocol: discovery.ParseProtocol(port.GetProtocol())}
		if !canBindToPort(p, bindToPort, lp.Number) {
			return
		}
		for _, svc := range e.Services {
			plan.add(e, svc, lp, bind, bindToPort)
		}
		return
	}
	plan.lockAll()
	for _, svc := range e.Services {
		for _, sp := range svc.Ports {
			if canBindToPort(p, bindToPort, sp.Number) {
				plan.add(e, svc, sp, bind, bindToPort)
			}
		}
	}
}

func (plan *outboundPlan) lockAll() {
	for _, e := range plan.entries {
		e.locked = true
	}
}

// add places one service port on its listener.
func (plan *outboundPlan) add(e *EgressScope, svc *discovery.Service, lp discovery.Port, bind string, bindToPort bool) {
	if lp.Protocol.IsHTTP() {
		plan.addHTTP(e, lp, bind, bindToPort)
		return
	}
	address, cidr := bind, ""
	if address == "" {
		address, cidr = tcpListenAddress(svc)
	}
	entry := plan.entry(address, lp.Number, bindToPort)
	if entry == nil {
		return
	}
	entry.TCP = append(entry.TCP, tcpContribution{Service: svc, Port: lp, CIDR: cidr, Egress: e})
}

func (plan *outboundPlan) addHTTP(e *EgressScope, lp discovery.Port, bind string, bindToPort bool) {
	address := bind
	if address == "" {
		address = wildcardAddress
	}
	entry := plan.entry(address, lp.Number, bindToPort)
	if entry == nil || entry.HTTP {
		return
	}
	entry.HTTP = true
	entry.RouteName = RouteConfigName(address, lp.Number)
	entry.HTTPEgress = e
}

// entry returns the listener at address:port, creating it when new; nil when
// it exists and is locked.
func (plan *outboundPlan) entry(address string, port uint32, bindToPort bool) *outboundEntry {
	key := ListenerName(address, port)
	if cur, ok := plan.byKey[key]; ok {
		if cur.locked {
			return nil
		}
		return cur
	}
	entry := &outboundEntry{Address: address, Port: port, BindToPort: bindToPort}
	plan.byKey[key] = entry
	plan.entries = append(plan.entries, entry)
	return entry
}

// HTTPEntries returns the entries that route HTTP, in plan order.
func (plan *outboundPlan) HTTPEntries() []*outboundEntry {
	var out []*outboundEntry
	for _, e := range plan.entries {
		if e.HTTP {
			out = append(out, e)
		}
	}
	return out
}

// tcpListenAddress is where a TCP service port is listened for when no bind
// is given: its VIP, or the wildcard with a destination match for a CIDR, or
// the wildcard when it has no address.
func tcpListenAddress(svc *discovery.Service) (address, cidr string) {
	if len(svc.Addresses) == 0 || svc.Addresses[0] == "" || svc.Addresses[0] == wildcardAddress {
		return wildcardAddress, ""
	}
	if a := svc.Addresses[0]; strings.Contains(a, "/") {
		return wildcardAddress, a
	}
	return svc.Addresses[0], ""
}

// egressBinding tells whether an egress listener binds for real and to which
// address ("" when the address follows from the service).
func egressBinding(p *model.Proxy, l *networking.IstioEgressListener) (bindToPort bool, bind string) {
	bindToPort = proxyCaptureNone(p) || l.GetCaptureMode() == networking.CaptureMode_NONE
	switch {
	case l.GetBind() != "":
		bind = l.GetBind()
	case bindToPort:
		bind = localhostAddress
	}
	return bindToPort, bind
}

// proxyCaptureNone reports whether no traffic is redirected to the proxy.
func proxyCaptureNone(p *model.Proxy) bool {
	return p.InterceptionMode == model.InterceptNone
}

// canBindToPort is false for a port the proxy cannot listen on: one of its
// own (captured or not, a listener there would clash with the proxy's), or a
// privileged port bound for real by an unprivileged proxy.
func canBindToPort(p *model.Proxy, bindToPort bool, port uint32) bool {
	if reservedProxyPorts[port] {
		return false
	}
	return !bindToPort || port >= 1024 || !proxyUnprivileged(p)
}

func proxyUnprivileged(p *model.Proxy) bool {
	v, _ := p.Metadata["UNPRIVILEGED_POD"].(string)
	return strings.EqualFold(v, "true")
}
