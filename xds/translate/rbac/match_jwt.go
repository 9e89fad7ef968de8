package rbac

import (
	"fmt"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// JWT attributes match the payload JWTFilter stores in dynamic metadata
// (filter JWTFilterName, key JWTPayloadKey). A request without a verified
// token has no payload and matches none of them (it does match their not*
// forms).

// claimsKeyPrefix starts "request.auth.claims[NAME]" condition keys.
const claimsKeyPrefix = "request.auth.claims"

// anyValue matches a present, non-empty string.
func anyValue() *matcherv3.StringMatcher { return regexMatch(".+") }

// requestPrincipal matches Istio's "ISS/SUB" request principal, split at
// the last "/" (issuers are often URLs): "*" is any verified token, "*X" a
// suffix and "X*" a prefix of the whole principal, as Istio applies them to
// the issuer and subject claims.
func requestPrincipal(v string) (*rbacv3.Principal, error) {
	iss, sub := principalMatchers(v)
	return principalOps.and([]*rbacv3.Principal{
		jwtClaim([]string{"iss"}, stringValue(iss)),
		jwtClaim([]string{"sub"}, stringValue(sub)),
	}), nil
}

// principalMatchers are the issuer and subject matchers of v.
func principalMatchers(v string) (iss, sub *matcherv3.StringMatcher) {
	cut := strings.LastIndex(v, "/")
	issuer, subject := v, ""
	if cut >= 0 {
		issuer, subject = v[:cut], v[cut+1:]
	}
	switch {
	case v == "*":
		return anyValue(), anyValue()
	case strings.HasPrefix(v, "*") && cut < 0:
		return anyValue(), suffix(v[1:])
	case strings.HasPrefix(v, "*"):
		if issuer == "*" {
			return anyValue(), exact(subject)
		}
		return suffix(issuer[1:]), exact(subject)
	case strings.HasSuffix(v, "*") && cut < 0:
		return prefix(v[:len(v)-1]), anyValue()
	case strings.HasSuffix(v, "*"):
		if subject == "*" {
			return exact(issuer), anyValue()
		}
		return exact(issuer), prefix(subject[:len(subject)-1])
	}
	return exact(issuer), exact(subject)
}

func exact(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func prefix(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v}}
}

func suffix(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v}}
}

// claimMatch matches one value of the claim at path (nested objects), with
// Istio's string rules, whether the claim is a string or a list of strings.
func claimMatch(path ...string) func(string) (*rbacv3.Principal, error) {
	return func(v string) (*rbacv3.Principal, error) {
		for _, p := range path {
			if p == "" {
				return nil, fmt.Errorf("empty claim name in %q", path)
			}
		}
		return jwtClaim(path, stringOrList(stringMatch(v, false))), nil
	}
}

// claimCondition matches the claim named in key: "request.auth.claims[a]",
// or "request.auth.claims[a][b]" for claim b nested in claim a.
func claimCondition(key string) func(string) (*rbacv3.Principal, error) {
	path, err := claimPath(strings.TrimPrefix(key, claimsKeyPrefix))
	if err != nil {
		return func(string) (*rbacv3.Principal, error) { return nil, err }
	}
	return claimMatch(path...)
}

// claimPath reads "[a][b]…" as the path a, b; text that is not such a
// sequence is one name within its outer brackets, as Istio reads it.
func claimPath(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("claim %q is not of the form [NAME]", s)
	}
	var path []string
	for rest := s; rest != ""; {
		end := strings.Index(rest, "]")
		if rest[0] != '[' || end < 0 || strings.Contains(rest[1:end], "[") {
			return []string{s[1 : len(s)-1]}, nil
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	return path, nil
}

func stringValue(m *matcherv3.StringMatcher) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: m}}
}

// stringOrList matches a string value, or a list holding a matching one.
func stringOrList(m *matcherv3.StringMatcher) *matcherv3.ValueMatcher {
	list := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
		MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: stringValue(m)},
	}}}
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_OrMatch{OrMatch: &matcherv3.OrMatcher{
		ValueMatchers: []*matcherv3.ValueMatcher{list, stringValue(m)},
	}}}
}

// jwtClaim matches the claim at path of the verified token's payload.
func jwtClaim(path []string, value *matcherv3.ValueMatcher) *rbacv3.Principal {
	segments := []*matcherv3.MetadataMatcher_PathSegment{metadataKey(JWTPayloadKey)}
	for _, p := range path {
		segments = append(segments, metadataKey(p))
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_SourcedMetadata{SourcedMetadata: &rbacv3.SourcedMetadata{
		MetadataMatcher: &matcherv3.MetadataMatcher{Filter: JWTFilterName, Path: segments, Value: value},
	}}}
}

func metadataKey(k string) *matcherv3.MetadataMatcher_PathSegment {
	return &matcherv3.MetadataMatcher_PathSegment{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: k}}
}
