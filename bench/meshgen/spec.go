package meshgen

import (
	"errors"
	"fmt"
)

// AllServices as VirtualServicesPerNamespace gives every service a
// VirtualService.
const AllServices = -1

// maxServices keeps service-derived addresses (10.HI.LO.x, 240.240.HI.LO)
// unique.
const maxServices = 1 << 16

// maxEndpoints keeps endpoint addresses within one /24 per service.
const maxEndpoints = 250

// Spec is the shape of a generated mesh.
type Spec struct {
	Services            int    `json:"services"`   // M, over all namespaces
	Namespaces          int    `json:"namespaces"` // K
	EndpointsPerService int    `json:"endpointsPerService"`
	Subsets             int    `json:"subsets"` // DestinationRule subsets v1..vN
	Port                uint32 `json:"port"`    // the HTTP port of every service
	// VirtualServicesPerNamespace is how many services of each namespace
	// (lowest indices first) get an 80/20 VirtualService; AllServices for all.
	VirtualServicesPerNamespace int `json:"virtualServicesPerNamespace"`
	// WorkloadEntries writes endpoints as WorkloadEntry objects selected by
	// the ServiceEntry instead of inline ServiceEntry endpoints.
	WorkloadEntries bool `json:"workloadEntries"`
	// Sidecars writes one Sidecar per namespace scoping egress to the
	// namespace itself and istio-system.
	Sidecars bool `json:"sidecars"`
	// Kubernetes makes services and endpoints Kubernetes objects (Services,
	// Pods, EndpointSlices; see KubeMesh) instead of ServiceEntries: the
	// files then hold only DestinationRules, VirtualServices and Sidecars.
	Kubernetes bool `json:"kubernetes"`
}

// DefaultSpec is a small mesh: 10 services in 2 namespaces.
func DefaultSpec() Spec {
	return Spec{
		Services:                    10,
		Namespaces:                  2,
		EndpointsPerService:         3,
		Subsets:                     3,
		Port:                        8080,
		VirtualServicesPerNamespace: AllServices,
		Sidecars:                    true,
	}
}

// Validate reports a spec that cannot be generated.
func (s Spec) Validate() error {
	var errs []error
	if s.Services < 1 || s.Services > maxServices {
		errs = append(errs, fmt.Errorf("services %d: want 1..%d", s.Services, maxServices))
	}
	if s.Namespaces < 1 || s.Namespaces > s.Services {
		errs = append(errs, fmt.Errorf("namespaces %d: want 1..services (%d)", s.Namespaces, s.Services))
	}
	if s.EndpointsPerService < 0 || s.EndpointsPerService > maxEndpoints {
		errs = append(errs, fmt.Errorf("endpoints per service %d: want 0..%d", s.EndpointsPerService, maxEndpoints))
	}
	if s.Subsets < 0 {
		errs = append(errs, fmt.Errorf("subsets %d: want 0 or more", s.Subsets))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: want 1..65535", s.Port))
	}
	if s.VirtualServicesPerNamespace != 0 && s.Subsets < 2 {
		errs = append(errs, errors.New("virtual services route 80/20 between subsets v1 and v2: want at least 2 subsets"))
	}
	if s.Kubernetes && s.WorkloadEntries {
		errs = append(errs, errors.New("workload entries: in Kubernetes mode endpoints are pods"))
	}
	return errors.Join(errs...)
}

// NamespaceName is the name of namespace j.
func NamespaceName(j int) string { return fmt.Sprintf("ns-%d", j) }

// NamespaceOf is the namespace index of service i.
func (s Spec) NamespaceOf(i int) int { return i % s.Namespaces }

// ServicesIn lists the indices of the services of namespace j, ascending.
func (s Spec) ServicesIn(j int) []int {
	var out []int
	for i := j; i < s.Services; i += s.Namespaces {
		out = append(out, i)
	}
	return out
}

// hasVirtualService reports whether service i gets a VirtualService: it is
// among the first VirtualServicesPerNamespace services of its namespace.
func (s Spec) hasVirtualService(i int) bool {
	if s.VirtualServicesPerNamespace == AllServices {
		return true
	}
	return i/s.Namespaces < s.VirtualServicesPerNamespace
}
