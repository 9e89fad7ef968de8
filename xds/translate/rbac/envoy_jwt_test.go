package rbac

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Issuers of the Envoy JWT tests: keys fetched over http, over https, and
// given inline.
const (
	issuerHTTP   = "https://issuer.test"
	issuerTLS    = "https://tls-issuer.test"
	issuerInline = "issuer-inline"
)

// jwtWorld is the keys, JWKS servers and scenarios of the Envoy JWT test.
type jwtWorld struct {
	httpKey, tlsKey, inlineKey, strangerKey *jwsKey
	httpJWKS, tlsJWKS                       string // jwksUris on loopback
	inlineJWKS                              string // the inline key's JWKS
	caFile                                  string // verifies the https JWKS server
}

func newJWTWorld(t *testing.T) *jwtWorld {
	w := &jwtWorld{
		httpKey: newRSAKey(t, "http-1"), tlsKey: newRSAKey(t, "tls-1"),
		inlineKey: newECKey(t, "inline-1"), strangerKey: newRSAKey(t, "http-1"),
	}
	plain := httptest.NewServer(jwksHandler(jwks(t, w.httpKey)))
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(jwksHandler(jwks(t, w.tlsKey)))
	t.Cleanup(secure.Close)
	w.httpJWKS, w.tlsJWKS = plain.URL+"/jwks", secure.URL+"/jwks"
	w.inlineJWKS = jwks(t, w.inlineKey)
	w.caFile = filepath.Join(t.TempDir(), "jwks-ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
	if err := os.WriteFile(w.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{w.httpJWKS, w.tlsJWKS} {
		if parsed, _ := url.Parse(u); parsed.Hostname() != "127.0.0.1" {
			t.Fatalf("JWKS server %s is not on loopback", u)
		}
	}
	return w
}

func jwksHandler(doc string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, doc)
	})
}

// rule is a jwtRules entry for issuer, with extra YAML fields.
func (w *jwtWorld) rule(issuer, extra string) string {
	source := map[string]string{
		issuerHTTP:   "jwksUri: " + w.httpJWKS,
		issuerTLS:    "jwksUri: " + w.tlsJWKS,
		issuerInline: "jwks: '" + w.inlineJWKS + "'",
	}[issuer]
	return fmt.Sprintf("  - {issuer: %q, %s%s}\n", issuer, source, extra)
}

// jwtScenario is one HTTP listener of workload foo/app=backend: its
// RequestAuthentication rules and AuthorizationPolicy (either may be "").
type jwtScenario struct {
	rules  string
	policy string
}

// config is the scenario as Istio YAML.
func (s jwtScenario) config() string {
	doc := ""
	if s.rules != "" {
		doc += requestAuthn("jwt", "foo", "spec:\n  jwtRules:\n"+s.rules)
	}
	if s.policy != "" {
		doc += inlinePolicy(s.policy)
	}
	return doc
}

// jwtCase is one request: a token (sent as "Authorization: Bearer" unless
// header or param is set) and the status Envoy must answer. The body of a
// 401 must come from the JWT filter, that of a 403 from the RBAC filter
// unless audienceDenied (the JWT filter answers 403 to a token whose
// audience is not allowed).
type jwtCase struct {
	listener string
	name     string
	token    string
	header   string // header carrying the token as "Token T"
	param    string // query parameter carrying the token
	want     int
	// audienceDenied: the JWT filter itself answers 403.
	audienceDenied bool
}

