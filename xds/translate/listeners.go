package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// buildListeners builds a sidecar's listeners: the outbound ones of its plan
// (see planOutbound), virtualOutbound when its traffic is captured, and the
// inbound ones. Gateways get none yet.
func buildListeners(idx *Index, p *model.Proxy, scope *Scope) []*listenerv3.Listener {
	if p.Type == model.RouterProxy {
		// TODO: gateway listeners.
		return nil
	}
	out := outboundListeners(idx, p, scope)
	if !proxyCaptureNone(p) {
		out = append(out, virtualOutboundListener(p, outboundPolicyOf(scope)))
	}
	return append(out, inboundListeners(idx, p, scope)...)
}
