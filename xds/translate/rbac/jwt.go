package rbac

import (
	"cmp"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	security "istio.io/api/security/v1beta1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// Names of the JWT configuration, as Istio's.
const (
	// JWTFilterName is the Envoy JWT filter, and the dynamic metadata
	// namespace it writes verified payloads to.
	JWTFilterName = "envoy.filters.http.jwt_authn"
	// JWTPayloadKey holds the verified token's payload in that namespace.
	JWTPayloadKey = "payload"
	// jwtProviderPrefix names the providers "origins-0", "origins-1", …
	jwtProviderPrefix = "origins-"
)

// Istio's JWKS fetch settings: a request timeout unless the rule sets one,
// and how long Envoy keeps a fetched key set.
const (
	defaultJWKSTimeout = 5 * time.Second
	jwksCacheDuration  = 5 * time.Minute
)

// defaultSpaceDelimitedClaims are the claims Istio always splits into lists
// ("scope": "a b" matches the value "a").
var defaultSpaceDelimitedClaims = []string{"permission", "scope"}

// JWTFilter returns the envoy.filters.http.jwt_authn filter enforcing the
// JWT rules of requestAuthns (as selected by RequestAuthenticationsFor), or
// nil when they hold none. It must run before the RBAC filters of
// HTTPFilters, which read the payload it stores. A request without a token
// passes (authorization decides); a request whose token no provider
// verifies is rejected with 401 (403 when only its audience is wrong).
func JWTFilter(requestAuthns []*policy.Object) *hcmv3.HttpFilter {
	rules := jwtRules(requestAuthns)
	if len(rules) == 0 {
		return nil
	}
	cfg := &jwtv3.JwtAuthentication{Providers: map[string]*jwtv3.JwtProvider{}, BypassCorsPreflight: true}
	var names []string
	for i, r := range rules {
		name := jwtProviderPrefix + strconv.Itoa(i)
		cfg.Providers[name] = jwtProvider(r)
		names = append(names, name)
	}
	cfg.Rules = []*jwtv3.RequirementRule{{
		Match:           &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		RequirementType: &jwtv3.RequirementRule_Requires{Requires: jwtRequirement(names)},
	}}
	return &hcmv3.HttpFilter{Name: JWTFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(cfg)}}
}

// jwtRules merges the rules of every RequestAuthentication, ordered by
// issuer (stable, so equal issuers keep the policies' order), as Istio does.
func jwtRules(requestAuthns []*policy.Object) []*security.JWTRule {
	var rules []*security.JWTRule
	for _, o := range requestAuthns {
		if ra, ok := o.Spec.(*security.RequestAuthentication); ok {
			rules = append(rules, ra.GetJwtRules()...)
		}
	}
	slices.SortStableFunc(rules, func(a, b *security.JWTRule) int { return cmp.Compare(a.GetIssuer(), b.GetIssuer()) })
	return rules
}

// jwtRequirement is Istio's: each provider's token, when present, must be
// valid (provider OR allow_missing, for all providers); the outer OR lets a
// token pass when providers share a location and only one can verify it.
func jwtRequirement(providers []string) *jwtv3.JwtRequirement {
	var each, anyOf []*jwtv3.JwtRequirement
	for _, name := range providers {
		byName := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: name}}
		allowMissing := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}}
		each = append(each, requiresAny(byName, allowMissing))
		anyOf = append(anyOf, byName)
	}
	if len(each) == 1 {
		return each[0]
	}
	all := &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAll{
		RequiresAll: &jwtv3.JwtRequirementAndList{Requirements: each},
	}}
	return requiresAny(append(anyOf, all)...)
}

func requiresAny(reqs ...*jwtv3.JwtRequirement) *jwtv3.JwtRequirement {
	return &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_RequiresAny{
		RequiresAny: &jwtv3.JwtRequirementOrList{Requirements: reqs},
	}}
}

