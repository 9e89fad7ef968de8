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
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// fakeControlPlane is a minimal ADS server for testing the load generator
// without Isthmus: go-control-plane's SnapshotCache, one snapshot per
// namespace (as a Sidecar "./*" scopes it), rebuilt from the meshgen YAML
// in a directory whenever a file there changes. It understands only what
// meshgen writes. With a STRICT PeerAuthentication, clusters and the
// listener carry TLS transport sockets that reference the SDS secrets
// "default" and "ROOTCA" over ADS, and the snapshots hold those secrets.
type fakeControlPlane struct {
	Addr string

	dir   string
	cache cachev3.SnapshotCache
	// corrupt makes every cluster invalid (connect_timeout 0s).
	corrupt bool
	// omitSecret names a referenced secret the snapshots leave out.
	omitSecret string

	mu      sync.Mutex // serialises rebuilds; guards what follows
	version int
	// secretGen is the generation of the certificate the secrets carry.
	secretGen int
	// secretSubscribers records, per secret name, the streams that asked
	// for it.
	secretSubscribers map[string]map[int64]bool
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

func startFakeControlPlane(t testing.TB, dir string, corrupt bool) *fakeControlPlane {
	t.Helper()
	return startFake(t, &fakeControlPlane{dir: dir, corrupt: corrupt})
}

// startFake serves f until the test ends.
func startFake(t testing.TB, f *fakeControlPlane) *fakeControlPlane {
	t.Helper()
	stop, err := f.serve(func(err error) { t.Errorf("fake control plane: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return f
}

// serve builds the snapshots, listens on a loopback port and rebuilds on
// every change of the directory; failed rebuilds go to onError. stop ends
// it all.
func (f *fakeControlPlane) serve(onError func(error)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cache = cachev3.NewSnapshotCache(true, namespaceHash{}, nil)
	if err := f.rebuild(ctx); err != nil {
		cancel()
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	f.Addr = lis.Addr().String()
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, serverv3.NewServer(ctx, f.cache, f.callbacks()))
	go gs.Serve(lis)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.watch(ctx, onError)
	}()
	return func() {
		cancel()
		gs.Stop()
		wg.Wait()
	}, nil
}

// watch rebuilds the snapshots when the directory's files change.
func (f *fakeControlPlane) watch(ctx context.Context, onError func(error)) {
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
				onError(err)
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

// callbacks record which streams subscribe to which secrets.
func (f *fakeControlPlane) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamRequestFunc: func(stream int64, req *discoveryv3.DiscoveryRequest) error {
			if req.GetTypeUrl() == resource.SecretType {
				f.recordSecrets(stream, req.GetResourceNames())
			}
			return nil
		},
		StreamDeltaRequestFunc: func(stream int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			if req.GetTypeUrl() == resource.SecretType {
				f.recordSecrets(stream, req.GetResourceNamesSubscribe())
			}
			return nil
		},
	}
}

func (f *fakeControlPlane) recordSecrets(stream int64, names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secretSubscribers == nil {
		f.secretSubscribers = map[string]map[int64]bool{}
	}
	for _, name := range names {
		if f.secretSubscribers[name] == nil {
			f.secretSubscribers[name] = map[int64]bool{}
		}
		f.secretSubscribers[name][stream] = true
	}
}

// secretStreams is how many streams asked for the secret name.
func (f *fakeControlPlane) secretStreams(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.secretSubscribers[name])
}

// rotateSecrets serves the secrets with a new certificate.
func (f *fakeControlPlane) rotateSecrets(ctx context.Context) error {
	f.mu.Lock()
	f.secretGen++
	f.mu.Unlock()
	return f.rebuild(ctx)
}

func (f *fakeControlPlane) rebuild(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
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
		res, err := f.resources(list, strict)
		if err != nil {
			return err
		}
		snap, err := cachev3.NewSnapshot(fmt.Sprint(f.version), res)
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
func (f *fakeControlPlane) resources(services []*fakeService, strict bool) (map[resource.Type][]types.Resource, error) {
	sort.Slice(services, func(i, j int) bool { return services[i].host < services[j].host })
	out := map[resource.Type][]types.Resource{}
	routes := &routev3.RouteConfiguration{Name: "8080"}
	for _, s := range services {
		for _, subset := range []string{"", "v1", "v2", "v3"} {
			name := outboundCluster(8080, subset, s.host)
			c := f.cluster(name)
			if strict {
				c.TransportSocketMatches = istioMutualMatches(s.host)
			}
			out[resource.ClusterType] = append(out[resource.ClusterType], c)
			out[resource.EndpointType] = append(out[resource.EndpointType], assignment(name, s, subset))
		}
		routes.VirtualHosts = append(routes.VirtualHosts, virtualHost(s))
	}
	out[resource.RouteType] = []types.Resource{routes}
	out[resource.ListenerType] = []types.Resource{listener(strict)}
	if strict {
		secrets, err := f.secrets()
		if err != nil {
			return nil, err
		}
		out[resource.SecretType] = secrets
	}
	return out, nil
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
	chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
	}}}
	if strict {
		chain.TransportSocket = downstreamTLS()
	}
	return &listenerv3.Listener{
		Name: "0.0.0.0_8080",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
		}}},
		FilterChains: []*listenerv3.FilterChain{chain},
	}
}

