package xdsload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"
)

// fakeControlPlane is a minimal ADS server for testing the load generator
// without Isthmus: go-control-plane's SnapshotCache, one snapshot per
// namespace (as a Sidecar "./*" scopes it), rebuilt from the meshgen YAML
// in a directory whenever a file there changes. It understands only what
// meshgen writes.
type fakeControlPlane struct {
	Addr string

	dir     string
	cache   cachev3.SnapshotCache
	version int
	// corrupt makes every cluster invalid (connect_timeout 0s).
	corrupt bool
}

// namespaceHash keys snapshots by the namespace in the node id.
type namespaceHash struct{}

func (namespaceHash) ID(node *corev3.Node) string {
	parts := strings.Split(node.GetId(), "~")
	if len(parts) != 4 {
		return ""
	}
	_, ns, _ := strings.Cut(parts[2], ".")
	return ns
}

func startFakeControlPlane(t *testing.T, dir string, corrupt bool) *fakeControlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeControlPlane{dir: dir, corrupt: corrupt, cache: cachev3.NewSnapshotCache(true, namespaceHash{}, nil)}
	if err := f.rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Addr = lis.Addr().String()
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, f.cache, nil))
	go gs.Serve(lis)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.watch(ctx, t)
	}()
	t.Cleanup(func() {
		cancel()
		gs.Stop()
		wg.Wait()
	})
	return f
}

// watch rebuilds the snapshots when the directory's files change.
func (f *fakeControlPlane) watch(ctx context.Context, t *testing.T) {
	last := f.signature()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		if sig := f.signature(); sig != last {
			last = sig
			// A rebuild cut short by shutdown is not a failure.
			if err := f.rebuild(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("fake control plane: %v", err)
			}
		}
	}
}

func (f *fakeControlPlane) signature() string {
	var b strings.Builder
	filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
			}
		}
		return nil
	})
	return b.String()
}

// fakeService is what the fake reads of one ServiceEntry and its
// VirtualService.
type fakeService struct {
	ns, host  string
	endpoints map[string]string // address -> version
	weights   map[string]uint32 // subset -> weight
}

func (f *fakeControlPlane) rebuild(ctx context.Context) error {
	services, strict, err := readMesh(f.dir)
	if err != nil {
		return err
	}
	f.version++
	byNS := map[string][]*fakeService{}
	for _, s := range services {
		byNS[s.ns] = append(byNS[s.ns], s)
	}
	for ns, list := range byNS {
		snap, err := cachev3.NewSnapshot(fmt.Sprint(f.version), f.resources(list, strict))
		if err != nil {
			return err
		}
		if err := f.cache.SetSnapshot(ctx, ns, snap); err != nil {
			return err
		}
	}
	return nil
}

// readMesh parses the meshgen YAML of dir.
func readMesh(dir string) (map[string]*fakeService, bool, error) {
	services := map[string]*fakeService{}
	strict := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the walk listed it
		}
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			strict = readObject(obj, services) || strict
		}
		return nil
	})
	return services, strict, err
}

// readObject records one object; it reports a STRICT PeerAuthentication.
func readObject(obj map[string]any, services map[string]*fakeService) bool {
	spec, _ := obj["spec"].(map[string]any)
	ns := obj["metadata"].(map[string]any)["namespace"].(string)
	switch obj["kind"] {
	case "ServiceEntry":
		host := spec["hosts"].([]any)[0].(string)
		svc := service(services, ns, host)
		for _, e := range list(spec["endpoints"]) {
			labels := e["labels"].(map[string]any)
			svc.endpoints[e["address"].(string)] = labels["version"].(string)
		}
	case "VirtualService":
		host := spec["hosts"].([]any)[0].(string)
		svc := service(services, ns, host)
		for _, route := range list(list(spec["http"])[0]["route"]) {
			dest := route["destination"].(map[string]any)
			svc.weights[dest["subset"].(string)] = uint32(route["weight"].(float64))
		}
	case "PeerAuthentication":
		return spec["mtls"].(map[string]any)["mode"] == "STRICT"
	}
	return false
}

func service(services map[string]*fakeService, ns, host string) *fakeService {
	if s, ok := services[host]; ok {
		return s
	}
	s := &fakeService{ns: ns, host: host, endpoints: map[string]string{}, weights: map[string]uint32{}}
	services[host] = s
	return s
}

func list(v any) []map[string]any {
	var out []map[string]any
	items, _ := v.([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any))
	}
	return out
}

// resources builds, with Istio's names, what a proxy of the namespace gets.
func (f *fakeControlPlane) resources(services []*fakeService, strict bool) map[resource.Type][]types.Resource {
	sort.Slice(services, func(i, j int) bool { return services[i].host < services[j].host })
	out := map[resource.Type][]types.Resource{}
	routes := &routev3.RouteConfiguration{Name: "8080"}
	for _, s := range services {
		for _, subset := range []string{"", "v1", "v2", "v3"} {
			name := outboundCluster(8080, subset, s.host)
			out[resource.ClusterType] = append(out[resource.ClusterType], f.cluster(name))
			out[resource.EndpointType] = append(out[resource.EndpointType], assignment(name, s, subset))
		}
		routes.VirtualHosts = append(routes.VirtualHosts, virtualHost(s))
	}
	out[resource.RouteType] = []types.Resource{routes}
	out[resource.ListenerType] = []types.Resource{listener(strict)}
	return out
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func (f *fakeControlPlane) cluster(name string) *clusterv3.Cluster {
	timeout := time.Second
	if f.corrupt {
		timeout = 0
	}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{ServiceName: name, EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(timeout),
	}
}

func assignment(name string, s *fakeService, subset string) *endpointv3.ClusterLoadAssignment {
	var addrs []string
	for addr, version := range s.endpoints {
		if subset == "" || subset == version {
			addrs = append(addrs, addr)
		}
	}
	sort.Strings(addrs)
	group := &endpointv3.LocalityLbEndpoints{}
	for _, a := range addrs {
		group.LbEndpoints = append(group.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: a, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
				}}},
			}},
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{group}}
}

func virtualHost(s *fakeService) *routev3.VirtualHost {
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: outboundCluster(8080, "", s.host)}}
	if len(s.weights) > 0 {
		wc := &routev3.WeightedCluster{}
		for _, subset := range []string{"v1", "v2", "v3"} {
			if w, ok := s.weights[subset]; ok {
				wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
					Name: outboundCluster(8080, subset, s.host), Weight: wrapperspb.UInt32(w),
				})
			}
		}
		action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	return &routev3.VirtualHost{
		Name:    s.host + ":8080",
		Domains: []string{s.host, s.host + ":8080"},
		Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: action},
		}},
	}
}

func listener(strict bool) *listenerv3.Listener {
	router, _ := anypb.New(&routerv3.Router{})
	statPrefix := "outbound_0.0.0.0_8080"
	if strict {
		statPrefix += "_strict"
	}
	hcm, _ := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: "8080", ConfigSource: adsSource(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	return &listenerv3.Listener{
		Name: "0.0.0.0_8080",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
	}
}
