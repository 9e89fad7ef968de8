package server

import (
	"fmt"
	"net/http"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// envoyConfigDump renders what a proxy is served as the configs of Envoy's
// admin ConfigDump: dynamic clusters, endpoints, listeners and route
// configurations with the version they are served at, and secrets by name
// and version only, never their content. Its shape is that of Envoy's own
// /config_dump?include_eds, so the two can be compared field by field.
func envoyConfigDump(served *proxyResources) ([]*anypb.Any, error) {
	parts := []proto.Message{
		clustersDump(served.types[resource.ClusterType]),
		endpointsDump(served.types[resource.EndpointType]),
		listenersDump(served.types[resource.ListenerType]),
		routesDump(served.types[resource.RouteType]),
		secretsDump(served.types[resource.SecretType]),
	}
	out := make([]*anypb.Any, 0, len(parts))
	for _, m := range parts {
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("config dump %s: %w", m.ProtoReflect().Descriptor().Name(), err)
		}
		out = append(out, a)
	}
	return out, nil
}

func clustersDump(t *typeResources) *adminv3.ClustersConfigDump {
	d := &adminv3.ClustersConfigDump{}
	for _, r := range typeList(t) {
		d.DynamicActiveClusters = append(d.DynamicActiveClusters,
			&adminv3.ClustersConfigDump_DynamicCluster{VersionInfo: t.version, Cluster: r.any})
	}
	return d
}

func endpointsDump(t *typeResources) *adminv3.EndpointsConfigDump {
	d := &adminv3.EndpointsConfigDump{}
	for _, r := range typeList(t) {
		d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs,
			&adminv3.EndpointsConfigDump_DynamicEndpointConfig{VersionInfo: t.version, EndpointConfig: r.any})
	}
	return d
}

func listenersDump(t *typeResources) *adminv3.ListenersConfigDump {
	d := &adminv3.ListenersConfigDump{}
	for _, r := range typeList(t) {
		d.DynamicListeners = append(d.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name:        r.name,
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{VersionInfo: t.version, Listener: r.any},
		})
	}
	return d
}

func routesDump(t *typeResources) *adminv3.RoutesConfigDump {
	d := &adminv3.RoutesConfigDump{}
	for _, r := range typeList(t) {
		d.DynamicRouteConfigs = append(d.DynamicRouteConfigs,
			&adminv3.RoutesConfigDump_DynamicRouteConfig{VersionInfo: t.version, RouteConfig: r.any})
	}
	return d
}

// secretsDump names the secrets served, without their content.
func secretsDump(t *typeResources) *adminv3.SecretsConfigDump {
	d := &adminv3.SecretsConfigDump{}
	for _, r := range typeList(t) {
		d.DynamicActiveSecrets = append(d.DynamicActiveSecrets,
			&adminv3.SecretsConfigDump_DynamicSecret{Name: r.name, VersionInfo: t.version})
	}
	return d
}

// serveEnvoyConfigDump serves /debug/envoy_config_dump?proxy=ID: what the
// proxy is served, as an admin.v3.ConfigDump in Envoy's JSON (field names
// as in the proto files).
func (s *Server) serveEnvoyConfigDump(w http.ResponseWriter, r *http.Request) {
	served, ok := s.servedFor(w, r)
	if !ok {
		return
	}
	configs, err := envoyConfigDump(served)
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error()+"\n")
		return
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true, Indent: "  "}.Marshal(&adminv3.ConfigDump{Configs: configs})
	if err != nil {
		writeText(w, http.StatusInternalServerError, "config dump: "+err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}
