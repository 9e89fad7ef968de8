package policy

import (
	security "istio.io/api/security/v1beta1"
)

// MTLSMode is how a workload accepts inbound connections, as
// PeerAuthentication's mtls.mode names it.
type MTLSMode int

// mTLS modes. MTLSUnset inherits the mode of the level above it.
const (
	MTLSUnset MTLSMode = iota
	MTLSDisable
	MTLSPermissive
	MTLSStrict
)

func (m MTLSMode) String() string {
	switch m {
	case MTLSDisable:
		return "DISABLE"
	case MTLSPermissive:
		return "PERMISSIVE"
	case MTLSStrict:
		return "STRICT"
	}
	return "UNSET"
}

func mtlsModeOf(m *security.PeerAuthentication_MutualTLS) MTLSMode {
	switch m.GetMode() {
	case security.PeerAuthentication_MutualTLS_DISABLE:
		return MTLSDisable
	case security.PeerAuthentication_MutualTLS_PERMISSIVE:
		return MTLSPermissive
	case security.PeerAuthentication_MutualTLS_STRICT:
		return MTLSStrict
	}
	return MTLSUnset
}

// inherit is m, or parent when m is unset.
func (m MTLSMode) inherit(parent MTLSMode) MTLSMode {
	if m == MTLSUnset {
		return parent
	}
	return m
}

// WorkloadMTLS is the mTLS a workload accepts: a mode for the workload and
// the modes of ports that differ from it.
type WorkloadMTLS struct {
	Mode  MTLSMode
	Ports map[uint32]MTLSMode // by workload (target) port
}

// ForPort is the mode of one workload port.
func (w WorkloadMTLS) ForPort(port uint32) MTLSMode {
	if m, ok := w.Ports[port]; ok {
		return m
	}
	return w.Mode
}

// PeerMTLS resolves the PeerAuthentications of cfg that apply to a workload
// in namespace ns with labels, as Istio does: a policy with a selector in
// the workload's namespace, then the namespace's policy without selector,
// then the mesh-wide one (root namespace, no selector); an unset mode
// inherits from the next level, and the mesh default is PERMISSIVE.
// Port-level modes of the selecting policy override its mode for those
// ports. Where several policies compete at one level the first by name
// wins (Istio takes the oldest; files carry no creation time).
func PeerMTLS(cfg *Config, ns string, labels map[string]string) WorkloadMTLS {
	var mesh, namespace, workload *security.PeerAuthentication
	// List is sorted by namespace, then name: within each level the first
	// policy met is the first by name.
	for _, o := range cfg.List(KindPeerAuthentication) {
		pa := o.Spec.(*security.PeerAuthentication)
		selector := pa.GetSelector().GetMatchLabels()
		switch {
		case o.Namespace != ns && o.Namespace != RootNamespace:
		case len(selector) > 0:
			if o.Namespace == ns && workload == nil && SelectorMatches(selector, labels) {
				workload = pa
			}
		case o.Namespace == ns && namespace == nil:
			namespace = pa
		case o.Namespace == RootNamespace && mesh == nil:
			mesh = pa
		}
	}
	mode := mtlsModeOf(mesh.GetMtls()).inherit(MTLSPermissive)
	mode = mtlsModeOf(namespace.GetMtls()).inherit(mode)
	out := WorkloadMTLS{Mode: mtlsModeOf(workload.GetMtls()).inherit(mode)}
	for port, m := range workload.GetPortLevelMtls() {
		if pm := mtlsModeOf(m).inherit(out.Mode); pm != out.Mode {
			if out.Ports == nil {
				out.Ports = map[uint32]MTLSMode{}
			}
			out.Ports[port] = pm
		}
	}
	return out
}

// SelectorMatches reports whether labels carry every key and value of
// selector; an empty selector matches everything.
func SelectorMatches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