// jwtProvider translates one jwtRule. The verified payload goes to dynamic
// metadata under JWTPayloadKey, where the RBAC filters match it.
func jwtProvider(r *security.JWTRule) *jwtv3.JwtProvider {
	p := &jwtv3.JwtProvider{
		Issuer:                     r.GetIssuer(),
		Audiences:                  r.GetAudiences(),
		Forward:                    r.GetForwardOriginalToken(),
		ForwardPayloadHeader:       r.GetOutputPayloadToHeader(),
		PayloadInMetadata:          JWTPayloadKey,
		NormalizePayloadInMetadata: &jwtv3.JwtProvider_NormalizePayload{SpaceDelimitedClaims: spaceDelimitedClaims(r.GetSpaceDelimitedClaims())},
		FromParams:                 r.GetFromParams(),
		FromCookies:                r.GetFromCookies(),
	}
	setJWKSSource(p, r)
	for _, h := range r.GetFromHeaders() {
		p.FromHeaders = append(p.FromHeaders, &jwtv3.JwtHeader{Name: h.GetName(), ValuePrefix: h.GetPrefix()})
	}
	for _, c := range r.GetOutputClaimToHeaders() {
		p.ClaimToHeaders = append(p.ClaimToHeaders, &jwtv3.JwtClaimToHeader{HeaderName: c.GetHeader(), ClaimName: c.GetClaim()})
	}
	return p
}

// spaceDelimitedClaims are Istio's defaults plus the rule's, sorted.
func spaceDelimitedClaims(extra []string) []string {
	out := slices.Concat(defaultSpaceDelimitedClaims, extra)
	slices.Sort(out)
	return slices.Compact(out)
}

// setJWKSSource gives p the rule's inline key set, or its jwksUri fetched
// by Envoy through the JWKS cluster (see JWKSClusters). A rule with neither needs
// OpenID discovery, which Isthmus does not do: like Istio when it cannot
// fetch the keys, it gets a key set nobody can sign for, so its tokens are
// rejected while requests without one pass.
func setJWKSSource(p *jwtv3.JwtProvider, r *security.JWTRule) {
	if r.GetJwks() != "" {
		p.JwksSourceSpecifier = inlineJWKS(r.GetJwks())
		return
	}
	if r.GetJwksUri() == "" {
		slog.Debug("rbac: jwtRule without jwks or jwksUri, its tokens are rejected", "issuer", r.GetIssuer())
		p.JwksSourceSpecifier = inlineJWKS(unverifiableJWKS(r.GetIssuer()))
		return
	}
	ep, err := parseJWKSURI(r.GetJwksUri())
	if err != nil {
		slog.Debug("rbac: bad jwksUri, its tokens are rejected", "issuer", r.GetIssuer(), "reason", err)
		p.JwksSourceSpecifier = inlineJWKS(unverifiableJWKS(r.GetIssuer()))
		return
	}
	p.JwksSourceSpecifier = remoteJWKS(r, ep)
}

// remoteJWKS fetches the rule's jwksUri through the cluster of ep.
func remoteJWKS(r *security.JWTRule, ep jwksEndpoint) *jwtv3.JwtProvider_RemoteJwks {
	timeout := defaultJWKSTimeout
	if r.GetTimeout() != nil {
		timeout = r.GetTimeout().AsDuration()
	}
	return &jwtv3.JwtProvider_RemoteJwks{RemoteJwks: &jwtv3.RemoteJwks{
		HttpUri: &corev3.HttpUri{
			Uri:              r.GetJwksUri(),
			HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: ep.clusterName()},
			Timeout:          durationpb.New(timeout),
		},
		CacheDuration: durationpb.New(jwksCacheDuration),
	}}
}

func inlineJWKS(jwks string) *jwtv3.JwtProvider_LocalJwks {
	return &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{
		Specifier: &corev3.DataSource_InlineString{InlineString: jwks},
	}}
}

// unverifiableJWKS is a well-formed key set holding one 2048-bit RSA
// modulus derived from the issuer by hashing: nobody knows its factors, so
// no token verifies against it.
func unverifiableJWKS(issuer string) string {
	var n []byte
	for block := sha512.Sum512([]byte("isthmus: no JWKS for issuer " + issuer)); len(n) < 256; block = sha512.Sum512(block[:]) {
		n = append(n, block[:]...)
	}
	n[0] |= 0x80
	n[len(n)-1] |= 1
	key := map[string]string{"kty": "RSA", "alg": "RS256", "e": "AQAB", "n": base64.RawURLEncoding.EncodeToString(n)}
	doc, err := json.Marshal(map[string]any{"keys": []any{key}})
	if err != nil {
		panic(fmt.Sprintf("marshal JWKS: %v", err))
	}
	return string(doc)
}
