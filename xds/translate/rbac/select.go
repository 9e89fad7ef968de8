package rbac

import (
	security "istio.io/api/security/v1beta1"

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
	var out []*policy.Object
	for _, o := range cfg.List(policy.KindAuthorizationPolicy) {
		ap, ok := o.Spec.(*security.AuthorizationPolicy)
		if ok && appliesTo(o.Namespace, ap, ns, labels) {
			out = append(out, o)
		}
	}
	return out
}

func appliesTo(policyNS string, ap *security.AuthorizationPolicy, ns string, labels map[string]string) bool {
	if ap.GetTargetRef() != nil || len(ap.GetTargetRefs()) > 0 {
		return false
	}
	if policyNS != ns && policyNS != policy.RootNamespace {
		return false
	}
	return policy.SelectorMatches(ap.GetSelector().GetMatchLabels(), labels)
}
