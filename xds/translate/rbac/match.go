package rbac

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	uritemplatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// errHTTPOnly makes a value unevaluable on TCP filters: an ALLOW rule
// holding it is dropped, a DENY rule loses it.
var errHTTPOnly = errors.New("is an HTTP attribute, which a TCP filter cannot evaluate")

// spiffePrefix starts every peer identity in the mesh's certificates.
const spiffePrefix = "spiffe://"

// uriTemplateExtension names the path template matcher inside RBAC.
const uriTemplateExtension = "envoy.path.match.uri_template.uri_template_matcher"

// stringMatch applies Istio's string rules: "*" is presence (non-empty),
// "*abc" a suffix, "abc*" a prefix, anything else exact.
func stringMatch(v string, ignoreCase bool) *matcherv3.StringMatcher {
	switch {
	case v == "*":
		return regexMatch(".+")
	case strings.HasPrefix(v, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v[1:]}, IgnoreCase: ignoreCase}
	case strings.HasSuffix(v, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v[:len(v)-1]}, IgnoreCase: ignoreCase}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}, IgnoreCase: ignoreCase}
}

// regexMatch is a full-string RE2 match.
func regexMatch(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

// globRegex quotes v for a regex, with each "*" standing for any run of
// characters in class (".*" or "[^/]*").
func globRegex(v, class string) string {
	parts := strings.Split(v, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return strings.Join(parts, class)
}

// authenticated matches the peer certificate's identity (URI SAN first).
func authenticated(m *matcherv3.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{
		Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: m},
	}}
}

// peerPrincipal matches an Istio principal ("TD/ns/NS/sa/SA") against the
// certificate's SPIFFE identity. "*" is any authenticated peer.
func peerPrincipal(v string) (*rbacv3.Principal, error) {
	switch {
	case v == "*":
		return authenticated(regexMatch(".+")), nil
	case strings.HasPrefix(v, "*"):
		return authenticated(regexMatch(regexp.QuoteMeta(spiffePrefix) + ".*" + regexp.QuoteMeta(v[1:]))), nil
	}
	return authenticated(stringMatch(spiffePrefix+v, false)), nil
}

// peerNamespace matches the namespace part of the peer's identity.
func peerNamespace(v string) (*rbacv3.Principal, error) {
	return authenticated(regexMatch(".*/ns/" + globRegex(v, ".*") + "/.*")), nil
}

// peerServiceAccount matches "NS/SA", or "SA" in the policy's namespace,
// allowing extra identity segments as Istio does.
func peerServiceAccount(policyNS string) func(string) (*rbacv3.Principal, error) {
	return func(v string) (*rbacv3.Principal, error) {
		ns, sa, ok := strings.Cut(v, "/")
		if !ok {
			ns, sa = policyNS, v
		}
		re := fmt.Sprintf("spiffe://.+/ns/%s/(.+/|)sa/%s(/.+)?", regexp.QuoteMeta(ns), regexp.QuoteMeta(sa))
		return authenticated(regexMatch(re)), nil
	}
}

// peerTrustDomain matches the trust domain of the peer's identity.
func peerTrustDomain(v string) (*rbacv3.Principal, error) {
	td := globRegex(v, "[^/]*")
	if v == "*" {
		td = "[^/]+"
	}
	return authenticated(regexMatch(regexp.QuoteMeta(spiffePrefix) + td + "/.*")), nil
}

// cidr parses a single address or a CIDR block.
func cidr(v string) (*corev3.CidrRange, error) {
	if !strings.Contains(v, "/") {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("bad IP %q: %w", v, err)
		}
		return &corev3.CidrRange{AddressPrefix: addr.String(), PrefixLen: wrapperspb.UInt32(uint32(addr.BitLen()))}, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return nil, fmt.Errorf("bad CIDR %q: %w", v, err)
	}
	p = p.Masked()
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}, nil
}