// The secrets a STRICT mesh's TLS contexts reference, as Istio names them.
const (
	certSecret = "default"
	rootSecret = "ROOTCA"
)

func sdsOverADS(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

// istioMutualMatches are Istio's auto-mTLS transport socket matches: TLS
// with the workload certificate toward endpoints labelled tlsMode=istio,
// plain text otherwise. The TLS context validates peers with the combined
// validation context, as Istio does.
func istioMutualMatches(host string) []*clusterv3.Cluster_TransportSocketMatch {
	tls, _ := anypb.New(&tlsv3.UpstreamTlsContext{
		Sni: "outbound_.8080_._." + host,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsOverADS(certSecret)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         &tlsv3.CertificateValidationContext{},
					ValidationContextSdsSecretConfig: sdsOverADS(rootSecret),
				},
			},
		},
	})
	raw, _ := anypb.New(&rawbufferv3.RawBuffer{})
	match, _ := structpb.NewStruct(map[string]any{"tlsMode": "istio"})
	return []*clusterv3.Cluster_TransportSocketMatch{
		{Name: "tlsMode-istio", Match: match, TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tls},
		}},
		{Name: "tlsMode-disabled", Match: &structpb.Struct{}, TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: raw},
		}},
	}
}

// downstreamTLS is a listener's mTLS transport socket, validating peers
// with the plain validation_context_sds_secret_config.
func downstreamTLS() *corev3.TransportSocket {
	tls, _ := anypb.New(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsOverADS(certSecret)},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: sdsOverADS(rootSecret),
			},
		},
	})
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tls}}
}

// secrets are the workload certificate and the root of trust, but
// f.omitSecret. The caller holds f.mu.
func (f *fakeControlPlane) secrets() ([]types.Resource, error) {
	cert, key, err := selfSignedCert(f.secretGen)
	if err != nil {
		return nil, err
	}
	inline := func(b []byte) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
	}
	all := []*tlsv3.Secret{
		{Name: certSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline(cert), PrivateKey: inline(key),
		}}},
		{Name: rootSecret, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inline(cert),
		}}},
	}
	var out []types.Resource
	for _, s := range all {
		if s.Name != f.omitSecret {
			out = append(out, s)
		}
	}
	return out, nil
}

var selfSignedCerts sync.Map // generation -> [2][]byte{cert, key}

// selfSignedCert returns, PEM-encoded, a workload certificate and its key
// from a throwaway CA; each generation has its own.
func selfSignedCert(gen int) (cert, key []byte, err error) {
	if pair, ok := selfSignedCerts.Load(gen); ok {
		return pair.([2][]byte)[0], pair.([2][]byte)[1], nil
	}
	ca, err := localmesh.NewTestCA()
	if err != nil {
		return nil, nil, err
	}
	cert, key, err = ca.Issue(nil, []string{"spiffe://cluster.local/ns/ns-0/sa/default"})
	if err != nil {
		return nil, nil, err
	}
	actual, _ := selfSignedCerts.LoadOrStore(gen, [2][]byte{cert, key})
	return actual.([2][]byte)[0], actual.([2][]byte)[1], nil
}
