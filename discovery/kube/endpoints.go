package kube

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// serviceEndpoints builds the endpoints of one service, one per (ready
// endpoint, TCP service port): from its EndpointSlices, or its external
// name for an ExternalName service.
func (l lookups) serviceEndpoints(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) []*discovery.Endpoint {
	if isExternalName(svc) {
		return l.externalNameEndpoints(svc)
	}
	seen := map[endpointKey]bool{}
	var out []*discovery.Endpoint
	for _, slice := range slices {
		if !servesFamily(svc, slice.AddressType) {
			continue
		}
		for _, ep := range slice.Endpoints {
			if !ready(svc, ep) || len(ep.Addresses) == 0 {
				continue
			}
			w, ok := l.workloadOf(slice.Namespace, ep)
			if !ok {
				continue
			}
			out = l.appendPorts(out, seen, svc, slice.Ports, ep.Addresses[0], w)
		}
	}
	return out
}

// endpointKey identifies an endpoint within a service: an address can be
// listed by two slices while the controller moves it.
type endpointKey struct {
	servicePort uint32
	address     string
}

// appendPorts adds one endpoint at address for every TCP service port the
// slice serves.
func (l lookups) appendPorts(out []*discovery.Endpoint, seen map[endpointKey]bool, svc *corev1.Service,
	ports []discoveryv1.EndpointPort, address string, w workload) []*discovery.Endpoint {
	for _, sp := range svc.Spec.Ports {
		if !proxiedPort(sp) {
			continue
		}
		port, ok := slicePort(ports, sp)
		key := endpointKey{uint32(sp.Port), address}
		if !ok || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, &discovery.Endpoint{
			Address:        address,
			Port:           port,
			ServicePort:    uint32(sp.Port),
			Labels:         w.labels,
			Network:        w.network,
			Locality:       w.locality,
			ServiceAccount: w.serviceAccount,
			Cluster:        l.opts.ClusterID,
		})
	}
	return out
}

// slicePort finds the port a slice gives for a service port: the one of the
// same name (the EndpointSlice controller names them so), else, for a
// numeric targetPort, an unnamed one with that number.
func slicePort(ports []discoveryv1.EndpointPort, sp corev1.ServicePort) (uint32, bool) {
	for _, p := range ports {
		if p.Port != nil && name(p.Name) == sp.Name {
			return uint32(*p.Port), true
		}
	}
	if sp.TargetPort.IntVal == 0 {
		return 0, false
	}
	for _, p := range ports {
		if p.Port != nil && name(p.Name) == "" && *p.Port == sp.TargetPort.IntVal {
			return uint32(*p.Port), true
		}
	}
	return 0, false
}

func name(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ready: the endpoint is ready (unset counts as ready) and not terminating,
// unless the service publishes not-ready addresses.
func ready(svc *corev1.Service, ep discoveryv1.Endpoint) bool {
	c := ep.Conditions
	if c.Ready != nil && !*c.Ready {
		return false
	}
	terminating := c.Terminating != nil && *c.Terminating
	return !terminating || svc.Spec.PublishNotReadyAddresses
}

// servesFamily: slices of the service's primary IP family only (one
// endpoint per pod on dual-stack services); FQDN slices never.
func servesFamily(svc *corev1.Service, t discoveryv1.AddressType) bool {
	if t != discoveryv1.AddressTypeIPv4 && t != discoveryv1.AddressTypeIPv6 {
		return false
	}
	if len(svc.Spec.IPFamilies) == 0 {
		return true
	}
	return string(svc.Spec.IPFamilies[0]) == string(t)
}

// externalNameEndpoints: the external name itself, at each TCP service port.
func (l lookups) externalNameEndpoints(svc *corev1.Service) []*discovery.Endpoint {
	var out []*discovery.Endpoint
	for _, sp := range svc.Spec.Ports {
		if !proxiedPort(sp) {
			continue
		}
		out = append(out, &discovery.Endpoint{
			Address:     svc.Spec.ExternalName,
			Port:        uint32(sp.Port),
			ServicePort: uint32(sp.Port),
			Labels:      maps.Clone(svc.Labels),
			Cluster:     l.opts.ClusterID,
		})
	}
	return out
}
