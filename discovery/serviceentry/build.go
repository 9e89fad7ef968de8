package serviceentry

import (
	"net/netip"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// RegistryName names the file registry in Service.Registry and Endpoint.Cluster.
const RegistryName = "file"

// unixPrefix marks a Unix domain socket address.
const unixPrefix = "unix://"

// localityLabel carries a workload's locality when spec.locality is empty.
const localityLabel = "istio-locality"

// Build turns the ServiceEntry and WorkloadEntry objects of cfg into a Catalog.
func Build(cfg *policy.Config) *discovery.Catalog {
	workloads := workloadsByNamespace(cfg)
	var services []*discovery.Service
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{}
	for _, o := range cfg.List(policy.KindServiceEntry) {
		se, ok := o.Spec.(*networkingv1alpha3.ServiceEntry)
		if !ok || se == nil {
			continue
		}
		members := selectWorkloads(se, workloads[o.Namespace])
		for _, svc := range convertServices(o, se) {
			if _, dup := endpoints[svc.ServiceKey]; dup {
				continue // an earlier ServiceEntry defined this host here
			}
			services = append(services, svc)
			endpoints[svc.ServiceKey] = serviceEndpoints(svc, se, members)
		}
	}
	return discovery.NewCatalog(services, endpoints)
}

// convertServices makes one service per host of the ServiceEntry.
func convertServices(o *policy.Object, se *networkingv1alpha3.ServiceEntry) []*discovery.Service {
	out := make([]*discovery.Service, 0, len(se.GetHosts()))
	for _, host := range se.GetHosts() {
		out = append(out, &discovery.Service{
			ServiceKey: discovery.ServiceKey{Hostname: host, Namespace: o.Namespace},
			Addresses:  convertAddresses(se.GetAddresses()),
			Ports:      convertPorts(se.GetPorts()),
			Resolution: convertResolution(se.GetResolution()),
			Location:   convertLocation(se.GetLocation()),
			ExportTo:   cloneStrings(se.GetExportTo()),
			Labels:     cloneLabels(o.Labels),
			Registry:   RegistryName,
		})
	}
	return out
}

// convertAddresses keeps IPs and CIDRs, writing a single-address CIDR as
// a plain IP; anything else is dropped, as Istio does.
func convertAddresses(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, ip.String())
		} else if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, prefixString(p))
		}
	}
	return out
}

func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func convertPorts(ports []*networkingv1alpha3.ServicePort) []discovery.Port {
	out := make([]discovery.Port, 0, len(ports))
	for _, p := range ports {
		out = append(out, discovery.Port{
			Name:     p.GetName(),
			Number:   p.GetNumber(),
			Protocol: discovery.ParseProtocol(p.GetProtocol()),
		})
	}
	return out
}

// convertResolution maps the ServiceEntry resolution. DYNAMIC_DNS is read
// as DNS: the proxy resolves names itself.
func convertResolution(r networkingv1alpha3.ServiceEntry_Resolution) discovery.Resolution {
	switch r {
	case networkingv1alpha3.ServiceEntry_STATIC:
		return discovery.ResolutionStatic
	case networkingv1alpha3.ServiceEntry_DNS, networkingv1alpha3.ServiceEntry_DYNAMIC_DNS:
		return discovery.ResolutionDNS
	case networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN:
		return discovery.ResolutionDNSRoundRobin
	default:
		return discovery.ResolutionNone
	}
}

func convertLocation(l networkingv1alpha3.ServiceEntry_Location) discovery.Location {
	if l == networkingv1alpha3.ServiceEntry_MESH_INTERNAL {
		return discovery.MeshInternal
	}
	return discovery.MeshExternal
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
