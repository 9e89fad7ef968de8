package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// buildListeners is not written yet.
func buildListeners(idx *Index, p *model.Proxy, scope *Scope) []*listenerv3.Listener {
	return nil
}
