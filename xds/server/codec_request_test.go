package server

import (
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// istioProxyNode is a node as istio-proxy sends it: besides the fields
// ParseNode reads, labels, annotations, platform metadata and other fields
// it does not, and node fields after the metadata.
func istioProxyNode(t *testing.T) *corev3.Node {
	t.Helper()
	md, err := model.NodeMetadata(map[string]any{
		"NAMESPACE":                       "shop",
		"SERVICE_ACCOUNT":                 "reviews",
		"CLUSTER_ID":                      "aws",
		"NETWORK":                         "aws-net",
		"ISTIO_VERSION":                   "1.28.0",
		"INTERCEPTION_MODE":               "tproxy",
		"INSTANCE_IPS":                    "10.1.2.3,fd00::3",
		"UNPRIVILEGED_POD":                "true",
		"LABELS":                          map[string]any{"app": "reviews", "version": "v2", "security.istio.io/tlsMode": "istio"},
		"ANNOTATIONS":                     map[string]any{"kubectl.kubernetes.io/default-container": "reviews", "sidecar.istio.io/status": `{"initContainers":["istio-init"]}`},
		"PLATFORM_METADATA":               map[string]any{"gcp_project": "p", "gcp_location": "us-central1"},
		"PROXY_CONFIG":                    map[string]any{"concurrency": 2.0, "tracing": map[string]any{"sampling": 1.0}, "drainDuration": "45s"},
		"WORKLOAD_NAME":                   "reviews-v2",
		"OWNER":                           "kubernetes://apis/apps/v1/namespaces/shop/deployments/reviews-v2",
		"POD_PORTS":                       `[{"containerPort":9080,"protocol":"TCP"}]`,
		"MESH_ID":                         "mesh1",
		"ENVOY_PROMETHEUS_PORT":           15090.0,
		"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{
		Id:             "sidecar~10.1.2.3~reviews-v2-7c9.shop~shop.svc.cluster.local",
		Cluster:        "reviews.shop",
		Metadata:       md,
		Locality:       &corev3.Locality{Region: "us-east-1", Zone: "us-east-1a"},
		UserAgentName:  "envoy",
		ClientFeatures: []string{"envoy.lb.does_not_support_overprovisioning"},
	}
}

// readFields keeps of md the fields ParseNode reads.
func readFields(md *structpb.Struct) *structpb.Struct {
	kept := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for key, v := range md.GetFields() {
		if model.ReadsMetadataField(key) {
			kept.Fields[key] = v
		}
	}
	return kept
}

// A first request decodes as the proto codec decodes it, except that the
// node metadata holds only the fields ParseNode reads; the proxy parsed
// from it is the same.
func TestCodecDecodesNodeMetadataParseNodeReads(t *testing.T) {
	node := istioProxyNode(t)
	nack := &status.Status{Code: 3, Message: "rejected"}
	cases := map[string]struct {
		request, into proto.Message
		nodeOf        func(proto.Message) *corev3.Node
	}{
		"sotw": {
			request: &discoveryv3.DiscoveryRequest{VersionInfo: "v1", Node: node, ResourceNames: []string{"a", "b"},
				TypeUrl: resource.ClusterType, ResponseNonce: "7", ErrorDetail: nack},
			into:   &discoveryv3.DiscoveryRequest{},
			nodeOf: func(m proto.Message) *corev3.Node { return m.(*discoveryv3.DiscoveryRequest).GetNode() },
		},
		"delta": {
			request: &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
				ResourceNamesSubscribe: []string{"a"}, InitialResourceVersions: map[string]string{"a": "1"}, ResponseNonce: "7"},
			into:   &discoveryv3.DeltaDiscoveryRequest{},
			nodeOf: func(m proto.Message) *corev3.Node { return m.(*discoveryv3.DeltaDiscoveryRequest).GetNode() },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshalWith(t, protoCodec(), tc.request))}, tc.into); err != nil {
				t.Fatal(err)
			}
			want := proto.Clone(tc.request)
			tc.nodeOf(want).Metadata = readFields(node.Metadata)
			if !proto.Equal(want, tc.into) {
				t.Errorf("decoded request:\n%v\nwant:\n%v", tc.into, want)
			}
			if got := len(tc.nodeOf(tc.into).GetMetadata().GetFields()); got != 9 {
				t.Errorf("kept %d metadata fields, want the 9 ParseNode reads", got)
			}
			wantProxy, err := model.ParseNode(node)
			if err != nil {
				t.Fatal(err)
			}
			gotProxy, err := model.ParseNode(tc.nodeOf(tc.into))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(wantProxy, gotProxy) {
				t.Errorf("proxy from the lean decoding:\n%+v\nwant:\n%+v", gotProxy, wantProxy)
			}
		})
	}
}

// A request split over several buffers, without node, or without
// metadata decodes exactly as the proto codec decodes it.
func TestCodecDecodesOtherRequestsWhole(t *testing.T) {
	node := istioProxyNode(t)
	bare := proto.Clone(node).(*corev3.Node)
	bare.Metadata = nil
	for name, req := range map[string]*discoveryv3.DiscoveryRequest{
		"no node":     {VersionInfo: "v1", TypeUrl: resource.ListenerType, ResponseNonce: "3"},
		"no metadata": {Node: bare, TypeUrl: resource.ListenerType},
	} {
		t.Run(name, func(t *testing.T) {
			got := &discoveryv3.DiscoveryRequest{}
			if err := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(marshalWith(t, protoCodec(), req))}, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(req, got) {
				t.Errorf("decoded request:\n%v\nwant:\n%v", got, req)
			}
		})
	}
	t.Run("several buffers", func(t *testing.T) {
		b := marshalWith(t, protoCodec(), &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType})
		got := &discoveryv3.DiscoveryRequest{}
		split := mem.BufferSlice{mem.SliceBuffer(b[:17]), mem.SliceBuffer(b[17:])}
		if err := newXDSCodec().Unmarshal(split, got); err != nil {
			t.Fatal(err)
		}
		if want := readFields(node.Metadata); !proto.Equal(want, got.GetNode().GetMetadata()) {
			t.Errorf("metadata %v, want %v", got.GetNode().GetMetadata(), want)
		}
	})
}

// Bytes that are not a well-formed request fail as they do with the proto
// codec, wherever they are cut.
func TestCodecRefusesBrokenRequests(t *testing.T) {
	b := marshalWith(t, protoCodec(), &discoveryv3.DiscoveryRequest{Node: istioProxyNode(t), TypeUrl: resource.ListenerType})
	for cut := 1; cut < len(b); cut++ {
		broken := b[:cut]
		wantErr := protoCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(broken)}, &discoveryv3.DiscoveryRequest{}) != nil
		gotErr := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(broken)}, &discoveryv3.DiscoveryRequest{}) != nil
		if gotErr != wantErr {
			t.Fatalf("request cut at %d of %d bytes: error %v, the proto codec's %v", cut, len(b), gotErr, wantErr)
		}
	}
}
