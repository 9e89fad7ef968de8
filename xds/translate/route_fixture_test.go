package translate

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// meshWorld is a small mesh built in code for route and listener tests.
type meshWorld struct {
	t         *testing.T
	objects   []*policy.Object
	services  []*discovery.Service
	endpoints map[discovery.ServiceKey][]*discovery.Endpoint
}

func newMeshWorld(t *testing.T) *meshWorld {
	return &meshWorld{t: t, endpoints: map[discovery.ServiceKey][]*discovery.Endpoint{}}
}

// service adds a service; hostname is a Kubernetes-style FQDN.
func (w *meshWorld) service(hostname, ns string, vips []string, ports ...discovery.Port) *discovery.Service {
	svc := &discovery.Service{ServiceKey: discovery.ServiceKey{Hostname: hostname, Namespace: ns}, Addresses: vips, Ports: ports}
	w.services = append(w.services, svc)
	return svc
}

func (w *meshWorld) endpoint(svc *discovery.Service, ep *discovery.Endpoint) {
	w.endpoints[svc.ServiceKey] = append(w.endpoints[svc.ServiceKey], ep)
}

// object adds an Istio object whose spec is given as YAML.
func (w *meshWorld) object(kind policy.Kind, ns, name, spec string) {
	w.t.Helper()
	var msg proto.Message
	switch kind {
	case policy.KindVirtualService:
		msg = &networking.VirtualService{}
	case policy.KindDestinationRule:
		msg = &networking.DestinationRule{}
	case policy.KindSidecar:
		msg = &networking.Sidecar{}
	default:
		w.t.Fatalf("unsupported kind %s", kind)
	}
	js, err := yaml.YAMLToJSON([]byte(spec))
	if err != nil {
		w.t.Fatalf("%s %s/%s: %v", kind, ns, name, err)
	}
	if err := protojson.Unmarshal(js, msg); err != nil {
		w.t.Fatalf("%s %s/%s: %v", kind, ns, name, err)
	}
	w.objects = append(w.objects, &policy.Object{Key: policy.Key{Kind: kind, Namespace: ns, Name: name}, Spec: msg})
}

func (w *meshWorld) index() *Index {
	return NewIndex(&model.Snapshot{
		Config:  policy.NewConfig(w.objects),
		Catalog: discovery.NewCatalog(w.services, w.endpoints),
	})
}

// translate runs the whole translation, which validates every resource.
func (w *meshWorld) translate(p *model.Proxy) *Resources {
	w.t.Helper()
	res, err := Translate(w.index(), p)
	if err != nil {
		w.t.Fatalf("translate: %v", err)
	}
	return res
}

// sidecarProxy is a REDIRECT-captured sidecar at 10.0.0.5 in ns.
func sidecarProxy(ns string, labels map[string]string) *model.Proxy {
	return &model.Proxy{
		ID:               "sidecar~10.0.0.5~client." + ns + "~" + ns + ".svc.cluster.local",
		Type:             model.SidecarProxy,
		IPAddresses:      []string{"10.0.0.5"},
		PodName:          "client",
		Namespace:        ns,
		DNSDomain:        ns + ".svc.cluster.local",
		Labels:           labels,
		InterceptionMode: model.InterceptRedirect,
		Metadata:         map[string]any{},
	}
}

func httpPort(n uint32) discovery.Port {
	return discovery.Port{Name: "http", Number: n, Protocol: discovery.ProtocolHTTP}
}

func tcpPort(n uint32) discovery.Port {
	return discovery.Port{Name: "tcp", Number: n, Protocol: discovery.ProtocolTCP}
}

func tlsPort(n uint32) discovery.Port {
	return discovery.Port{Name: "tls", Number: n, Protocol: discovery.ProtocolTLS}
}

func findRouteConfig(t *testing.T, res *Resources, name string) *routev3.RouteConfiguration {
	t.Helper()
	for _, rc := range res.Routes {
		if rc.GetName() == name {
			return rc
		}
	}
	t.Fatalf("no route configuration %q among %v", name, routeNames(res))
	return nil
}

func routeNames(res *Resources) []string {
	var out []string
	for _, rc := range res.Routes {
		out = append(out, rc.GetName())
	}
	return out
}

func findVirtualHost(t *testing.T, rc *routev3.RouteConfiguration, name string) *routev3.VirtualHost {
	t.Helper()
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() == name {
			return vh
		}
	}
	t.Fatalf("route configuration %s has no virtual host %q", rc.GetName(), name)
	return nil
}

func findListener(t *testing.T, res *Resources, name string) *listenerv3.Listener {
	t.Helper()
	for _, l := range res.Listeners {
		if l.GetName() == name {
			return l
		}
	}
	t.Fatalf("no listener %q among %v", name, listenerNames(res))
	return nil
}

func listenerNames(res *Resources) []string {
	var out []string
	for _, l := range res.Listeners {
		out = append(out, l.GetName())
	}
	return out
}

// vhostRoutes translates a world and returns the routes of one virtual host.
func vhostRoutes(t *testing.T, w *meshWorld, p *model.Proxy, routeConfig, vhost string) []*routev3.Route {
	t.Helper()
	return findVirtualHost(t, findRouteConfig(t, w.translate(p), routeConfig), vhost).GetRoutes()
}

func hcmOf(t *testing.T, f *listenerv3.Filter) *hcmv3.HttpConnectionManager {
	t.Helper()
	out := &hcmv3.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(out); err != nil {
		t.Fatalf("filter %s is not an HTTP connection manager: %v", f.GetName(), err)
	}
	return out
}

func tcpProxyOf(t *testing.T, f *listenerv3.Filter) *tcpproxyv3.TcpProxy {
	t.Helper()
	out := &tcpproxyv3.TcpProxy{}
	if err := f.GetTypedConfig().UnmarshalTo(out); err != nil {
		t.Fatalf("filter %s is not a TCP proxy: %v", f.GetName(), err)
	}
	return out
}

// assertProtoEqual compares two messages and prints both on a difference.
func assertProtoEqual(t *testing.T, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, protojson.Format(got), protojson.Format(want))
	}
}
