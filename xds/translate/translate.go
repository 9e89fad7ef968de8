package translate

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Resources is everything one proxy is served, each list sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Translate builds the resources of proxy p from the snapshot behind idx.
// A Translator gives the same result, sharing work between proxies.
//
// The outbound part of the resources depends on p only through its outbound
// view (see outboundView), the inbound part through that view and p's
// inbound targets (see inboundTargets).
func Translate(idx *Index, p *model.Proxy) (*Resources, error) {
	idx = idx.ForCluster(p.ClusterID)
	v := viewOf(idx, p)
	shared, err := buildShared(idx, v, buildUnits{})
	if err != nil {
		return nil, fmt.Errorf("translate proxy %s: %w", p.ID, err)
	}
	workload, err := buildWorkload(idx, v, shared.scope, inboundTargets(idx, p, shared.scope))
	if err != nil {
		return nil, fmt.Errorf("translate proxy %s: %w", p.ID, err)
	}
	return combine(shared, workload), nil
}

type validator interface {
	Validate() error
	GetName() string
}

// Validate runs each resource's generated Validate() and joins the failures.
func (r *Resources) Validate() error {
	var errs []error
	check := func(kind string, v validator) {
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", kind, v.GetName(), err))
		}
	}
	for _, l := range r.Listeners {
		check("listener", l)
	}
	for _, rc := range r.Routes {
		check("route", rc)
	}
	for _, c := range r.Clusters {
		check("cluster", c)
	}
	for _, s := range r.Secrets {
		check("secret", s)
	}
	for _, e := range r.Endpoints {
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %q: %w", e.GetClusterName(), err))
		}
	}
	return errors.Join(errs...)
}
