package translate

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// routeView is what routes ask of the proxy they are built for. Routes see
// the proxy through it alone (routeContext has no proxy), so the answers
// are everything a route depends on of its proxy: a trace of them (see
// tracedView) tells whether routes built for one proxy hold for another.
type routeView interface {
	// serviceFor is the service the proxy means by hostname.
	serviceFor(hostname string) *discovery.Service
	// destinationRule is the DestinationRule that applies to svc from the
	// proxy's namespace.
	destinationRule(svc *discovery.Service) *DestinationRuleRef
	// virtualServices are those for hostname that the proxy's egress
	// listener imports, most specific host first.
	virtualServices(hostname string) []*VirtualServiceRef
	// fromSource reports whether the proxy matches a source selector: its
	// labels and namespace ("" for any).
	fromSource(labels map[string]string, namespace string) bool
	// withEgress is the view for the routes of another egress listener.
	withEgress(l *networking.IstioEgressListener) routeView
}

// proxyView answers for a proxy through an index.
type proxyView struct {
	idx       *Index
	namespace string
	labels    map[string]string
	// egress is the Sidecar egress listener the routes are for; nil for the
	// implicit catch-all, which imports every VirtualService.
	egress *networking.IstioEgressListener
}

func newProxyView(idx *Index, p *model.Proxy) *proxyView {
	return &proxyView{idx: idx, namespace: p.Namespace, labels: p.Labels}
}

// on is v answering through idx.
func (v *proxyView) on(idx *Index) *proxyView {
	out := *v
	out.idx = idx
	return &out
}

func (v *proxyView) serviceFor(hostname string) *discovery.Service {
	return serviceForHost(v.idx, v.namespace, hostname)
}

func (v *proxyView) destinationRule(svc *discovery.Service) *DestinationRuleRef {
	return v.idx.DestinationRule(v.namespace, svc)
}

func (v *proxyView) virtualServices(hostname string) []*VirtualServiceRef {
	vss := virtualServicesFor(v.idx, v.namespace, hostname)
	if v.egress == nil {
		return vss
	}
	var out []*VirtualServiceRef
	for _, vs := range vss {
		if egressImports(v.egress.GetHosts(), v.namespace, vs) {
			out = append(out, vs)
		}
	}
	return out
}

func (v *proxyView) fromSource(labels map[string]string, namespace string) bool {
	return labelsMatch(labels, v.labels) && (namespace == "" || namespace == v.namespace)
}

func (v *proxyView) withEgress(l *networking.IstioEgressListener) routeView {
	out := *v
	out.egress = l
	return &out
}

// routeQuery is one question a build asked its routeView, with the answer
// it got, in terms that stay the same across snapshots (keys, not objects).
type routeQuery struct {
	question string // what was asked, for people (see Explain)
	ask      func(routeView) string
	answer   string
}

// Questions whose answers Explain reports.
const (
	questionVirtualServices = "virtual services of "
	questionDestinationRule = "destination rule of "
)

// tracedView answers as inner does and records each question and answer.
type tracedView struct {
	inner routeView
	trace []routeQuery
}

func (t *tracedView) record(question string, ask func(routeView) string) string {
	answer := ask(t.inner)
	t.trace = append(t.trace, routeQuery{question: question, ask: ask, answer: answer})
	return answer
}

func (t *tracedView) serviceFor(hostname string) *discovery.Service {
	svc := t.inner.serviceFor(hostname)
	t.record("service "+hostname, func(v routeView) string { return serviceAnswer(v.serviceFor(hostname)) })
	return svc
}

func (t *tracedView) destinationRule(svc *discovery.Service) *DestinationRuleRef {
	rule := t.inner.destinationRule(svc)
	t.record(questionDestinationRule+svc.Hostname, func(v routeView) string { return ruleAnswer(v.destinationRule(svc)) })
	return rule
}

func (t *tracedView) virtualServices(hostname string) []*VirtualServiceRef {
	vss := t.inner.virtualServices(hostname)
	t.record(questionVirtualServices+hostname, func(v routeView) string { return virtualServicesAnswer(v.virtualServices(hostname)) })
	return vss
}

func (t *tracedView) fromSource(labels map[string]string, namespace string) bool {
	return t.record("source "+encodeLabels(labels)+" "+namespace, func(v routeView) string {
		if v.fromSource(labels, namespace) {
			return "yes"
		}
		return "no"
	}) == "yes"
}

func (t *tracedView) withEgress(l *networking.IstioEgressListener) routeView {
	panic("translate: routes of a service are built for one egress listener")
}

// holds reports whether every question of trace gets the same answer from
// v: what was built with the trace is then what v would build.
func holds(trace []routeQuery, v routeView) bool {
	for _, q := range trace {
		if q.ask(v) != q.answer {
			return false
		}
	}
	return true
}

func serviceAnswer(svc *discovery.Service) string {
	if svc == nil {
		return ""
	}
	return svc.Namespace + "/" + svc.Hostname
}

func ruleAnswer(rule *DestinationRuleRef) string {
	if rule == nil {
		return ""
	}
	return rule.Object.Namespace + "/" + rule.Object.Name
}

func virtualServicesAnswer(vss []*VirtualServiceRef) string {
	names := make([]string, len(vss))
	for i, vs := range vss {
		names[i] = vs.Object.Namespace + "/" + vs.Object.Name
	}
	return strings.Join(names, ",")
}
