package rbac

import (
	"fmt"
	"log/slog"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	"google.golang.org/protobuf/proto"
	security "istio.io/api/security/v1beta1"
)

// translator turns the rules of one policy into RBAC policies for one kind
// of filter chain.
type translator struct {
	forTCP bool
	// strict is set for ALLOW: an unevaluable value drops its whole rule (the
	// policy allows less). Otherwise only the value is dropped (a DENY or
	// AUDIT rule matches more).
	strict      bool
	trustDomain string
	policyNS    string
	ruleName    string // for log messages
}

// field is one attribute of a rule: its values are ORed, its notValues
// negated, and the two ANDed.
type field[T proto.Message] struct {
	key       string
	values    []string
	notValues []string
	match     func(string) (T, error)
}

// ops builds the boolean structure of principals or of permissions.
type ops[T proto.Message] struct {
	and func([]T) T
	or  func([]T) T
	not func(T) T
	any func() T
}

var principalOps = ops[*rbacv3.Principal]{
	and: func(ids []*rbacv3.Principal) *rbacv3.Principal {
		if len(ids) == 1 {
			return ids[0]
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: ids}}}
	},
	or: func(ids []*rbacv3.Principal) *rbacv3.Principal {
		if len(ids) == 1 {
			return ids[0]
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ids}}}
	},
	not: func(id *rbacv3.Principal) *rbacv3.Principal {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: id}}
	},
	any: func() *rbacv3.Principal { return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}} },
}

var permissionOps = ops[*rbacv3.Permission]{
	and: func(rules []*rbacv3.Permission) *rbacv3.Permission {
		if len(rules) == 1 {
			return rules[0]
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: rules}}}
	},
	or: func(rules []*rbacv3.Permission) *rbacv3.Permission {
		if len(rules) == 1 {
			return rules[0]
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: rules}}}
	},
	not: func(rule *rbacv3.Permission) *rbacv3.Permission {
		return &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: rule}}
	},
	any: func() *rbacv3.Permission { return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}} },
}

// matchNever is the RBAC policy of an Istio policy without rules.
func matchNever() *rbacv3.Policy {
	return &rbacv3.Policy{
		Permissions: []*rbacv3.Permission{permissionOps.not(permissionOps.any())},
		Principals:  []*rbacv3.Principal{principalOps.not(principalOps.any())},
	}
}

// policy translates one rule: any source (each ANDed with the principal
// conditions) and any operation (each ANDed with the permission conditions).
// An error means the rule cannot be evaluated and, in strict mode, must be
// left out.
func (t translator) policy(r *security.Rule) (*rbacv3.Policy, error) {
	whenPrincipals, whenPermissions := t.conditions(r.GetWhen())
	sources := [][]field[*rbacv3.Principal]{whenPrincipals}
	if len(r.GetFrom()) > 0 {
		sources = nil
	}
	for _, from := range r.GetFrom() {
		sources = append(sources, append(t.sourceFields(from.GetSource()), whenPrincipals...))
	}
	operations := [][]field[*rbacv3.Permission]{whenPermissions}
	if len(r.GetTo()) > 0 {
		operations = nil
	}
	for _, to := range r.GetTo() {
		operations = append(operations, append(t.operationFields(to.GetOperation()), whenPermissions...))
	}
	principals, err := alternatives(t, principalOps, sources)
	if err != nil {
		return nil, err
	}
	permissions, err := alternatives(t, permissionOps, operations)
	if err != nil {
		return nil, err
	}
	return &rbacv3.Policy{Principals: principals, Permissions: permissions}, nil
}