func TestEnvoyEnforcesRequestAuthentication(t *testing.T) {
	w := newJWTWorld(t)
	scenarios := map[string]jwtScenario{
		"authn-only": {rules: w.rule(issuerHTTP, ", audiences: [api]")},
		"require-principal": {rules: w.rule(issuerHTTP, ""), policy: `
spec:
  rules:
  - from: [{source: {requestPrincipals: ["` + issuerHTTP + `/alice"]}}]`},
		"claims": {rules: w.rule(issuerHTTP, ""), policy: `
spec:
  rules:
  - when: [{key: "request.auth.claims[groups]", values: [admin]}]
  - when: [{key: "request.auth.claims[scope]", values: [write]}]`},
		"deny-role": {rules: w.rule(issuerHTTP, ""), policy: `
spec:
  action: DENY
  rules:
  - when: [{key: "request.auth.claims[role]", values: [guest]}]`},
		"inline-nested": {rules: w.rule(issuerInline, ""), policy: `
spec:
  rules:
  - from: [{source: {requestPrincipals: ["` + issuerInline + `/*"]}}]
    when:
    - {key: "request.auth.claims[org][team]", values: [core]}
    - {key: request.auth.audiences, values: [api]}
    - {key: request.auth.presenter, values: ["web-*"]}`},
		"three-providers": {rules: w.rule(issuerHTTP, "") + w.rule(issuerTLS, "") + w.rule(issuerInline, ""), policy: `
spec:
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]`},
		"custom-location": {
			rules: w.rule(issuerHTTP, `, fromHeaders: [{name: x-jwt, prefix: "Token "}], fromParams: [tok], outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]`),
			policy: `
spec:
  rules:
  - when: [{key: "request.headers[x-jwt-sub]", values: [alice]}]`},
		"no-key-source": {rules: `  - {issuer: issuer-discovery}` + "\n"},
	}
	tok := w.tokens(t)
	cases := []jwtCase{
		{"authn-only", "no token", "", "", "", 200, false},
		{"authn-only", "valid", tok.valid, "", "", 200, false},
		{"authn-only", "bad signature", tok.badSignature, "", "", 401, false},
		{"authn-only", "wrong issuer", tok.wrongIssuer, "", "", 401, false},
		{"authn-only", "expired", tok.expired, "", "", 401, false},
		{"authn-only", "wrong audience", tok.wrongAudience, "", "", 403, true},
		{"authn-only", "not a JWT", "not-a-jwt", "", "", 401, false},
		{"require-principal", "no token", "", "", "", 403, false},
		{"require-principal", "alice", tok.valid, "", "", 200, false},
		{"require-principal", "bob", tok.bob, "", "", 403, false},
		{"require-principal", "bad signature", tok.badSignature, "", "", 401, false},
		{"claims", "no token", "", "", "", 403, false},
		{"claims", "groups admin", tok.valid, "", "", 200, false},
		{"claims", "groups as a string", tok.adminString, "", "", 200, false},
		{"claims", "groups dev, scope read", tok.bob, "", "", 403, false},
		{"claims", "space-delimited scope", tok.writer, "", "", 200, false},
		{"deny-role", "no token", "", "", "", 200, false},
		{"deny-role", "role admin", tok.valid, "", "", 200, false},
		{"deny-role", "role guest", tok.guest, "", "", 403, false},
		{"inline-nested", "no token", "", "", "", 403, false},
		{"inline-nested", "team core", tok.inline, "", "", 200, false},
		{"inline-nested", "team other", tok.inlineOtherTeam, "", "", 403, false},
		{"inline-nested", "http issuer's token", tok.valid, "", "", 401, false},
		{"three-providers", "no token", "", "", "", 403, false},
		{"three-providers", "http jwks", tok.valid, "", "", 200, false},
		{"three-providers", "https jwks", tok.tls, "", "", 200, false},
		{"three-providers", "inline jwks", tok.inline, "", "", 200, false},
		{"three-providers", "bad signature", tok.badSignature, "", "", 401, false},
		{"custom-location", "header with prefix", tok.valid, "x-jwt", "", 200, false},
		{"custom-location", "query parameter", tok.valid, "", "tok", 200, false},
		{"custom-location", "default location is not read", tok.valid, "", "", 403, false},
		{"custom-location", "bad token in header", tok.badSignature, "x-jwt", "", 401, false},
		{"no-key-source", "no token", "", "", "", 200, false},
		{"no-key-source", "token", tok.discovery, "", "", 401, false},
	}
	addrs := startJWTEnvoy(t, w, scenarios)
	client := httpClient(nil)
	for _, c := range cases {
		t.Run(c.listener+"/"+c.name, func(t *testing.T) { c.check(t, client, addrs[c.listener]) })
	}
}

