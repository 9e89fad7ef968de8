package translate

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Transport and application protocols filter chains match on.
const (
	rawBufferTransport = "raw_buffer"
	tlsTransport       = "tls"
)

// plaintextHTTPProtocols are what the HTTP inspector reports for cleartext
// HTTP/1.1 and HTTP/2.
var plaintextHTTPProtocols = []string{"http/1.1", "h2c"}

// chainSpec is a filter chain before it is built: what it matches and the
// network filters it runs.
type chainSpec struct {
	name         string
	serverNames  []string
	cidrs        []string
	appProtocols []string
	transport    string
	filters      []*listenerv3.Filter
	// transportSocket terminates TLS on the chain; nil for plaintext. Inbound
	// mTLS will set it.
	transportSocket *corev3.TransportSocket
}

// matchesAll reports whether the chain places no condition on connections.
func (c chainSpec) matchesAll() bool {
	return len(c.effectiveServerNames()) == 0 && len(c.cidrs) == 0 &&
		len(c.appProtocols) == 0 && c.transport == ""
}

// effectiveServerNames drops server names when "*" is among them: a full
// wildcard means any name.
func (c chainSpec) effectiveServerNames() []string {
	if containsString(c.serverNames, "*") {
		return nil
	}
	names := append([]string(nil), c.serverNames...)
	sort.Strings(names)
	return names
}

func (c chainSpec) build() *listenerv3.FilterChain {
	fc := &listenerv3.FilterChain{Name: c.name, Filters: c.filters, TransportSocket: c.transportSocket}
	if !c.matchesAll() {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{
			ServerNames:          c.effectiveServerNames(),
			PrefixRanges:         cidrRanges(c.cidrs),
			ApplicationProtocols: c.appProtocols,
			TransportProtocol:    c.transport,
		}
	}
	return fc
}

// key identifies what the chain matches; two chains with one key conflict
// and Envoy would reject the listener.
func (c chainSpec) key() string {
	var cidrs []string
	for _, r := range cidrRanges(c.cidrs) {
		cidrs = append(cidrs, r.GetAddressPrefix()+"/"+strconv.FormatUint(uint64(r.GetPrefixLen().GetValue()), 10))
	}
	sort.Strings(cidrs)
	return strings.Join([]string{
		strings.Join(c.effectiveServerNames(), ","), strings.Join(cidrs, ","),
		strings.Join(c.appProtocols, ","), c.transport,
	}, "|")
}

// mergeChains appends the incoming chains whose matches are new; a chain
// matching what an earlier one matches could never be reached.
func mergeChains(current, incoming []chainSpec) []chainSpec {
	seen := map[string]bool{}
	for _, c := range current {
		seen[c.key()] = true
	}
	for _, c := range incoming {
		if k := c.key(); !seen[k] {
			seen[k] = true
			current = append(current, c)
		}
	}
	return current
}

// cidrRanges parses addresses and CIDRs into Envoy ranges, masked; the
// unspecified address and unparsable values are skipped.
func cidrRanges(cidrs []string) []*corev3.CidrRange {
	var out []*corev3.CidrRange
	for _, s := range cidrs {
		prefix, ok := parsePrefix(s)
		if !ok || prefix.Addr().IsUnspecified() {
			continue
		}
		out = append(out, &corev3.CidrRange{
			AddressPrefix: prefix.Masked().Addr().String(),
			PrefixLen:     wrapperspb.UInt32(uint32(prefix.Bits())),
		})
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}
