package rbac

import (
	"slices"
	"sort"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"

	"github.com/isthmus-mesh/isthmus/policy"
)

// decodePolicies decodes and validates inline Istio YAML.
func decodePolicies(t *testing.T, doc string) *policy.Config {
	t.Helper()
	objs, errs := policy.Decode("test.yaml", []byte(doc))
	for _, o := range objs {
		errs = append(errs, policy.Validate(o)...)
	}
	for _, e := range errs {
		t.Errorf("invalid test input: %v", e)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return policy.NewConfig(objs)
}

// filterRules is what one RBAC filter enforces and dry-runs.
type filterRules struct {
	action rbacv3.RBAC_Action
	rules  []string // enforced policy names, sorted; nil when rules is unset
	shadow []string // dry-run policy names, sorted
}

func httpRules(t *testing.T, cfg *policy.Config, ns string, labels map[string]string) []filterRules {
	t.Helper()
	var out []filterRules
	for _, f := range HTTPFilters(For(cfg, ns, labels), "cluster.local") {
		var r rbachttpv3.RBAC
		if err := f.GetTypedConfig().UnmarshalTo(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, summarize(r.GetRules(), r.GetShadowRules()))
	}
	return out
}

func tcpRules(t *testing.T, cfg *policy.Config, ns string, labels map[string]string) []filterRules {
	t.Helper()
	var out []filterRules
	for _, f := range NetworkFilters(For(cfg, ns, labels), "cluster.local") {
		var r rbacnetworkv3.RBAC
		if err := f.GetTypedConfig().UnmarshalTo(&r); err != nil {
			t.Fatal(err)
		}
		if r.GetStatPrefix() != TCPStatPrefix {
			t.Errorf("stat_prefix %q, want %q", r.GetStatPrefix(), TCPStatPrefix)
		}
		out = append(out, summarize(r.GetRules(), r.GetShadowRules()))
	}
	return out
}

func summarize(rules, shadow *rbacv3.RBAC) filterRules {
	fr := filterRules{action: rules.GetAction()}
	if shadow != nil {
		fr.action = shadow.GetAction()
		fr.shadow = policyNames(shadow)
	}
	if rules != nil {
		fr.action = rules.GetAction()
		fr.rules = append([]string{}, policyNames(rules)...)
	}
	return fr
}

func policyNames(r *rbacv3.RBAC) []string {
	var names []string
	for name := range r.GetPolicies() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func checkRules(t *testing.T, got, want []filterRules) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b filterRules) bool {
		return a.action == b.action && slices.Equal(a.rules, b.rules) && slices.Equal(a.shadow, b.shadow)
	}) {
		t.Errorf("filters\n got %+v\nwant %+v", got, want)
	}
}

const selectionPolicies = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh, namespace: istio-system}
spec: {rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-v1, namespace: istio-system}
spec: {selector: {matchLabels: {version: v1}}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ns, namespace: foo}
spec: {rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: app, namespace: foo}
spec: {selector: {matchLabels: {app: httpbin}}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: waypoint, namespace: foo}
spec: {targetRefs: [{kind: Service, group: "", name: httpbin}], rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other, namespace: bar}
spec: {rules: [{}]}
`

func TestForSelectsPoliciesAsIstio(t *testing.T) {
	cfg := decodePolicies(t, selectionPolicies)
	tests := []struct {
		name   string
		ns     string
		labels map[string]string
		want   []string
	}{
		{"matching workload", "foo", map[string]string{"app": "httpbin", "version": "v1"},
			[]string{"foo/app", "foo/ns", "istio-system/mesh", "istio-system/mesh-v1"}},
		{"other workload of the namespace", "foo", map[string]string{"app": "ratings"},
			[]string{"foo/ns", "istio-system/mesh"}},
		{"root selector matches in every namespace", "baz", map[string]string{"version": "v1"},
			[]string{"istio-system/mesh", "istio-system/mesh-v1"}},
		{"workload without labels", "qux", nil, []string{"istio-system/mesh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range For(cfg, tt.ns, tt.labels) {
				got = append(got, o.Namespace+"/"+o.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("For(%s, %v) = %v, want %v", tt.ns, tt.labels, got, tt.want)
			}
		})
	}
}

func TestNoPolicyGivesNoFilter(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: bar}
spec: {}
`)
	selected := For(cfg, "foo", map[string]string{"app": "x"})
	if f := HTTPFilters(selected, "cluster.local"); f != nil {
		t.Errorf("HTTPFilters = %v, want nil", f)
	}
	if f := NetworkFilters(selected, "cluster.local"); f != nil {
		t.Errorf("NetworkFilters = %v, want nil", f)
	}
}

