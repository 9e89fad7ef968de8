package meshgen

import (
	"fmt"
	"path"
)

// Service is one generated service in its current state. A load generator
// changes a service with its setters and rewrites File with YAML.
type Service struct {
	Index           int
	Name            string // svc-I
	Namespace       string // ns-J
	Host            string // svc-I.ns-J.svc.cluster.local
	VIP             string
	Port            uint32
	Subsets         int
	WorkloadEntries bool
	// Kubernetes: the service and its endpoints live in an API server
	// (KubeMesh); YAML leaves out the ServiceEntry and WorkloadEntries.
	Kubernetes bool
	Endpoints  []Endpoint
	// Weights are the VirtualService weights of subsets v1 and v2; nil when
	// the service has no VirtualService.
	Weights []int
}

// Endpoint is one workload of a service.
type Endpoint struct {
	Name    string // svc-I-P, the WorkloadEntry name
	Address string
	Version string // the "version" label, which subsets select
}

// Service returns service i of the mesh in its initial state.
func (s Spec) Service(i int) *Service {
	ns := NamespaceName(s.NamespaceOf(i))
	name := fmt.Sprintf("svc-%d", i)
	svc := &Service{
		Index:           i,
		Name:            name,
		Namespace:       ns,
		Host:            fmt.Sprintf("%s.%s.svc.cluster.local", name, ns),
		VIP:             fmt.Sprintf("240.240.%d.%d", i>>8&255, i&255),
		Port:            s.Port,
		Subsets:         s.Subsets,
		WorkloadEntries: s.WorkloadEntries,
		Kubernetes:      s.Kubernetes,
	}
	svc.Endpoints = endpoints(i, s.EndpointsPerService, s.Subsets, 0)
	if s.hasVirtualService(i) {
		svc.Weights = []int{80, 20}
	}
	return svc
}

// endpoints makes n endpoints of service i at generation gen. Each
// generation replaces the last endpoint, as a restarted pod comes back with
// a new address; the others keep theirs. Versions never change.
func endpoints(i, n, subsets, gen int) []Endpoint {
	out := make([]Endpoint, n)
	for p := range out {
		addr := EndpointAddress(i, p)
		if p == n-1 {
			addr = ReplacedEndpointAddress(i, n, gen)
		}
		out[p] = Endpoint{
			Name:    fmt.Sprintf("svc-%d-%d", i, p),
			Address: addr,
			Version: VersionLabel(p, subsets),
		}
	}
	return out
}

// ReplacedEndpointAddress is the address of the last of the n endpoints of
// service i at generation gen.
func ReplacedEndpointAddress(i, n, gen int) string {
	last := n - 1
	return EndpointAddress(i, last+gen%(maxEndpoints-last))
}

// EndpointAddress is the address of endpoint slot k of service i:
// 10.HI.LO.(1 + k mod 250), where HI.LO is the service index.
func EndpointAddress(i, k int) string {
	return fmt.Sprintf("10.%d.%d.%d", i>>8&255, i&255, 1+k%maxEndpoints)
}

// VersionLabel is the version of endpoint p: v1, v2, ... round robin over
// the subsets (v1 when there are none).
func VersionLabel(p, subsets int) string {
	if subsets < 1 {
		return "v1"
	}
	return fmt.Sprintf("v%d", p%subsets+1)
}

// SubsetName is the name of subset k (0-based): v1, v2, ...
func SubsetName(k int) string { return fmt.Sprintf("v%d", k+1) }

// File is the path of the service's file, relative to the mesh directory.
func (svc *Service) File() string {
	return path.Join(svc.Namespace, svc.Name+".yaml")
}

// SetEndpointGeneration gives the last endpoint the address of generation
// gen (0 is the initial state); successive generations give distinct
// addresses for 250-P+1 generations, then repeat.
func (svc *Service) SetEndpointGeneration(gen int) {
	svc.Endpoints = endpoints(svc.Index, len(svc.Endpoints), svc.Subsets, gen)
}

// SetWeights sets the VirtualService weights of v1 and v2 (which must sum
// to 100), giving the service a VirtualService if it had none.
func (svc *Service) SetWeights(v1, v2 int) {
	svc.Weights = []int{v1, v2}
}

// ServiceAccount is the service account of the service's workloads.
func (svc *Service) ServiceAccount() string { return svc.Name }

// Labels are the labels of the service's workloads of one version.
func (svc *Service) Labels(version string) map[string]string {
	return map[string]string{"app": svc.Name, "version": version}
}

// EndpointLabels are the labels of an endpoint of version: its workload's,
// and the mark of a workload with a sidecar, as Istio's injection adds it
// (so clients speak mTLS to it).
func (svc *Service) EndpointLabels(version string) map[string]string {
	labels := svc.Labels(version)
	labels[SidecarLabel] = "istio"
	return labels
}

// SidecarLabel marks a workload that runs a sidecar.
const SidecarLabel = "security.istio.io/tlsMode"