func directRemoteIP(v string) (*rbacv3.Principal, error) {
	c, err := cidr(v)
	if err != nil {
		return nil, err
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: c}}, nil
}

func remoteIP(v string) (*rbacv3.Principal, error) {
	c, err := cidr(v)
	if err != nil {
		return nil, err
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: c}}, nil
}

func destinationIP(v string) (*rbacv3.Permission, error) {
	c, err := cidr(v)
	if err != nil {
		return nil, err
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: c}}, nil
}

func destinationPort(v string) (*rbacv3.Permission, error) {
	port, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", v)
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: uint32(port)}}, nil
}

func serverName(v string) (*rbacv3.Permission, error) {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_RequestedServerName{RequestedServerName: stringMatch(v, false)}}, nil
}

// headerMatch applies Istio's string rules to one header; "*" is presence.
func headerMatch(name, v string, ignoreCase bool) *routev3.HeaderMatcher {
	if v == "*" {
		return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
	}
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch(v, ignoreCase)}}
}

func hostPermission(v string) (*rbacv3.Permission, error) {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: headerMatch(":authority", v, true)}}, nil
}

func methodPermission(v string) (*rbacv3.Permission, error) {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: headerMatch(":method", v, false)}}, nil
}

// requestHeader matches one value of the header named in key
// ("request.headers[NAME]").
func requestHeader(key string) func(string) (*rbacv3.Principal, error) {
	name := strings.ToLower(bracketName(key))
	return func(v string) (*rbacv3.Principal, error) {
		if name == "" {
			return nil, fmt.Errorf("bad key %q", key)
		}
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Header{Header: headerMatch(name, v, false)}}, nil
	}
}

// bracketName is NAME in "prefix[NAME]", or "".
func bracketName(key string) string {
	open := strings.Index(key, "[")
	if open < 0 || !strings.HasSuffix(key, "]") {
		return ""
	}
	return key[open+1 : len(key)-1]
}

// pathPermission matches the request path without its query: a {*}/{**}
// template through Envoy's URI template matcher, else Istio's string rules.
func pathPermission(v string) (*rbacv3.Permission, error) {
	if !strings.Contains(v, "{*}") && !strings.Contains(v, "{**}") {
		return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
			Rule: &matcherv3.PathMatcher_Path{Path: stringMatch(v, false)},
		}}}, nil
	}
	template := strings.NewReplacer("{**}", "**", "{*}", "*").Replace(v)
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UriTemplate{UriTemplate: &corev3.TypedExtensionConfig{
		Name: uriTemplateExtension, TypedConfig: typedAny(&uritemplatev3.UriTemplateMatchConfig{PathTemplate: template}),
	}}}, nil
}

// envoyMetadata matches dynamic metadata, for the experimental
// "experimental.envoy.filters.FILTER[KEY]" attribute: "[v]" matches one
// element of a list value, anything else a string value.
func envoyMetadata(key string) func(string) (*rbacv3.Permission, error) {
	filter, field, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(key, "experimental."), "]"), "[")
	return func(v string) (*rbacv3.Permission, error) {
		if filter == "" || field == "" {
			return nil, fmt.Errorf("bad key %q", key)
		}
		value := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: stringMatch(v, false)}}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") && len(v) > 2 {
			one := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: stringMatch(v[1:len(v)-1], false)}}
			value = &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
				MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: one},
			}}}
		}
		return &rbacv3.Permission{Rule: &rbacv3.Permission_Metadata{Metadata: &matcherv3.MetadataMatcher{
			Filter: filter,
			Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: field}}},
			Value:  value,
		}}}, nil
	}
}

// httpOnly makes match unevaluable on TCP filters.
func httpOnly[T proto.Message](forTCP bool, match func(string) (T, error)) func(string) (T, error) {
	if !forTCP {
		return match
	}
	return func(string) (T, error) {
		var zero T
		return zero, errHTTPOnly
	}
}
