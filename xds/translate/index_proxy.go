package translate

import (
	"slices"

	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// workloadEndpoint is one endpoint of a service, found by its address.
type workloadEndpoint struct {
	order    int // position in catalog order: services, then their endpoints
	service  *discovery.Service
	endpoint *discovery.Endpoint
}

// workloadsByAddress indexes every endpoint of the catalog by address, so a
// proxy's inbound side is found without scanning every endpoint.
func workloadsByAddress(cat *discovery.Catalog) map[string][]workloadEndpoint {
	out := map[string][]workloadEndpoint{}
	order := 0
	for _, svc := range cat.Services() {
		for _, ep := range cat.AllEndpoints(svc.ServiceKey) {
			out[ep.Address] = append(out[ep.Address], workloadEndpoint{order: order, service: svc, endpoint: ep})
			order++
		}
	}
	return out
}

// workloadEndpoints returns the endpoints whose address is one of addresses,
// in catalog order (services by hostname and namespace, then their
// endpoints), each once.
func (idx *Index) workloadEndpoints(addresses []string) []workloadEndpoint {
	if len(addresses) == 1 {
		return idx.tables.workloads[addresses[0]]
	}
	var out []workloadEndpoint
	for i, a := range addresses {
		if !slices.Contains(addresses[:i], a) {
			out = append(out, idx.tables.workloads[a]...)
		}
	}
	slices.SortFunc(out, func(a, b workloadEndpoint) int { return a.order - b.order })
	return out
}

// sourceSelector is a label selector a VirtualService matches client
// proxies by (sourceLabels of an http, tcp or tls match).
type sourceSelector struct {
	vs     *VirtualServiceRef
	labels map[string]string
}

// sourceLabelsOf lists the non-empty sourceLabels of a VirtualService's
// http, tcp and tls matches.
func sourceLabelsOf(vs *networking.VirtualService) []map[string]string {
	var out []map[string]string
	add := func(labels map[string]string) {
		if len(labels) > 0 {
			out = append(out, labels)
		}
	}
	for _, r := range vs.GetHttp() {
		for _, m := range r.GetMatch() {
			add(m.GetSourceLabels())
		}
	}
	for _, r := range vs.GetTcp() {
		for _, m := range r.GetMatch() {
			add(m.GetSourceLabels())
		}
	}
	for _, r := range vs.GetTls() {
		for _, m := range r.GetMatch() {
			add(m.GetSourceLabels())
		}
	}
	return out
}

// workloadSelected is a policy that applies to the workloads its selector
// matches (PeerAuthentication, AuthorizationPolicy, RequestAuthentication,
// Telemetry).
type workloadSelected interface {
	GetSelector() *typev1beta1.WorkloadSelector
}

// anyNamespace keys, in workloadSelectorsByNamespace, the selectors that
// pick workloads of every namespace: those of Gateways, which apply to the
// gateway proxies they select wherever these run. No namespace has this name.
const anyNamespace = "*"

// workloadSelectorsByNamespace lists, by namespace, the label selectors
// with which policies pick the workloads they apply to (Gateway selectors
// under anyNamespace). Translation may not read all of them yet; they are
// listed so that a proxy's view (see outboundView) tells apart every
// workload such a policy can.
func workloadSelectorsByNamespace(cfg *policy.Config) map[string][]map[string]string {
	out := map[string][]map[string]string{}
	var objs []*policy.Object
	for _, kind := range []policy.Kind{policy.KindPeerAuthentication, policy.KindAuthorizationPolicy,
		policy.KindRequestAuthentication, policy.KindTelemetry, policy.KindDestinationRule, policy.KindGateway} {
		objs = append(objs, cfg.List(kind)...)
	}
	for _, o := range objs {
		ns := o.Namespace
		var labels map[string]string
		switch spec := o.Spec.(type) {
		case workloadSelected:
			labels = spec.GetSelector().GetMatchLabels()
		case *networking.DestinationRule:
			labels = spec.GetWorkloadSelector().GetMatchLabels()
		case *networking.Gateway:
			labels, ns = spec.GetSelector(), anyNamespace
		}
		if len(labels) > 0 {
			out[ns] = append(out[ns], labels)
		}
	}
	return out
}

// relevantLabels returns the part of labels that translation for a proxy
// in namespace ns can tell apart: the union of the selectors that labels
// match among the sourceLabels of VirtualServices visible from ns, the
// workload selectors of policies in ns and the root namespace, and the
// selectors of Gateways in any namespace. Every such
// selector matches the result exactly when it matches labels, since the
// result is a subset of labels containing each matching selector. Nil when
// no selector matches.
func (idx *Index) relevantLabels(ns string, labels map[string]string) map[string]string {
	var out map[string]string
	add := func(selector map[string]string) {
		if !labelsMatch(selector, labels) {
			return
		}
		if out == nil {
			out = map[string]string{}
		}
		for k, v := range selector {
			out[k] = v
		}
	}
	for _, s := range idx.tables.sourceSelectors {
		if exportedTo(s.vs.Spec.GetExportTo(), s.vs.Object.Namespace, ns) {
			add(s.labels)
		}
	}
	for _, selector := range idx.tables.workloadSelectors[ns] {
		add(selector)
	}
	if ns != policy.RootNamespace {
		for _, selector := range idx.tables.workloadSelectors[policy.RootNamespace] {
			add(selector)
		}
	}
	for _, selector := range idx.tables.workloadSelectors[anyNamespace] {
		add(selector)
	}
	return out
}

// SidecarFor returns the Sidecar that applies to p: one in p's namespace whose
// workloadSelector matches p's labels, else the namespace's selector-less one,
// else the root namespace's selector-less one. Gateways have none, as in
// Istio.
func (idx *Index) SidecarFor(p *model.Proxy) *policy.Object {
	if p.Type == model.RouterProxy {
		return nil // Sidecar resources do not apply to gateways
	}
	var nsDefault *policy.Object
	for _, o := range idx.tables.sidecars[p.Namespace] {
		sel := o.Spec.(*networking.Sidecar).GetWorkloadSelector()
		switch {
		case sel == nil && nsDefault == nil:
			nsDefault = o
		case sel != nil && labelsMatch(sel.GetLabels(), p.Labels):
			return o
		}
	}
	if nsDefault != nil {
		return nsDefault
	}
	for _, o := range idx.tables.sidecars[policy.RootNamespace] {
		if o.Spec.(*networking.Sidecar).GetWorkloadSelector() == nil {
			return o
		}
	}
	return nil
}
