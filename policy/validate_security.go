package policy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

func (c *checker) peerAuthentication(pa *security.PeerAuthentication) {
	c.workloadSelector("spec.selector", pa.GetSelector())
	if pa.GetPortLevelMtls() == nil {
		return
	}
	if len(pa.GetSelector().GetMatchLabels()) == 0 {
		c.add("spec.portLevelMtls", "portLevelMtls needs a selector with labels (it cannot apply mesh- or namespace-wide)")
	}
	if len(pa.GetPortLevelMtls()) == 0 {
		c.add("spec.portLevelMtls", "portLevelMtls, when set, needs at least one port")
	}
	ports := make([]int, 0, len(pa.GetPortLevelMtls()))
	for port := range pa.GetPortLevelMtls() {
		ports = append(ports, int(port))
	}
	sort.Ints(ports)
	for _, port := range ports {
		if err := checkPort(int64(port)); err != nil {
			c.add(mapKey("spec.portLevelMtls", strconv.Itoa(port)), "%v", err)
		}
	}
}

func (c *checker) workloadSelector(p string, sel *typev1beta1.WorkloadSelector) {
	if sel != nil {
		c.selectorLabels(field(p, "matchLabels"), sel.GetMatchLabels())
	}
}

// policyTargets checks selector/targetRef/targetRefs, which are alternatives.
func (c *checker) policyTargets(sel *typev1beta1.WorkloadSelector, ref *typev1beta1.PolicyTargetReference, refs []*typev1beta1.PolicyTargetReference) {
	set := 0
	for _, s := range []bool{sel != nil, ref != nil, len(refs) > 0} {
		if s {
			set++
		}
	}
	if set > 1 {
		c.add("spec", "only one of selector, targetRef and targetRefs can be set")
	}
	c.workloadSelector("spec.selector", sel)
	if ref != nil {
		c.targetRef("spec.targetRef", ref)
	}
	for i, r := range refs {
		c.targetRef(index("spec.targetRefs", i), r)
	}
}

// targetKinds are the kinds a policy targetRef may name, by group.
var targetKinds = map[string]string{
	"Service":      "",
	"ServiceEntry": "networking.istio.io",
	"Gateway":      "gateway.networking.k8s.io",
}

func (c *checker) targetRef(p string, ref *typev1beta1.PolicyTargetReference) {
	if ref.GetName() == "" {
		c.add(field(p, "name"), "targetRef name is required")
	}
	if ref.GetNamespace() != "" {
		c.add(field(p, "namespace"), "cross-namespace targetRef is not supported")
	}
	group, ok := targetKinds[ref.GetKind()]
	if !ok || (group != ref.GetGroup() && !(group == "" && ref.GetGroup() == "core")) {
		c.add(p, "targetRef must name a Service, ServiceEntry (networking.istio.io) or Gateway (gateway.networking.k8s.io), not %s/%s", ref.GetGroup(), ref.GetKind())
	}
}

func (c *checker) authorizationPolicy(ap *security.AuthorizationPolicy) {
	c.policyTargets(ap.GetSelector(), ap.GetTargetRef(), ap.GetTargetRefs())
	c.dryRunAnnotation(ap)
	action := ap.GetAction()
	switch {
	case action == security.AuthorizationPolicy_CUSTOM && ap.GetRules() == nil:
		c.add("spec.rules", "a CUSTOM policy without rules never triggers; add an empty rule {} to match every request")
	case action == security.AuthorizationPolicy_CUSTOM && ap.GetProvider().GetName() == "":
		c.add("spec.provider.name", "a CUSTOM policy needs provider.name")
	case action != security.AuthorizationPolicy_CUSTOM && ap.GetProvider() != nil:
		c.add("spec.provider", "provider is only allowed with action CUSTOM")
	case action == security.AuthorizationPolicy_DENY && ap.GetRules() == nil:
		c.add("spec.rules", "a DENY policy without rules never triggers; add an empty rule {} to match every request")
	}
	for i, r := range ap.GetRules() {
		c.authzRule(index("spec.rules", i), r, action == security.AuthorizationPolicy_CUSTOM)
	}
}

func (c *checker) dryRunAnnotation(ap *security.AuthorizationPolicy) {
	v, ok := c.obj.Annotations["istio.io/dry-run"]
	if !ok {
		return
	}
	p := "metadata.annotations[istio.io/dry-run]"
	if a := ap.GetAction(); a != security.AuthorizationPolicy_ALLOW && a != security.AuthorizationPolicy_DENY {
		c.add(p, "dry-run is only supported for ALLOW and DENY policies")
	}
	if _, err := strconv.ParseBool(v); err != nil {
		c.add(p, "dry-run must be true or false, not %q", v)
	}
}

