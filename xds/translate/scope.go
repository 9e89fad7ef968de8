package translate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Scope is what one proxy may reach: its Sidecar resource (if any) and the
// services each egress listener admits.
type Scope struct {
	Namespace string
	// Sidecar is the applicable Sidecar object, nil when none applies.
	Sidecar *policy.Object
	// Egress has one entry per egress listener; without a Sidecar, a single
	// catch-all entry admitting every visible service.
	Egress []*EgressScope
}

// EgressScope is one Sidecar egress listener and the services it admits.
type EgressScope struct {
	// Listener is the Sidecar's egress entry; nil for the implicit catch-all.
	Listener *networking.IstioEgressListener
	Services []*discovery.Service
}

// labelsMatch reports whether every selector label is present in labels.
func labelsMatch(selector, labels map[string]string) bool {
	return policy.SelectorMatches(selector, labels)
}

// ScopeFor computes the scope of proxy p.
func (idx *Index) ScopeFor(p *model.Proxy) *Scope {
	return idx.scopeOf(p.Namespace, idx.SidecarFor(p))
}

// scopeOf computes the scope of a proxy in namespace ns to which sidecar
// (nil for none) applies.
func (idx *Index) scopeOf(ns string, sidecar *policy.Object) *Scope {
	s := &Scope{Namespace: ns, Sidecar: sidecar}
	if s.Sidecar == nil {
		s.Egress = []*EgressScope{{Services: idx.visibleServices(ns, nil)}}
		return s
	}
	for _, l := range s.Sidecar.Spec.(*networking.Sidecar).GetEgress() {
		s.Egress = append(s.Egress, &EgressScope{
			Listener: l,
			Services: idx.visibleServices(ns, l.GetHosts()),
		})
	}
	if len(s.Egress) == 0 {
		// A Sidecar without egress admits everything, as Istio's implicit "*/*".
		s.Egress = []*EgressScope{{Services: idx.visibleServices(ns, nil)}}
	}
	return s
}

// visibleServices lists the services a proxy in ns may see, filtered by
// Sidecar egress hosts ("ns/dnsName") when hosts is non-nil.
func (idx *Index) visibleServices(ns string, hosts []string) []*discovery.Service {
	return idx.services(serviceQuery{namespace: ns, hosts: hosts})
}

// egressAdmits applies Sidecar egress host patterns "NS/HOST" where NS is a
// namespace, "*", "." (the proxy's namespace) or "~" (none).
func egressAdmits(hosts []string, proxyNS string, svc *discovery.Service) bool {
	for _, h := range hosts {
		ns, dns, ok := strings.Cut(h, "/")
		if !ok {
			ns, dns = "*", h
		}
		if ns == "~" {
			continue
		}
		if ns == "." {
			ns = proxyNS
		}
		if (ns == "*" || ns == svc.Namespace) && HostMatches(dns, svc.Hostname) {
			return true
		}
	}
	return false
}

// Services returns every service in the scope, deduplicated, in catalog order.
func (s *Scope) Services() []*discovery.Service {
	seen := map[discovery.ServiceKey]bool{}
	var out []*discovery.Service
	for _, e := range s.Egress {
		for _, svc := range e.Services {
			if !seen[svc.ServiceKey] {
				seen[svc.ServiceKey] = true
				out = append(out, svc)
			}
		}
	}
	return out
}
