package rbac

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/policy"
)

// requestAuthn is a RequestAuthentication in namespace ns with spec body.
func requestAuthn(name, ns, body string) string {
	return "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" + body + "\n---\n"
}

// jwtConfig is the JWT filter's configuration for a workload of foo.
func jwtConfig(t *testing.T, cfg *policy.Config, labels map[string]string) *jwtv3.JwtAuthentication {
	t.Helper()
	f := JWTFilter(RequestAuthenticationsFor(cfg, "foo", labels))
	if f == nil {
		t.Fatal("no JWT filter")
	}
	if f.GetName() != "envoy.filters.http.jwt_authn" {
		t.Errorf("filter name %q", f.GetName())
	}
	var out jwtv3.JwtAuthentication
	if err := f.GetTypedConfig().UnmarshalTo(&out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestRequestAuthenticationsForSelectsAsAuthorizationPolicies(t *testing.T) {
	cfg := decodePolicies(t, requestAuthn("mesh", "istio-system", "spec: {jwtRules: [{issuer: a}]}")+
		requestAuthn("mesh-v1", "istio-system", "spec: {selector: {matchLabels: {version: v1}}, jwtRules: [{issuer: b}]}")+
		requestAuthn("ns", "foo", "spec: {jwtRules: [{issuer: c}]}")+
		requestAuthn("app", "foo", "spec: {selector: {matchLabels: {app: httpbin}}, jwtRules: [{issuer: d}]}")+
		requestAuthn("gateway", "foo", "spec: {targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}], jwtRules: [{issuer: e}]}")+
		requestAuthn("other", "bar", "spec: {jwtRules: [{issuer: f}]}"))
	tests := []struct {
		ns     string
		labels map[string]string
		want   []string
	}{
		{"foo", map[string]string{"app": "httpbin", "version": "v1"}, []string{"foo/app", "foo/ns", "istio-system/mesh", "istio-system/mesh-v1"}},
		{"foo", map[string]string{"app": "ratings"}, []string{"foo/ns", "istio-system/mesh"}},
		{"baz", map[string]string{"version": "v1"}, []string{"istio-system/mesh", "istio-system/mesh-v1"}},
	}
	for _, tt := range tests {
		var got []string
		for _, o := range RequestAuthenticationsFor(cfg, tt.ns, tt.labels) {
			got = append(got, o.Namespace+"/"+o.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("RequestAuthenticationsFor(%s, %v) = %v, want %v", tt.ns, tt.labels, got, tt.want)
		}
	}
}

func TestNoRequestAuthenticationGivesNoJWTFilter(t *testing.T) {
	cfg := decodePolicies(t, requestAuthn("empty", "foo", "spec: {}")+requestAuthn("elsewhere", "bar", "spec: {jwtRules: [{issuer: a}]}"))
	authns := RequestAuthenticationsFor(cfg, "foo", nil)
	if f := JWTFilter(authns); f != nil {
		t.Errorf("JWTFilter = %v, want nil", f)
	}
	if c := JWKSClusters(authns); c != nil {
		t.Errorf("JWKSClusters = %v, want nil", c)
	}
}

// A request without a token passes; a token must be valid for a provider.
func TestJWTRequirementAllowsMissingTokens(t *testing.T) {
	one := jwtConfig(t, decodePolicies(t, requestAuthn("a", "foo", "spec: {jwtRules: [{issuer: a, jwksUri: 'http://keys/a'}]}")), nil)
	wantOne := `{"requiresAny":{"requirements":[{"providerName":"origins-0"},{"allowMissing":{}}]}}`
	checkJSON(t, "one provider", one.GetRules()[0].GetRequires(), wantOne)
	if one.GetRules()[0].GetMatch().GetPrefix() != "/" || !one.GetBypassCorsPreflight() {
		t.Errorf("rule must cover every path and let CORS preflights pass: %v", one)
	}

	two := jwtConfig(t, decodePolicies(t, requestAuthn("a", "foo", "spec: {jwtRules: [{issuer: z, jwksUri: 'http://keys/z'}, {issuer: a, jwksUri: 'http://keys/a'}]}")), nil)
	wantTwo := `{"requiresAny":{"requirements":[{"providerName":"origins-0"},{"providerName":"origins-1"},` +
		`{"requiresAll":{"requirements":[` +
		`{"requiresAny":{"requirements":[{"providerName":"origins-0"},{"allowMissing":{}}]}},` +
		`{"requiresAny":{"requirements":[{"providerName":"origins-1"},{"allowMissing":{}}]}}]}}]}}`
	checkJSON(t, "two providers", two.GetRules()[0].GetRequires(), wantTwo)
	if two.GetProviders()["origins-0"].GetIssuer() != "a" || two.GetProviders()["origins-1"].GetIssuer() != "z" {
		t.Errorf("providers must be ordered by issuer: %v", two.GetProviders())
	}
}

func checkJSON(t *testing.T, what string, m proto.Message, want string) {
	t.Helper()
	got, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gs, _ := json.Marshal(g)
	ws, _ := json.Marshal(w)
	if string(gs) != string(ws) {
		t.Errorf("%s:\n got %s\nwant %s", what, gs, ws)
	}
}

func TestJWTProviderTranslatesEveryRuleField(t *testing.T) {
	cfg := decodePolicies(t, requestAuthn("a", "foo", `spec:
  jwtRules:
  - issuer: https://issuer.example
    audiences: [api]
    jwksUri: https://issuer.example/jwks
    timeout: 3s
    fromHeaders: [{name: x-token, prefix: "Token "}]
    fromParams: [tok]
    fromCookies: [sess]
    outputPayloadToHeader: x-payload
    forwardOriginalToken: true
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    spaceDelimitedClaims: [roles]`))
	p := jwtConfig(t, cfg, nil).GetProviders()["origins-0"]
	want := `{
	  "issuer": "https://issuer.example", "audiences": ["api"],
	  "remoteJwks": {"httpUri": {"uri": "https://issuer.example/jwks", "cluster": "outbound|443||issuer.example", "timeout": "3s"}, "cacheDuration": "300s"},
	  "forward": true,
	  "fromHeaders": [{"name": "x-token", "valuePrefix": "Token "}], "fromParams": ["tok"], "fromCookies": ["sess"],
	  "forwardPayloadHeader": "x-payload",
	  "payloadInMetadata": "payload",
	  "normalizePayloadInMetadata": {"spaceDelimitedClaims": ["permission", "roles", "scope"]},
	  "claimToHeaders": [{"headerName": "x-sub", "claimName": "sub"}]
	}`
	checkJSON(t, "provider", p, want)
}

func TestJWKSSources(t *testing.T) {
	const inline = `{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}`
	cfg := decodePolicies(t, requestAuthn("a", "foo", `spec:
  jwtRules:
  - {issuer: a-inline, jwks: '`+inline+`'}
  - {issuer: b-discovery}
  - {issuer: c-remote, jwksUri: 'http://keys.example:8080/jwks'}`))
	providers := jwtConfig(t, cfg, nil).GetProviders()
	if got := providers["origins-0"].GetLocalJwks().GetInlineString(); got != inline {
		t.Errorf("inline jwks = %q, want %q", got, inline)
	}
	checkUnverifiable(t, providers["origins-1"].GetLocalJwks().GetInlineString())
	if got := providers["origins-2"].GetRemoteJwks().GetHttpUri().GetCluster(); got != "outbound|8080||keys.example" {
		t.Errorf("remote jwks cluster = %q", got)
	}
	if got := providers["origins-2"].GetRemoteJwks().GetHttpUri().GetTimeout().AsDuration(); got != defaultJWKSTimeout {
		t.Errorf("remote jwks timeout = %v, want Istio's default %v", got, defaultJWKSTimeout)
	}
}

// checkUnverifiable: a key set with one 2048-bit RSA key, the same for the
// same issuer on every translation.
func checkUnverifiable(t *testing.T, jwks string) {
	t.Helper()
	var set struct {
		Keys []struct{ Kty, N, E string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %q is not a key set of one key (err %v)", jwks, err)
	}
	n, err := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	if err != nil || len(n) != 256 || n[0]&0x80 == 0 || set.Keys[0].Kty != "RSA" {
		t.Errorf("key is not a 2048-bit RSA modulus: %+v (err %v)", set.Keys[0], err)
	}
	if jwks != unverifiableJWKS("b-discovery") {
		t.Error("the key set must be deterministic")
	}
}

func TestJWKSClusters(t *testing.T) {
	cfg := decodePolicies(t, requestAuthn("a", "foo", `spec:
  jwtRules:
  - {issuer: a, jwksUri: 'https://keys.example/a'}
  - {issuer: b, jwksUri: 'https://keys.example:443/b'}
  - {issuer: c, jwksUri: 'http://127.0.0.1:8081/jwks'}
  - {issuer: d, jwks: '{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}'}
  - {issuer: e}`))
	clusters := jwksClusters(RequestAuthenticationsFor(cfg, "foo", nil), "/ca.pem")
	var names []string
	for _, c := range clusters {
		names = append(names, c.GetName())
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.GetName(), err)
		}
	}
	if want := []string{"outbound|443||keys.example", "outbound|8081||127.0.0.1"}; !slices.Equal(names, want) {
		t.Fatalf("clusters %v, want %v", names, want)
	}
	https, loopback := clusters[0], clusters[1]
	if https.GetType() != clusterv3.Cluster_LOGICAL_DNS || loopback.GetType() != clusterv3.Cluster_STATIC {
		t.Errorf("types %v and %v, want LOGICAL_DNS for a name, STATIC for an IP", https.GetType(), loopback.GetType())
	}
	if loopback.GetTransportSocket() != nil {
		t.Error("an http jwksUri must not use TLS")
	}
	var tls tlsv3.UpstreamTlsContext
	if err := https.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tls); err != nil {
		t.Fatal(err)
	}
	vc := tls.GetCommonTlsContext().GetValidationContext()
	san := vc.GetMatchTypedSubjectAltNames()
	if tls.GetSni() != "keys.example" || vc.GetTrustedCa().GetFilename() != "/ca.pem" || len(san) != 1 ||
		san[0].GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || san[0].GetMatcher().GetExact() != "keys.example" {
		t.Errorf("https cluster must verify keys.example against the CA bundle: %v", &tls)
	}
	if got := JWKSClusters(RequestAuthenticationsFor(cfg, "foo", nil)); len(got) != 2 || !proto.Equal(got[1], loopback) {
		t.Errorf("JWKSClusters differs from jwksClusters: %v", got)
	}
}

// The issuer and subject matchers of requestPrincipals values, as Istio
// builds them.
func TestRequestPrincipalMatchers(t *testing.T) {
	tests := []struct {
		value    string
		iss, sub string // protojson of the string matchers
	}{
		{"*", `{"safeRegex":{"regex":".+"}}`, `{"safeRegex":{"regex":".+"}}`},
		{"https://issuer.example/alice", `{"exact":"https://issuer.example"}`, `{"exact":"alice"}`},
		{"https://issuer.example/*", `{"exact":"https://issuer.example"}`, `{"safeRegex":{"regex":".+"}}`},
		{"https://issuer.example/svc-*", `{"exact":"https://issuer.example"}`, `{"prefix":"svc-"}`},
		{"*/alice", `{"safeRegex":{"regex":".+"}}`, `{"exact":"alice"}`},
		{"*.example/alice", `{"suffix":".example"}`, `{"exact":"alice"}`},
		{"*-admin", `{"safeRegex":{"regex":".+"}}`, `{"suffix":"-admin"}`},
		{"issuer*", `{"prefix":"issuer"}`, `{"safeRegex":{"regex":".+"}}`},
		{"plain", `{"exact":"plain"}`, `{"exact":""}`},
	}
	for _, tt := range tests {
		iss, sub := principalMatchers(tt.value)
		checkJSON(t, tt.value+" issuer", iss, tt.iss)
		checkJSON(t, tt.value+" subject", sub, tt.sub)
	}
}

func TestRequestPrincipalMatchesPayloadIssuerAndSubject(t *testing.T) {
	p, err := requestPrincipal("iss/sub")
	if err != nil {
		t.Fatal(err)
	}
	ids := p.GetAndIds().GetIds()
	if len(ids) != 2 {
		t.Fatalf("want iss AND sub, got %v", p)
	}
	for i, claim := range []string{"iss", "sub"} {
		m := ids[i].GetSourcedMetadata().GetMetadataMatcher()
		if m.GetFilter() != "envoy.filters.http.jwt_authn" || len(m.GetPath()) != 2 ||
			m.GetPath()[0].GetKey() != "payload" || m.GetPath()[1].GetKey() != claim {
			t.Errorf("matcher %d must read payload.%s of the JWT filter: %v", i, claim, m)
		}
	}
}

func TestClaimConditions(t *testing.T) {
	tests := []struct {
		key  string
		path []string
	}{
		{"request.auth.claims[groups]", []string{"payload", "groups"}},
		{"request.auth.claims[org][team]", []string{"payload", "org", "team"}},
		{"request.auth.claims[a.b]", []string{"payload", "a.b"}},
		{"request.auth.claims[a]x[b]", []string{"payload", "a]x[b"}},
		{"request.auth.audiences", []string{"payload", "aud"}},
		{"request.auth.presenter", []string{"payload", "azp"}},
	}
	for _, tt := range tests {
		p, err := requestAuthCondition(tt.key)("v*")
		if err != nil {
			t.Errorf("%s: %v", tt.key, err)
			continue
		}
		m := p.GetSourcedMetadata().GetMetadataMatcher()
		var path []string
		for _, s := range m.GetPath() {
			path = append(path, s.GetKey())
		}
		if m.GetFilter() != JWTFilterName || !slices.Equal(path, tt.path) {
			t.Errorf("%s: filter %q path %v, want %v", tt.key, m.GetFilter(), path, tt.path)
		}
		// A claim matches as a string or as a list holding the value.
		or := m.GetValue().GetOrMatch().GetValueMatchers()
		prefix := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "v"}}
		if len(or) != 2 || !proto.Equal(or[0].GetListMatch().GetOneOf().GetStringMatch(), prefix) || !proto.Equal(or[1].GetStringMatch(), prefix) {
			t.Errorf("%s: value matcher %v, want list-or-string prefix v", tt.key, m.GetValue())
		}
	}
	if _, err := requestAuthCondition("request.auth.claims[a][]")("x"); err == nil {
		t.Error("an empty nested claim name must be unevaluable")
	}
}
