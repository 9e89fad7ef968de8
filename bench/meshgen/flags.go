package meshgen

import (
	"flag"
	"fmt"
	"strconv"
)

// RegisterFlags binds the mesh shape to command-line flags, with the
// current values as defaults.
func (s *Spec) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&s.Services, "services", s.Services, "number of services (M)")
	fs.IntVar(&s.Namespaces, "namespaces", s.Namespaces, "number of namespaces (K)")
	fs.IntVar(&s.EndpointsPerService, "endpoints", s.EndpointsPerService, "endpoints per service (P)")
	fs.IntVar(&s.Subsets, "subsets", s.Subsets, "DestinationRule subsets per service")
	fs.IntVar(&s.VirtualServicesPerNamespace, "virtual-services", s.VirtualServicesPerNamespace, "80/20 VirtualServices per namespace (-1: one per service)")
	fs.BoolVar(&s.WorkloadEntries, "workload-entries", s.WorkloadEntries, "endpoints as WorkloadEntries instead of inline ServiceEntry endpoints")
	fs.BoolVar(&s.Sidecars, "sidecars", s.Sidecars, "one Sidecar per namespace scoping egress to ./* and istio-system/*")
	fs.Func("port", "HTTP port of every service", func(v string) error { return parsePort(v, &s.Port) })
}

func parsePort(v string, port *uint32) error {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port %q: want 1..65535", v)
	}
	*port = uint32(n)
	return nil
}
