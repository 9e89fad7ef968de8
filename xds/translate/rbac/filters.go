package rbac

import (
	"fmt"
	"log/slog"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	security "istio.io/api/security/v1beta1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// Names and prefixes of the generated configuration, as Istio's.
const (
	// TCPStatPrefix prefixes the statistics of network RBAC filters.
	TCPStatPrefix = "tcp."
	// DryRunAnnotation set to "true" evaluates a policy without enforcing it.
	DryRunAnnotation = "istio.io/dry-run"
	// CustomPolicyPrefix starts the RBAC policy names of CUSTOM policies.
	CustomPolicyPrefix = "istio-ext-authz-"
)

// group is the RBAC filter of one Istio action.
type group struct {
	action       security.AuthorizationPolicy_Action
	rbacAction   rbacv3.RBAC_Action
	namePrefix   string
	shadowPrefix string // stat prefix of dry-run (shadow) rules
}

// groups are in the order Envoy runs them: CUSTOM first (Istio evaluates it
// before the others), AUDIT (so denied requests are audited too), DENY, ALLOW.
// CUSTOM has no external authorizer in Isthmus: its rules deny (fail closed).
var groups = []group{
	{security.AuthorizationPolicy_CUSTOM, rbacv3.RBAC_DENY, CustomPolicyPrefix, ""},
	{security.AuthorizationPolicy_AUDIT, rbacv3.RBAC_LOG, "", ""},
	{security.AuthorizationPolicy_DENY, rbacv3.RBAC_DENY, "", "istio_dry_run_deny_"},
	{security.AuthorizationPolicy_ALLOW, rbacv3.RBAC_ALLOW, "", "istio_dry_run_allow_"},
}

// ruleSet is the configuration of one RBAC filter.
type ruleSet struct {
	enforce      *rbacv3.RBAC // nil when every policy of the action is a dry run
	shadow       *rbacv3.RBAC // dry-run policies, evaluated and logged only
	shadowPrefix string
}

// HTTPFilters returns the envoy.filters.http.rbac filters enforcing
// policies on HTTP requests, in the order they must run (before the
// router). Nil when no policy applies.
func HTTPFilters(policies []*policy.Object, trustDomain string) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	for _, rs := range ruleSets(policies, trustDomain, false) {
		cfg := &rbachttpv3.RBAC{Rules: rs.enforce, ShadowRules: rs.shadow, ShadowRulesStatPrefix: rs.shadowPrefix}
		out = append(out, &hcmv3.HttpFilter{
			Name:       wellknown.HTTPRoleBasedAccessControl,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(cfg)},
		})
	}
	return out
}

// NetworkFilters returns the envoy.filters.network.rbac filters enforcing
// policies on TCP connections, in the order they must run (before
// tcp_proxy). Nil when no policy applies.
func NetworkFilters(policies []*policy.Object, trustDomain string) []*listenerv3.Filter {
	var out []*listenerv3.Filter
	for _, rs := range ruleSets(policies, trustDomain, true) {
		cfg := &rbacnetworkv3.RBAC{
			StatPrefix: TCPStatPrefix, Rules: rs.enforce, ShadowRules: rs.shadow, ShadowRulesStatPrefix: rs.shadowPrefix,
		}
		out = append(out, &listenerv3.Filter{
			Name:       wellknown.RoleBasedAccessControl,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(cfg)},
		})
	}
	return out
}

// ruleSets builds one filter configuration per action present.
func ruleSets(policies []*policy.Object, trustDomain string, forTCP bool) []ruleSet {
	var out []ruleSet
	for _, g := range groups {
		if rs, ok := g.ruleSet(policies, trustDomain, forTCP); ok {
			out = append(out, rs)
		}
	}
	return out
}

// ruleSet gathers the policies of g's action; ok is false when there are none.
func (g group) ruleSet(policies []*policy.Object, trustDomain string, forTCP bool) (ruleSet, bool) {
	var rs ruleSet
	for _, o := range policies {
		ap, isAP := o.Spec.(*security.AuthorizationPolicy)
		if !isAP || ap.GetAction() != g.action {
			continue
		}
		target := &rs.enforce
		if dryRun(o) {
			target = &rs.shadow
			rs.shadowPrefix = g.shadowPrefix
		}
		if *target == nil {
			*target = &rbacv3.RBAC{Action: g.rbacAction, Policies: map[string]*rbacv3.Policy{}}
		}
		g.addPolicy((*target).Policies, o, ap, translator{
			forTCP: forTCP, strict: g.action == security.AuthorizationPolicy_ALLOW,
			trustDomain: trustDomain, policyNS: o.Namespace,
		})
	}
	return rs, rs.enforce != nil || rs.shadow != nil
}

// addPolicy adds one RBAC policy per rule of ap; a policy without rules
// gets one that never matches.
func (g group) addPolicy(into map[string]*rbacv3.Policy, o *policy.Object, ap *security.AuthorizationPolicy, t translator) {
	if len(ap.GetRules()) == 0 {
		into[g.policyName(o, 0)] = matchNever()
		return
	}
	for i, r := range ap.GetRules() {
		t.ruleName = g.policyName(o, i)
		p, err := t.policy(r)
		if err != nil {
			slog.Debug("rbac: rule left out, it cannot be evaluated here", "rule", t.ruleName, "tcp", t.forTCP, "reason", err)
			continue
		}
		into[t.ruleName] = p
	}
}

// policyName is Istio's "ns[NS]-policy[NAME]-rule[I]".
func (g group) policyName(o *policy.Object, rule int) string {
	return fmt.Sprintf("%sns[%s]-policy[%s]-rule[%d]", g.namePrefix, o.Namespace, o.Name, rule)
}

func dryRun(o *policy.Object) bool {
	v, err := strconv.ParseBool(o.Annotations[DryRunAnnotation])
	return err == nil && v
}

// typedAny wraps m for typed_config, marshalled deterministically. Every
// message here is built by this package, so a failure is a programming error.
func typedAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return a
}
