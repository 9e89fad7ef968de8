package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// sharedListeners builds the listeners every sidecar of the same outbound
// view has: the outbound ones of its plan (see planOutbound) and
// virtualOutbound when its traffic is captured. The proxy's inbound
// listeners (see inboundListeners) come on top. Gateways get the listeners
// of the Gateways that select them (see gatewayListeners).
func sharedListeners(idx *Index, p *model.Proxy, scope *Scope, targetPorts string) []*listenerv3.Listener {
	if p.Type == model.RouterProxy {
		return gatewayListeners(idx, p, scope, targetPorts)
	}
	out := outboundListeners(idx, p, scope)
	if !proxyCaptureNone(p) {
		out = append(out, virtualOutboundListener(p, outboundPolicyOf(scope)))
	}
	return out
}
