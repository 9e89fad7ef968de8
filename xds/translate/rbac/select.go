package rbac

import (
	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// For returns the AuthorizationPolicies of cfg that apply to a sidecar
// workload in namespace ns with labels, as Istio selects them: a policy in
// the workload's namespace or in the root namespace (policy.RootNamespace)
// applies when it has no selector or its selector's matchLabels are all
// among labels; a root-namespace selector matches workloads of every
// namespace. Policies with targetRef or targetRefs attach to gateways and
// waypoints, never to sidecars, and are left out. The result is sorted by
// namespace, then name.
func For(cfg *policy.Config, ns string, labels map[string]string) []*policy.Object {
	return selectFor(cfg, policy.KindAuthorizationPolicy, ns, labels)
}

// RequestAuthenticationsFor returns the RequestAuthentications of cfg that
// apply to a sidecar workload in namespace ns with labels, selected as For
// selects AuthorizationPolicies. Every one applies: Istio merges the JWT
// rules of all of them. The result is sorted by namespace, then name.
func RequestAuthenticationsFor(cfg *policy.Config, ns string, labels map[string]string) []*policy.Object {
	return selectFor(cfg, policy.KindRequestAuthentication, ns, labels)
}

// workloadPolicy is what selection reads of AuthorizationPolicy and
// RequestAuthentication.
type workloadPolicy interface {
	GetSelector() *typev1beta1.WorkloadSelector
	GetTargetRef() *typev1beta1.PolicyTargetReference
	GetTargetRefs() []*typev1beta1.PolicyTargetReference
}

var (
	_ workloadPolicy = (*security.AuthorizationPolicy)(nil)
	_ workloadPolicy = (*security.RequestAuthentication)(nil)
)

func selectFor(cfg *policy.Config, kind policy.Kind, ns string, labels map[string]string) []*policy.Object {
	var out []*policy.Object
	for _, o := range cfg.List(kind) {
		p, ok := o.Spec.(workloadPolicy)
		if ok && appliesTo(o.Namespace, p, ns, labels) {
			out = append(out, o)
		}
	}
	return out
}

func appliesTo(policyNS string, p workloadPolicy, ns string, labels map[string]string) bool {
	if p.GetTargetRef() != nil || len(p.GetTargetRefs()) > 0 {
		return false
	}
	if policyNS != ns && policyNS != policy.RootNamespace {
		return false
	}
	return policy.SelectorMatches(p.GetSelector().GetMatchLabels(), labels)
}
