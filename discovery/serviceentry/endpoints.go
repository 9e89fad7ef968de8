package serviceentry

import (
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// serviceEndpoints lists the endpoints of one service of a ServiceEntry.
// members are the workloads its selector chose (nil without a selector).
func serviceEndpoints(svc *discovery.Service, se *networkingv1alpha3.ServiceEntry, members []*networkingv1alpha3.WorkloadEntry) []*discovery.Endpoint {
	switch {
	case svc.Resolution == discovery.ResolutionNone:
		return nil
	case se.GetWorkloadSelector() != nil:
		return workloadEndpoints(se.GetPorts(), members)
	case len(se.GetEndpoints()) > 0:
		return workloadEndpoints(se.GetPorts(), se.GetEndpoints())
	case isDNS(se.GetResolution()):
		return hostEndpoints(svc.Hostname, se.GetPorts())
	}
	return nil
}

func isDNS(r networkingv1alpha3.ServiceEntry_Resolution) bool {
	return r == networkingv1alpha3.ServiceEntry_DNS || r == networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN
}

// hostEndpoints makes the host itself the endpoint of every port.
func hostEndpoints(host string, ports []*networkingv1alpha3.ServicePort) []*discovery.Endpoint {
	out := make([]*discovery.Endpoint, 0, len(ports))
	for _, p := range ports {
		port := p.GetNumber()
		if p.GetTargetPort() > 0 {
			port = p.GetTargetPort()
		}
		out = append(out, &discovery.Endpoint{Address: host, Port: port, ServicePort: p.GetNumber(), Cluster: RegistryName})
	}
	return out
}

// workloadEndpoints makes one endpoint per (workload, service port).
func workloadEndpoints(ports []*networkingv1alpha3.ServicePort, workloads []*networkingv1alpha3.WorkloadEntry) []*discovery.Endpoint {
	out := make([]*discovery.Endpoint, 0, len(ports)*len(workloads))
	for _, w := range workloads {
		for _, p := range ports {
			out = append(out, workloadEndpoint(p, w))
		}
	}
	return out
}

func workloadEndpoint(p *networkingv1alpha3.ServicePort, w *networkingv1alpha3.WorkloadEntry) *discovery.Endpoint {
	return &discovery.Endpoint{
		Address:        w.GetAddress(),
		Port:           endpointPort(p, w),
		ServicePort:    p.GetNumber(),
		Labels:         cloneLabels(w.GetLabels()),
		Network:        w.GetNetwork(),
		Locality:       locality(w),
		Weight:         w.GetWeight(),
		ServiceAccount: w.GetServiceAccount(),
		Cluster:        RegistryName,
	}
}

// endpointPort picks, in order: 0 for a Unix socket, the workload's port of
// the same name, the service port's targetPort, the service port's number.
func endpointPort(p *networkingv1alpha3.ServicePort, w *networkingv1alpha3.WorkloadEntry) uint32 {
	if strings.HasPrefix(w.GetAddress(), unixPrefix) {
		return 0
	}
	if port := w.GetPorts()[p.GetName()]; port > 0 {
		return port
	}
	if p.GetTargetPort() > 0 {
		return p.GetTargetPort()
	}
	return p.GetNumber()
}

func locality(w *networkingv1alpha3.WorkloadEntry) string {
	if w.GetLocality() != "" {
		return w.GetLocality()
	}
	return strings.ReplaceAll(w.GetLabels()[localityLabel], ".", "/")
}

// workloadsByNamespace returns the WorkloadEntry specs of cfg by namespace,
// each with its object labels overlaid by its spec labels.
func workloadsByNamespace(cfg *policy.Config) map[string][]*networkingv1alpha3.WorkloadEntry {
	out := map[string][]*networkingv1alpha3.WorkloadEntry{}
	for _, o := range cfg.List(policy.KindWorkloadEntry) {
		we, ok := o.Spec.(*networkingv1alpha3.WorkloadEntry)
		if !ok || we == nil {
			continue
		}
		out[o.Namespace] = append(out[o.Namespace], withObjectLabels(we, o.Labels))
	}
	return out
}

// withObjectLabels returns a copy of we whose labels are the object's labels
// overlaid by the spec's; we itself is left untouched.
func withObjectLabels(we *networkingv1alpha3.WorkloadEntry, objectLabels map[string]string) *networkingv1alpha3.WorkloadEntry {
	if len(objectLabels) == 0 {
		return we
	}
	merged := cloneLabels(objectLabels)
	for k, v := range we.GetLabels() {
		merged[k] = v
	}
	return &networkingv1alpha3.WorkloadEntry{
		Address:        we.GetAddress(),
		Ports:          we.GetPorts(),
		Labels:         merged,
		Network:        we.GetNetwork(),
		Locality:       we.GetLocality(),
		Weight:         we.GetWeight(),
		ServiceAccount: we.GetServiceAccount(),
	}
}

// selectWorkloads returns the workloads of the namespace that the
// ServiceEntry's selector matches; nil when it has no selector.
func selectWorkloads(se *networkingv1alpha3.ServiceEntry, workloads []*networkingv1alpha3.WorkloadEntry) []*networkingv1alpha3.WorkloadEntry {
	sel := se.GetWorkloadSelector()
	if sel == nil {
		return nil
	}
	var out []*networkingv1alpha3.WorkloadEntry
	for _, w := range workloads {
		if matches(sel.GetLabels(), w.GetLabels()) {
			out = append(out, w)
		}
	}
	return out
}

// matches reports whether every selector label is present with its value.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
