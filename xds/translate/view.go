package translate

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// outboundView is everything about a proxy that translation reads, apart
// from its inbound targets (see inboundTargets): the outbound part of its
// resources depends on the view alone, the inbound part on the view and the
// targets. Proxies with equal views are given the same outbound resources,
// so a Translator builds them once per view.
//
// Translation sees the proxy only through proxy(), which carries these
// fields and nothing else: a new read of another proxy field reads the zero
// value, which the golden tests show, until the field is added here. Labels
// are reduced to those some selector can tell apart (see
// Index.relevantLabels); a new kind of selector matched against proxy
// labels must be listed there.
type outboundView struct {
	index        *Index // the proxy's cluster's view of the mesh (see Index.ForCluster)
	proxyType    model.ProxyType
	namespace    string
	dnsDomain    string
	sidecar      policy.Key // the Sidecar that applies to the proxy; the zero key for none
	interception model.InterceptionMode
	unprivileged bool
	ipv4, ipv6   bool   // families of the proxy's addresses
	labels       string // the proxy's relevant labels (see Index.relevantLabels), encoded
	locality     string // where the proxy runs, for locality load balancing
	network      string // the proxy's network, for multi-network endpoints
	targetPorts  string // a gateway's Service port mapping (see gatewayTargetPorts)
}

// sidecarKey is the key of a Sidecar, the zero key for none.
func sidecarKey(o *policy.Object) policy.Key {
	if o == nil {
		return policy.Key{}
	}
	return o.Key
}

// Stand-in addresses of a view's proxy: only their family means anything.
const (
	viewIPv4 = "0.0.0.0"
	viewIPv6 = "::"
)

// viewOf derives the outbound view of p.
func viewOf(idx *Index, p *model.Proxy) outboundView {
	v := outboundView{
		index:        idx,
		proxyType:    p.Type,
		namespace:    p.Namespace,
		dnsDomain:    p.DNSDomain,
		sidecar:      sidecarKey(idx.SidecarFor(p)),
		interception: p.InterceptionMode,
		unprivileged: proxyUnprivileged(p),
		labels:       encodeLabels(idx.relevantLabels(p.Namespace, p.Labels)),
		locality:     p.Locality,
		network:      p.Network,
		targetPorts:  gatewayTargetPorts(idx, p),
	}
	v.ipv4, v.ipv6 = addressFamilies(p.IPAddresses)
	return v
}

// addressFamilies reports which families addresses ips (unparsable ones
// ignored) are of.
func addressFamilies(ips []string) (ipv4, ipv6 bool) {
	for _, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		switch {
		case err != nil:
		case addr.Unmap().Is4():
			ipv4 = true
		default:
			ipv6 = true
		}
	}
	return ipv4, ipv6
}

// proxy is the proxy the shared part of translation is built for: the
// view's fields, with stand-in addresses of the view's families.
func (v outboundView) proxy() *model.Proxy {
	p := &model.Proxy{
		Type:             v.proxyType,
		Namespace:        v.namespace,
		DNSDomain:        v.dnsDomain,
		InterceptionMode: v.interception,
		Labels:           decodeLabels(v.labels),
		Locality:         v.locality,
		Network:          v.network,
	}
	p.IPAddresses = standInAddresses(v.ipv4, v.ipv6)
	if v.unprivileged {
		p.Metadata = map[string]any{"UNPRIVILEGED_POD": "true"}
	}
	return p
}

// standInAddresses are addresses of the families given, for a proxy built
// for a view or an input: only their family means anything.
func standInAddresses(ipv4, ipv6 bool) []string {
	var out []string
	if ipv4 {
		out = append(out, viewIPv4)
	}
	if ipv6 {
		out = append(out, viewIPv6)
	}
	return out
}

// Labels are encoded as "k1\x00v1\x00k2\x00v2..." in key order.
const labelSeparator = "\x00"

func encodeLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k, labels[k])
	}
	return strings.Join(parts, labelSeparator)
}

func decodeLabels(s string) map[string]string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, labelSeparator)
	out := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		out[parts[i]] = parts[i+1]
	}
	return out
}