// alternatives translates each list of fields into one conjunction; Envoy
// ORs the resulting principals (or permissions) of a policy.
func alternatives[T proto.Message](t translator, o ops[T], lists [][]field[T]) ([]T, error) {
	out := make([]T, 0, len(lists))
	for _, fields := range lists {
		c, err := conjoin(t, o, fields)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// conjoin ANDs fields; no field at all matches anything.
func conjoin[T proto.Message](t translator, o ops[T], fields []field[T]) (T, error) {
	var parts []T
	for _, f := range fields {
		p, err := build(t, o, f)
		if err != nil {
			var zero T
			return zero, err
		}
		parts = append(parts, p...)
	}
	if len(parts) == 0 {
		return o.any(), nil
	}
	return o.and(parts), nil
}

// build is one field's parts: OR of values, NOT OR of notValues.
func build[T proto.Message](t translator, o ops[T], f field[T]) ([]T, error) {
	var parts []T
	for i, list := range [][]string{f.values, f.notValues} {
		matched, err := matchEach(t, f, list)
		if err != nil {
			return nil, err
		}
		if len(matched) == 0 {
			continue
		}
		p := o.or(matched)
		if i == 1 {
			p = o.not(p)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// matchEach translates values; one that cannot be evaluated fails a strict
// rule and is skipped otherwise.
func matchEach[T proto.Message](t translator, f field[T], values []string) ([]T, error) {
	var out []T
	for _, v := range values {
		m, err := f.match(v)
		if err != nil && t.strict {
			return nil, fmt.Errorf("%s %q %w", f.key, v, err)
		}
		if err != nil {
			slog.Debug("rbac: constraint dropped, the rule matches more", "rule", t.ruleName, "key", f.key, "value", v, "reason", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

func (t translator) sourceFields(s *security.Source) []field[*rbacv3.Principal] {
	fields := []field[*rbacv3.Principal]{
		{"principals", t.localPrincipals(s.GetPrincipals()), t.localPrincipals(s.GetNotPrincipals()), peerPrincipal},
		{"serviceAccounts", s.GetServiceAccounts(), s.GetNotServiceAccounts(), peerServiceAccount(t.policyNS)},
		{"namespaces", s.GetNamespaces(), s.GetNotNamespaces(), peerNamespace},
		{"trustDomains", s.GetTrustDomains(), s.GetNotTrustDomains(), peerTrustDomain},
		{"ipBlocks", s.GetIpBlocks(), s.GetNotIpBlocks(), directRemoteIP},
		{"remoteIpBlocks", s.GetRemoteIpBlocks(), s.GetNotRemoteIpBlocks(), remoteIP},
		{"requestPrincipals", s.GetRequestPrincipals(), s.GetNotRequestPrincipals(), httpOnly(t.forTCP, requestPrincipal)},
	}
	return nonEmpty(fields)
}

func (t translator) operationFields(op *security.Operation) []field[*rbacv3.Permission] {
	fields := []field[*rbacv3.Permission]{
		{"hosts", op.GetHosts(), op.GetNotHosts(), httpOnly(t.forTCP, hostPermission)},
		{"ports", op.GetPorts(), op.GetNotPorts(), destinationPort},
		{"methods", op.GetMethods(), op.GetNotMethods(), httpOnly(t.forTCP, methodPermission)},
		{"paths", op.GetPaths(), op.GetNotPaths(), httpOnly(t.forTCP, pathPermission)},
	}
	return nonEmpty(fields)
}

// conditions sorts the when conditions into principal and permission
// fields, as Envoy's RBAC places each attribute.
func (t translator) conditions(when []*security.Condition) ([]field[*rbacv3.Principal], []field[*rbacv3.Permission]) {
	var principals []field[*rbacv3.Principal]
	var permissions []field[*rbacv3.Permission]
	for _, c := range when {
		key, values, notValues := c.GetKey(), c.GetValues(), c.GetNotValues()
		if match := t.principalCondition(key); match != nil {
			if key == "source.principal" {
				values, notValues = t.localPrincipals(values), t.localPrincipals(notValues)
			}
			principals = append(principals, field[*rbacv3.Principal]{key, values, notValues, match})
			continue
		}
		permissions = append(permissions, field[*rbacv3.Permission]{key, values, notValues, t.permissionCondition(key)})
	}
	return nonEmpty(principals), nonEmpty(permissions)
}

// principalCondition is the matcher of a when key about the peer or the
// request, or nil for keys about the destination.
func (t translator) principalCondition(key string) func(string) (*rbacv3.Principal, error) {
	switch {
	case key == "source.ip":
		return directRemoteIP
	case key == "remote.ip":
		return remoteIP
	case key == "source.namespace":
		return peerNamespace
	case key == "source.principal":
		return peerPrincipal
	case key == "source.serviceAccount":
		return peerServiceAccount(t.policyNS)
	case strings.HasPrefix(key, "request.headers"):
		return httpOnly(t.forTCP, requestHeader(key))
	case strings.HasPrefix(key, "request.auth."):
		return httpOnly(t.forTCP, requestAuthCondition(key))
	}
	return nil
}

// requestAuthCondition is the matcher of a "request.auth." key, read from
// the verified JWT payload.
func requestAuthCondition(key string) func(string) (*rbacv3.Principal, error) {
	switch {
	case key == "request.auth.principal":
		return requestPrincipal
	case key == "request.auth.audiences":
		return claimMatch("aud")
	case key == "request.auth.presenter":
		return claimMatch("azp")
	case strings.HasPrefix(key, claimsKeyPrefix):
		return claimCondition(key)
	}
	return func(string) (*rbacv3.Principal, error) { return nil, fmt.Errorf("unknown attribute") }
}

// permissionCondition is the matcher of a when key about the destination;
// an unknown key cannot be evaluated.
func (t translator) permissionCondition(key string) func(string) (*rbacv3.Permission, error) {
	switch {
	case key == "destination.ip":
		return destinationIP
	case key == "destination.port":
		return destinationPort
	case key == "connection.sni":
		return serverName
	case strings.HasPrefix(key, "experimental.envoy.filters."):
		return envoyMetadata(key)
	}
	return func(string) (*rbacv3.Permission, error) { return nil, fmt.Errorf("unknown attribute") }
}

// localPrincipals maps principals in the "cluster.local" trust domain to the
// mesh's trust domain, as Istio treats that name as an alias of the local one.
func (t translator) localPrincipals(principals []string) []string {
	if t.trustDomain == "" || t.trustDomain == defaultTrustDomain {
		return principals
	}
	out := make([]string, len(principals))
	for i, p := range principals {
		parts := strings.Split(p, "/")
		if len(parts) == 5 && parts[0] == defaultTrustDomain {
			p = t.trustDomain + p[len(defaultTrustDomain):]
		}
		out[i] = p
	}
	return out
}

// defaultTrustDomain is the trust domain Istio policies are usually written
// for, and which Istio reads as "this mesh's trust domain".
const defaultTrustDomain = "cluster.local"

func nonEmpty[T proto.Message](fields []field[T]) []field[T] {
	out := fields[:0]
	for _, f := range fields {
		if len(f.values)+len(f.notValues) > 0 {
			out = append(out, f)
		}
	}
	return out
}
