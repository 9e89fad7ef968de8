package translate

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// buildRoutes is not written yet.
func buildRoutes(idx *Index, p *model.Proxy, scope *Scope) []*routev3.RouteConfiguration {
	return nil
}