func TestFiltersRunCustomAuditDenyAllowInOrder(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: foo}
spec: {rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: foo}
spec: {action: DENY, rules: [{to: [{operation: {methods: [DELETE]}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit, namespace: foo}
spec: {action: AUDIT, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: foo}
spec: {action: CUSTOM, provider: {name: authz}, rules: [{to: [{operation: {paths: [/admin]}}]}]}
`)
	checkRules(t, httpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, rules: []string{"istio-ext-authz-ns[foo]-policy[ext]-rule[0]"}},
		{action: rbacv3.RBAC_LOG, rules: []string{"ns[foo]-policy[audit]-rule[0]"}},
		{action: rbacv3.RBAC_DENY, rules: []string{"ns[foo]-policy[deny]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{"ns[foo]-policy[allow]-rule[0]"}},
	})
}

// TCP filters cannot see HTTP attributes: an ALLOW rule needing one is left
// out, a DENY rule only loses it.
func TestTCPFiltersFailClosedOnHTTPAttributes(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: foo}
spec:
  rules:
  - to: [{operation: {methods: [GET]}}]
  - to: [{operation: {ports: ["8080"]}}]
  - when: [{key: "request.headers[x-user]", values: [alice]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: foo}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin], ports: ["9090"]}}]
`)
	checkRules(t, tcpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, rules: []string{"ns[foo]-policy[deny]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{"ns[foo]-policy[allow]-rule[1]"}},
	})
	checkRules(t, httpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, rules: []string{"ns[foo]-policy[deny]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{
			"ns[foo]-policy[allow]-rule[0]", "ns[foo]-policy[allow]-rule[1]", "ns[foo]-policy[allow]-rule[2]",
		}},
	})
	deny := tcpPolicy(t, cfg, 0, "ns[foo]-policy[deny]-rule[0]")
	if got := deny.GetPermissions()[0].GetDestinationPort(); got != 9090 {
		t.Errorf("TCP DENY rule should keep only its port, got permissions %v", deny.GetPermissions())
	}
}

// JWT attributes are evaluated on HTTP chains only: on TCP an ALLOW rule
// needing one is left out, a DENY rule only loses it.
func TestRequestAuthenticationAttributesAreHTTPOnly(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: foo}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
  - when: [{key: request.auth.audiences, values: [api]}]
  - to: [{operation: {paths: [/healthz]}}]
  - to: [{operation: {ports: ["8080"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: foo}
spec:
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {ports: ["9090"]}}]
`)
	checkRules(t, httpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, rules: []string{"ns[foo]-policy[deny]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{
			"ns[foo]-policy[allow]-rule[0]", "ns[foo]-policy[allow]-rule[1]",
			"ns[foo]-policy[allow]-rule[2]", "ns[foo]-policy[allow]-rule[3]",
		}},
	})
	checkRules(t, tcpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, rules: []string{"ns[foo]-policy[deny]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{"ns[foo]-policy[allow]-rule[3]"}},
	})
	deny := tcpPolicy(t, cfg, 0, "ns[foo]-policy[deny]-rule[0]")
	if !deny.GetPrincipals()[0].GetAny() {
		t.Errorf("TCP DENY rule should lose its JWT principal, got principals %v", deny.GetPrincipals())
	}
}

func TestPolicyWithoutRulesAllowsNothing(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: nothing, namespace: foo}
spec: {}
`)
	checkRules(t, httpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_ALLOW, rules: []string{"ns[foo]-policy[nothing]-rule[0]"}},
	})
	never := tcpPolicy(t, cfg, 0, "ns[foo]-policy[nothing]-rule[0]")
	if !never.GetPermissions()[0].GetNotRule().GetAny() || !never.GetPrincipals()[0].GetNotId().GetAny() {
		t.Errorf("policy without rules should never match, got %v", never)
	}
}

func TestDryRunPoliciesAreShadowOnly(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: try, namespace: foo, annotations: {istio.io/dry-run: "true"}}
spec: {action: DENY, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: enforced, namespace: foo, annotations: {istio.io/dry-run: "false"}}
spec: {rules: [{}]}
`)
	checkRules(t, httpRules(t, cfg, "foo", nil), []filterRules{
		{action: rbacv3.RBAC_DENY, shadow: []string{"ns[foo]-policy[try]-rule[0]"}},
		{action: rbacv3.RBAC_ALLOW, rules: []string{"ns[foo]-policy[enforced]-rule[0]"}},
	})
}

func TestPrincipalsInClusterLocalMeanTheMeshTrustDomain(t *testing.T) {
	cfg := decodePolicies(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: peers, namespace: foo}
spec:
  rules:
  - from: [{source: {principals: [cluster.local/ns/a/sa/b]}}]
`)
	f := NetworkFilters(For(cfg, "foo", nil), "example.org")
	var r rbacnetworkv3.RBAC
	if err := f[0].GetTypedConfig().UnmarshalTo(&r); err != nil {
		t.Fatal(err)
	}
	got := r.GetRules().GetPolicies()["ns[foo]-policy[peers]-rule[0]"].GetPrincipals()[0].GetAuthenticated().GetPrincipalName().GetExact()
	if want := "spiffe://example.org/ns/a/sa/b"; got != want {
		t.Errorf("principal matcher %q, want %q", got, want)
	}
}

// tcpPolicy is one named RBAC policy of the index-th network filter.
func tcpPolicy(t *testing.T, cfg *policy.Config, index int, name string) *rbacv3.Policy {
	t.Helper()
	filters := NetworkFilters(For(cfg, "foo", nil), "cluster.local")
	var r rbacnetworkv3.RBAC
	if err := filters[index].GetTypedConfig().UnmarshalTo(&r); err != nil {
		t.Fatal(err)
	}
	p := r.GetRules().GetPolicies()[name]
	if p == nil {
		t.Fatalf("no policy %s in network filter %d: %v", name, index, policyNames(r.GetRules()))
	}
	return p
}