func (c *checker) authzRule(p string, r *security.Rule, custom bool) {
	if r == nil {
		c.add(p, "rule must not be null")
		return
	}
	if r.GetFrom() != nil && len(r.GetFrom()) == 0 {
		c.add(field(p, "from"), "from must not be empty when present")
	}
	for i, f := range r.GetFrom() {
		c.authzSource(index(field(p, "from"), i), f, custom)
	}
	if r.GetTo() != nil && len(r.GetTo()) == 0 {
		c.add(field(p, "to"), "to must not be empty when present")
	}
	for i, t := range r.GetTo() {
		c.authzOperation(index(field(p, "to"), i), t)
	}
	for i, cond := range r.GetWhen() {
		c.authzCondition(index(field(p, "when"), i), cond, custom)
	}
}

func (c *checker) authzSource(p string, f *security.Rule_From, custom bool) {
	src := f.GetSource()
	if src == nil {
		c.add(field(p, "source"), "source is required")
		return
	}
	p = field(p, "source")
	lists := []struct {
		name   string
		values []string
		check  func(string) error
	}{
		{"principals", src.GetPrincipals(), nil}, {"notPrincipals", src.GetNotPrincipals(), nil},
		{"requestPrincipals", src.GetRequestPrincipals(), nil}, {"notRequestPrincipals", src.GetNotRequestPrincipals(), nil},
		{"namespaces", src.GetNamespaces(), nil}, {"notNamespaces", src.GetNotNamespaces(), nil},
		{"ipBlocks", src.GetIpBlocks(), checkIPOrCIDR}, {"notIpBlocks", src.GetNotIpBlocks(), checkIPOrCIDR},
		{"remoteIpBlocks", src.GetRemoteIpBlocks(), checkIPOrCIDR}, {"notRemoteIpBlocks", src.GetNotRemoteIpBlocks(), checkIPOrCIDR},
		{"serviceAccounts", src.GetServiceAccounts(), nil}, {"notServiceAccounts", src.GetNotServiceAccounts(), nil},
		{"trustDomains", src.GetTrustDomains(), nil}, {"notTrustDomains", src.GetNotTrustDomains(), nil},
	}
	empty := true
	for _, l := range lists {
		empty = empty && len(l.values) == 0
		c.stringList(field(p, l.name), l.values, l.check)
		if custom && len(l.values) > 0 && (strings.Contains(strings.ToLower(l.name), "principals") || strings.Contains(strings.ToLower(l.name), "namespaces")) {
			c.add(field(p, l.name), "%s is not supported with action CUSTOM", l.name)
		}
	}
	if empty {
		c.add(p, "source must not be empty")
	}
	hasAccounts := len(src.GetServiceAccounts())+len(src.GetNotServiceAccounts()) > 0
	hasIdentities := len(src.GetPrincipals())+len(src.GetNotPrincipals())+len(src.GetNamespaces())+len(src.GetNotNamespaces()) > 0
	if hasAccounts && hasIdentities {
		c.add(p, "serviceAccounts cannot be combined with principals or namespaces")
	}
}

func (c *checker) authzOperation(p string, t *security.Rule_To) {
	op := t.GetOperation()
	if op == nil {
		c.add(field(p, "operation"), "operation is required")
		return
	}
	p = field(p, "operation")
	lists := []struct {
		name   string
		values []string
		check  func(string) error
	}{
		{"hosts", op.GetHosts(), nil}, {"notHosts", op.GetNotHosts(), nil},
		{"ports", op.GetPorts(), checkPortString}, {"notPorts", op.GetNotPorts(), checkPortString},
		{"methods", op.GetMethods(), nil}, {"notMethods", op.GetNotMethods(), nil},
		{"paths", op.GetPaths(), checkAuthzPath}, {"notPaths", op.GetNotPaths(), checkAuthzPath},
	}
	empty := true
	for _, l := range lists {
		empty = empty && len(l.values) == 0
		c.stringList(field(p, l.name), l.values, l.check)
	}
	if empty {
		c.add(p, "operation must not be empty")
	}
}

// stringList rejects empty strings and applies check to the others.
func (c *checker) stringList(p string, values []string, check func(string) error) {
	for i, v := range values {
		switch {
		case v == "":
			c.add(index(p, i), "empty value is not allowed")
		case check != nil:
			c.check(index(p, i), check(v))
		}
	}
}

func checkPortString(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > 65535 {
		return fmt.Errorf("bad port %q", s)
	}
	return nil
}

// unsupportedPathTemplate matches the template pieces Envoy's URI template
// matcher does not support: named variables, "{}", and bare "*"/"**"
// segments next to templates.
var unsupportedPathTemplate = regexp.MustCompile(`\/{\w+\=\*[*]?\}|{\w*\}|\/\*[*]?|\*[*]?\/`)

// checkAuthzPath: a path using {*} or {**} templates must use only those.
func checkAuthzPath(path string) error {
	isTemplate := strings.Contains(path, "{*}") || strings.Contains(path, "{**}")
	if isTemplate && unsupportedPathTemplate.MatchString(path) {
		return fmt.Errorf("invalid or unsupported path template %q", path)
	}
	return nil
}

