package policy

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// unixPrefix marks a unix domain socket address.
const unixPrefix = "unix://"

func (c *checker) serviceEntry(se *networking.ServiceEntry) {
	if se.GetWorkloadSelector() != nil {
		c.selectorLabels("spec.workloadSelector.labels", se.GetWorkloadSelector().GetLabels())
		if se.GetEndpoints() != nil {
			c.add("spec.endpoints", "only one of workloadSelector and endpoints can be set")
		}
	}
	c.serviceEntryHosts(se)
	c.serviceEntryAddresses(se)
	portNames := c.servicePorts(se)
	c.serviceEntryResolution(se, portNames)
	c.exportTo("spec.exportTo", se.GetExportTo(), true)
}

func (c *checker) serviceEntryHosts(se *networking.ServiceEntry) {
	if len(se.GetHosts()) == 0 {
		c.add("spec.hosts", "at least one host is required")
	}
	for i, h := range se.GetHosts() {
		p := index("spec.hosts", i)
		if h == "*" {
			c.add(p, "host cannot be *")
			continue
		}
		c.check(p, checkWildcardHost(h))
	}
	if se.GetResolution() == networking.ServiceEntry_NONE || len(se.GetHosts()) < 2 {
		return
	}
	for i, port := range se.GetPorts() {
		if proto := port.GetProtocol(); !isHTTPProtocol(proto) && !isTLSProtocol(proto) {
			c.add(index("spec.ports", i), "several hosts need HTTP or TLS ports (plain TCP cannot tell them apart) unless resolution is NONE")
			return
		}
	}
}

func (c *checker) serviceEntryAddresses(se *networking.ServiceEntry) {
	for i, a := range se.GetAddresses() {
		c.check(index("spec.addresses", i), checkIPOrCIDR(a))
		if strings.Contains(a, "/") {
			if r := se.GetResolution(); r != networking.ServiceEntry_NONE && r != networking.ServiceEntry_STATIC {
				c.add(index("spec.addresses", i), "CIDR addresses need resolution NONE or STATIC")
			}
		}
	}
}

// servicePorts checks the ports and returns their names.
func (c *checker) servicePorts(se *networking.ServiceEntry) map[string]bool {
	names := map[string]bool{}
	numbers := map[uint32]bool{}
	for i, port := range se.GetPorts() {
		p := index("spec.ports", i)
		if port == nil {
			c.add(p, "port must not be null")
			continue
		}
		if names[port.GetName()] {
			c.add(field(p, "name"), "duplicate port name %q", port.GetName())
		}
		if numbers[port.GetNumber()] {
			c.add(field(p, "number"), "duplicate port number %d", port.GetNumber())
		}
		names[port.GetName()], numbers[port.GetNumber()] = true, true
		c.check(field(p, "name"), checkPortName(port.GetName()))
		c.check(field(p, "protocol"), checkProtocol(port.GetProtocol()))
		c.check(field(p, "number"), checkPort(int64(port.GetNumber())))
		if port.GetTargetPort() != 0 {
			c.check(field(p, "targetPort"), checkPort(int64(port.GetTargetPort())))
		}
	}
	return names
}

func (c *checker) serviceEntryResolution(se *networking.ServiceEntry, portNames map[string]bool) {
	switch se.GetResolution() {
	case networking.ServiceEntry_NONE:
		if len(se.GetEndpoints()) > 0 {
			c.add("spec.endpoints", "resolution NONE cannot have endpoints")
		}
	case networking.ServiceEntry_STATIC:
		for i, ep := range se.GetEndpoints() {
			c.serviceEndpoint(index("spec.endpoints", i), ep, workloadEntryRules{servicePorts: portNames})
		}
	case networking.ServiceEntry_DNS, networking.ServiceEntry_DNS_ROUND_ROBIN:
		c.dnsResolution(se, portNames)
	default:
		c.add("spec.resolution", "unsupported resolution %v", se.GetResolution())
	}
}

func (c *checker) dnsResolution(se *networking.ServiceEntry, portNames map[string]bool) {
	if len(se.GetEndpoints()) == 0 {
		for i, h := range se.GetHosts() {
			if checkFQDN(h) != nil {
				c.add(index("spec.hosts", i), "with resolution %v and no endpoints, hosts must be DNS names (no wildcards)", se.GetResolution())
			}
		}
	}
	if se.GetResolution() == networking.ServiceEntry_DNS_ROUND_ROBIN && len(se.GetEndpoints()) > 1 {
		c.add("spec.endpoints", "resolution DNS_ROUND_ROBIN allows at most one endpoint")
	}
	for i, ep := range se.GetEndpoints() {
		c.serviceEndpoint(index("spec.endpoints", i), ep, workloadEntryRules{servicePorts: portNames, allowHostname: true})
	}
}

func (c *checker) serviceEndpoint(p string, ep *networking.WorkloadEntry, rules workloadEntryRules) {
	if ep == nil {
		c.add(p, "endpoint must not be null")
		return
	}
	c.workloadEntry(p, ep, rules)
}

// workloadEntryRules says what a workload entry may hold where it appears.
type workloadEntryRules struct {
	servicePorts  map[string]bool // when set, endpoint port names must be among them
	allowHostname bool            // the address may be a DNS name, not only an IP
}

// workloadEntry checks a WorkloadEntry spec or a ServiceEntry endpoint.
func (c *checker) workloadEntry(p string, we *networking.WorkloadEntry, rules workloadEntryRules) {
	addr := we.GetAddress()
	switch {
	case addr == "" && we.GetNetwork() == "":
		c.add(field(p, "address"), "address is required")
	case strings.HasPrefix(addr, unixPrefix):
		c.check(field(p, "address"), checkUnixPath(strings.TrimPrefix(addr, unixPrefix)))
		if len(we.GetPorts()) > 0 {
			c.add(field(p, "ports"), "a unix socket endpoint cannot have ports")
		}
		if rules.servicePorts != nil && len(rules.servicePorts) != 1 {
			c.add(field(p, "address"), "a unix socket endpoint needs exactly one service port")
		}
	case addr == "" || isIP(addr):
	case !rules.allowHostname:
		c.add(field(p, "address"), "address %q is not an IP address (resolution STATIC)", addr)
	case checkFQDN(addr) != nil:
		c.add(field(p, "address"), "address %q is neither an IP address nor a DNS name", addr)
	}
	for _, name := range sortedMapKeys(we.GetPorts()) {
		pp := mapKey(field(p, "ports"), name)
		if rules.servicePorts != nil && !rules.servicePorts[name] {
			c.add(pp, "port name %q is not a port of the ServiceEntry", name)
		}
		c.check(pp, checkPortName(name))
		c.check(pp, checkPort(int64(we.GetPorts()[name])))
	}
	c.labels(field(p, "labels"), we.GetLabels())
}