// startJWTEnvoy runs Envoy with one listener per scenario: the JWT filter,
// then the RBAC filters, then a 200 "ok".
func startJWTEnvoy(t *testing.T, w *jwtWorld, scenarios map[string]jwtScenario) map[string]string {
	t.Helper()
	tb := newTestBootstrap()
	for name, s := range scenarios {
		cfg := decodePolicies(t, s.config())
		labels := map[string]string{"app": "backend"}
		authns := RequestAuthenticationsFor(cfg, "foo", labels)
		filters := []*hcmv3.HttpFilter{JWTFilter(authns)}
		if filters[0] == nil {
			t.Fatalf("%s: no JWT filter", name)
		}
		tb.addClusters(jwksClusters(authns, w.caFile)...)
		tb.addHTTP(name, append(filters, HTTPFilters(For(cfg, "foo", labels), "cluster.local")...), nil)
	}
	return startEnvoy(t, tb)
}

func (c jwtCase) check(t *testing.T, client *http.Client, addr string) {
	t.Helper()
	target := "http://" + addr + "/data"
	if c.param != "" {
		target += "?" + url.Values{c.param: {c.token}}.Encode()
	}
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.header != "":
		req.Header.Set(c.header, "Token "+c.token)
	case c.param == "" && c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.want {
		t.Fatalf("status %d %q, want %d", resp.StatusCode, body, c.want)
	}
	if c.want == 401 && !strings.HasPrefix(string(body), "Jwt") {
		t.Errorf("401 body %q does not come from the JWT filter", body)
	}
	if c.audienceDenied && string(body) != "Audiences in Jwt are not allowed" {
		t.Errorf("403 body %q does not come from the JWT filter", body)
	}
	if c.want == 403 && !c.audienceDenied && !strings.Contains(string(body), "RBAC: access denied") {
		t.Errorf("403 body %q does not come from the RBAC filter", body)
	}
}

// jwtTokens are the tokens of the test, signed once.
type jwtTokens struct {
	valid, bob, adminString, writer, guest            string
	badSignature, wrongIssuer, expired, wrongAudience string
	tls, inline, inlineOtherTeam, discovery           string
}

func (w *jwtWorld) tokens(t *testing.T) jwtTokens {
	now := time.Now()
	claims := func(iss, sub string, extra map[string]any) map[string]any {
		c := map[string]any{"iss": iss, "sub": sub, "aud": "api", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	alice := claims(issuerHTTP, "alice", map[string]any{"groups": []string{"admin", "dev"}, "role": "admin"})
	inline := func(team string) map[string]any {
		return claims(issuerInline, "svc", map[string]any{"aud": []string{"api", "other"}, "azp": "web-app", "org": map[string]any{"team": team}})
	}
	return jwtTokens{
		valid:           w.httpKey.sign(t, alice),
		bob:             w.httpKey.sign(t, claims(issuerHTTP, "bob", map[string]any{"groups": []string{"dev"}, "scope": "read"})),
		adminString:     w.httpKey.sign(t, claims(issuerHTTP, "carol", map[string]any{"groups": "admin"})),
		writer:          w.httpKey.sign(t, claims(issuerHTTP, "dave", map[string]any{"scope": "read write"})),
		guest:           w.httpKey.sign(t, claims(issuerHTTP, "eve", map[string]any{"role": "guest"})),
		badSignature:    w.strangerKey.sign(t, alice),
		wrongIssuer:     w.httpKey.sign(t, claims("https://evil.test", "alice", nil)),
		expired:         w.httpKey.sign(t, claims(issuerHTTP, "alice", map[string]any{"exp": now.Add(-time.Hour).Unix()})),
		wrongAudience:   w.httpKey.sign(t, claims(issuerHTTP, "alice", map[string]any{"aud": "other"})),
		tls:             w.tlsKey.sign(t, claims(issuerTLS, "alice", nil)),
		inline:          w.inlineKey.sign(t, inline("core")),
		inlineOtherTeam: w.inlineKey.sign(t, inline("other")),
		discovery:       w.httpKey.sign(t, claims("issuer-discovery", "alice", nil)),
	}
}