// checkConditionValues validates the values of a when condition by key.
func checkConditionValues(key string, values []string) error {
	switch {
	case strings.HasPrefix(key, "request.headers"), strings.HasPrefix(key, "request.auth.claims"),
		strings.HasPrefix(key, "experimental.envoy.filters."):
		return checkBracketKey(key)
	case key == "source.ip", key == "remote.ip", key == "destination.ip":
		for _, v := range values {
			if err := checkIPOrCIDR(v); err != nil {
				return err
			}
		}
	case key == "destination.port":
		for _, v := range values {
			if err := checkPortString(v); err != nil {
				return err
			}
		}
	case key == "source.namespace", key == "source.principal", key == "request.auth.principal",
		key == "request.auth.audiences", key == "request.auth.presenter", key == "connection.sni",
		key == "source.serviceAccount":
	case key == "destination.namespace":
		return fmt.Errorf("%s is replaced by the policy's namespace", key)
	case strings.HasPrefix(key, "destination.labels"):
		return fmt.Errorf("%s is replaced by the workload selector", key)
	default:
		return fmt.Errorf("unknown attribute %q", key)
	}
	return nil
}

// checkBracketKey checks "name[key]" attribute forms.
func checkBracketKey(key string) error {
	open := strings.Index(key, "[")
	if strings.HasSuffix(key, "]") && open > 0 && open < len(key)-2 {
		return nil
	}
	return fmt.Errorf("bad key %q: should have the form name[key]", key)
}

func (c *checker) authzCondition(p string, cond *security.Condition, custom bool) {
	if cond == nil {
		c.add(p, "condition must not be null")
		return
	}
	key := cond.GetKey()
	if key == "" {
		c.add(field(p, "key"), "key is required")
		return
	}
	if custom && (key == "source.namespace" || key == "source.principal" || strings.HasPrefix(key, "request.auth.")) {
		c.add(field(p, "key"), "%s is not supported with action CUSTOM", key)
	}
	if len(cond.GetValues()) == 0 && len(cond.GetNotValues()) == 0 {
		c.add(p, "values or notValues is required for key %s", key)
		return
	}
	c.stringList(field(p, "values"), cond.GetValues(), nil)
	c.stringList(field(p, "notValues"), cond.GetNotValues(), nil)
	if err := checkConditionValues(key, append(append([]string(nil), cond.GetValues()...), cond.GetNotValues()...)); err != nil {
		c.add(field(p, "key"), "%v", err)
	}
}

func (c *checker) requestAuthentication(ra *security.RequestAuthentication) {
	c.policyTargets(ra.GetSelector(), ra.GetTargetRef(), ra.GetTargetRefs())
	for i, r := range ra.GetJwtRules() {
		c.jwtRule(index("spec.jwtRules", i), r)
	}
}

func (c *checker) jwtRule(p string, r *security.JWTRule) {
	if r == nil {
		c.add(p, "jwt rule must not be null")
		return
	}
	if r.GetIssuer() == "" {
		c.add(field(p, "issuer"), "issuer is required")
	}
	c.stringList(field(p, "audiences"), r.GetAudiences(), nil)
	if r.GetJwksUri() != "" {
		c.check(field(p, "jwksUri"), checkJwksURI(r.GetJwksUri()))
		if r.GetJwks() != "" {
			c.add(field(p, "jwks"), "only one of jwks and jwksUri can be set")
		}
	}
	if r.GetJwks() != "" {
		c.check(field(p, "jwks"), checkJwks(r.GetJwks()))
	}
	for i, h := range r.GetFromHeaders() {
		if h.GetName() == "" {
			c.add(index(field(p, "fromHeaders"), i), "header name is required")
		}
	}
	c.stringList(field(p, "fromParams"), r.GetFromParams(), nil)
	c.stringList(field(p, "fromCookies"), r.GetFromCookies(), nil)
	for i, o := range r.GetOutputClaimToHeaders() {
		op := index(field(p, "outputClaimToHeaders"), i)
		if o.GetClaim() == "" || o.GetHeader() == "" {
			c.add(op, "claim and header are required")
			continue
		}
		c.check(field(op, "header"), checkHeaderName(o.GetHeader()))
	}
	if r.GetTimeout() != nil {
		c.check(field(p, "timeout"), checkDuration(r.GetTimeout()))
	}
}

func checkJwksURI(uri string) error {
	if len(uri) > 2048 {
		return fmt.Errorf("jwksUri is longer than 2048 characters")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("invalid jwksUri: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("jwksUri scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("jwksUri %q has no host", uri)
	}
	if port := u.Port(); port != "" {
		if err := checkPortString(port); err != nil {
			return err
		}
	}
	return nil
}

// checkJwks checks that an inline JWKS is a JSON object with a keys list.
func checkJwks(jwks string) error {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		return fmt.Errorf("jwks is not a valid JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return fmt.Errorf("jwks has no keys")
	}
	for i, k := range set.Keys {
		if _, ok := k["kty"].(string); !ok {
			return fmt.Errorf("jwks key %d has no kty", i)
		}
	}
	return nil
}
