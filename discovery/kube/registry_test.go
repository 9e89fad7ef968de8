package kube

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/isthmus-mesh/isthmus/discovery"
)

const nodes = `
kind: Node
metadata:
  name: node-a
  labels:
    topology.kubernetes.io/region: us-east1
    topology.kubernetes.io/zone: us-east1-b
    topology.istio.io/subzone: rack1
---
kind: Node
metadata:
  name: node-b
  labels:
    failure-domain.beta.kubernetes.io/region: us-east1
    failure-domain.beta.kubernetes.io/zone: us-east1-c
`

const reviews = `
kind: Namespace
metadata: {name: bookinfo}
---
kind: Service
metadata:
  name: reviews
  namespace: bookinfo
  labels: {app: reviews}
  annotations:
    networking.istio.io/exportTo: ". , istio-system"
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  selector: {app: reviews}
  ports:
  - {name: http, port: 80, targetPort: 9080}
  - {name: tcp-admin, appProtocol: grpc, port: 8000}
  - {name: dns, port: 53, protocol: UDP}
  - {name: db, port: 3306}
  - {name: grpc-web-ui, port: 8081}
  - {name: custom, port: 7000}
---
kind: EndpointSlice
metadata:
  name: reviews-abc
  namespace: bookinfo
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports:
- {name: http, port: 9080}
- {name: tcp-admin, port: 8000}
- {name: dns, port: 53, protocol: UDP}
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v1-a, namespace: bookinfo}
- addresses: [10.1.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v2-b, namespace: bookinfo}
- addresses: [10.1.0.3]
  conditions: {ready: false}
  targetRef: {kind: Pod, name: reviews-v1-c, namespace: bookinfo}
- addresses: [10.1.0.4]
  conditions: {ready: false, serving: true, terminating: true}
  targetRef: {kind: Pod, name: reviews-v1-d, namespace: bookinfo}
---
kind: Pod
metadata:
  name: reviews-v1-a
  namespace: bookinfo
  labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}
spec:
  nodeName: node-a
  serviceAccountName: bookinfo-reviews
  containers: [{name: app, image: reviews}]
status: {phase: Running, podIP: 10.1.0.1}
---
kind: Pod
metadata:
  name: reviews-v2-b
  namespace: bookinfo
  labels: {app: reviews, version: v2, topology.istio.io/network: net-pod, istio-locality: eu-west1.eu-west1-a}
spec:
  nodeName: node-b
  serviceAccountName: reviews-v2
  containers: [{name: app, image: reviews}]
---
kind: Pod
metadata: {name: reviews-v1-c, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {nodeName: node-a, containers: [{name: app, image: reviews}]}
---
kind: Pod
metadata: {name: reviews-v1-d, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {nodeName: node-a, containers: [{name: app, image: reviews}]}
`

const reviewsHost = "reviews.bookinfo.svc.cluster.local"

var reviewsKey = discovery.ServiceKey{Hostname: reviewsHost, Namespace: "bookinfo"}

func TestCatalogHasServicesWithTheirPodsEndpoints(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east", Network: "net-east"}, nodes+"\n---\n"+reviews)
	cat := c.reg.Catalog()

	want := &discovery.Service{
		ServiceKey: reviewsKey,
		Addresses:  []string{"10.96.0.10"},
		Ports: []discovery.Port{
			{Name: "http", Number: 80, Protocol: discovery.ProtocolHTTP},
			{Name: "tcp-admin", Number: 8000, Protocol: discovery.ProtocolGRPC}, // appProtocol wins over the name
			{Name: "db", Number: 3306, Protocol: discovery.ProtocolTCP},         // well-known server-first port
			{Name: "grpc-web-ui", Number: 8081, Protocol: discovery.ProtocolGRPC},
			{Name: "custom", Number: 7000, Protocol: discovery.ProtocolUnknown},
		},
		Resolution:       discovery.ResolutionStatic,
		Location:         discovery.MeshInternal,
		ExportTo:         []string{".", "istio-system"},
		Labels:           map[string]string{"app": "reviews"},
		Registry:         "east",
		ClusterAddresses: map[string][]string{"east": {"10.96.0.10"}},
	}
	if got := cat.Service(reviewsKey); !reflect.DeepEqual(got, want) {
		t.Errorf("service:\ngot  %+v\nwant %+v", got, want)
	}
	diffLines(t, "endpoints (ready only, per TCP port the slice serves)", describe(cat), []string{
		reviewsHost + ":80 -> 10.1.0.1:9080 cluster=east network=net-east locality=us-east1/us-east1-b/rack1 sa=bookinfo-reviews",
		reviewsHost + ":80 -> 10.1.0.2:9080 cluster=east network=net-pod locality=eu-west1/eu-west1-a sa=reviews-v2",
		reviewsHost + ":8000 -> 10.1.0.1:8000 cluster=east network=net-east locality=us-east1/us-east1-b/rack1 sa=bookinfo-reviews",
		reviewsHost + ":8000 -> 10.1.0.2:8000 cluster=east network=net-pod locality=eu-west1/eu-west1-a sa=reviews-v2",
	})
	eps := cat.Endpoints(reviewsKey, 80)
	if got, want := labelsOf(eps[0]), "app=reviews,kubernetes.io/hostname=node-a,security.istio.io/tlsMode=istio,"+
		"topology.istio.io/cluster=east,topology.istio.io/network=net-east,topology.istio.io/subzone=rack1,"+
		"topology.kubernetes.io/region=us-east1,topology.kubernetes.io/zone=us-east1-b,version=v1"; got != want {
		t.Errorf("labels of the v1 pod's endpoint:\ngot  %s\nwant %s", got, want)
	}
	if got, want := labelsOf(eps[1]), "app=reviews,istio-locality=eu-west1.eu-west1-a,kubernetes.io/hostname=node-b,"+
		"topology.istio.io/cluster=east,topology.istio.io/network=net-pod,"+
		"topology.kubernetes.io/region=eu-west1,topology.kubernetes.io/zone=eu-west1-a,version=v2"; got != want {
		t.Errorf("labels of the v2 pod's endpoint:\ngot  %s\nwant %s", got, want)
	}
	if c.reg.Name() != "east" {
		t.Errorf("Name() = %q, want the cluster ID", c.reg.Name())
	}
}

func TestCatalogFollowsScalingReadinessAndDeletion(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east"}, nodes+"\n---\n"+reviews)

	c.apply(`
kind: Pod
metadata: {name: reviews-v3-e, namespace: bookinfo, labels: {app: reviews, version: v3}}
spec: {nodeName: node-b, serviceAccountName: reviews-v3, containers: [{name: app, image: reviews}]}
---
kind: EndpointSlice
metadata:
  name: reviews-abc
  namespace: bookinfo
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v1-a, namespace: bookinfo}
- addresses: [10.1.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v2-b, namespace: bookinfo}
- addresses: [10.1.0.5]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v3-e, namespace: bookinfo}
`)
	c.waitFor("three endpoints on port 80, none on 8000", func(cat *discovery.Catalog) bool {
		return len(cat.Endpoints(reviewsKey, 80)) == 3 && len(cat.Endpoints(reviewsKey, 8000)) == 0
	})

	c.apply(`
kind: EndpointSlice
metadata:
  name: reviews-abc
  namespace: bookinfo
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: false}
  targetRef: {kind: Pod, name: reviews-v1-a, namespace: bookinfo}
- addresses: [10.1.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v2-b, namespace: bookinfo}
- addresses: [10.1.0.5]
  conditions: {serving: true, terminating: true}
  targetRef: {kind: Pod, name: reviews-v3-e, namespace: bookinfo}
`)
	cat := c.waitFor("only the ready endpoint", func(cat *discovery.Catalog) bool {
		return len(cat.Endpoints(reviewsKey, 80)) == 1
	})
	if got := cat.Endpoints(reviewsKey, 80)[0].Address; got != "10.1.0.2" {
		t.Errorf("remaining endpoint: got %s, want the ready 10.1.0.2", got)
	}

	ctx := context.Background()
	if err := c.client.CoreV1().Services("bookinfo").Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.client.DiscoveryV1().EndpointSlices("bookinfo").Delete(ctx, "reviews-abc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cat = c.waitFor("no reviews service", func(cat *discovery.Catalog) bool { return cat.Service(reviewsKey) == nil })
	if n := len(cat.AllEndpoints(reviewsKey)); n != 0 {
		t.Errorf("deleted service still has %d endpoints", n)
	}
}

func TestEndpointsFollowPodAndNodeLabels(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east"}, nodes+"\n---\n"+reviews)

	c.apply(`
kind: Pod
metadata: {name: reviews-v1-a, namespace: bookinfo, labels: {app: reviews, version: v1-canary}}
spec: {nodeName: node-a, serviceAccountName: bookinfo-reviews, containers: [{name: app, image: reviews}]}
`)
	c.waitFor("the relabelled pod, without tlsMode", func(cat *discovery.Catalog) bool {
		ep := endpointAt(cat, "10.1.0.1")
		return ep != nil && ep.Labels["version"] == "v1-canary" && ep.Labels["security.istio.io/tlsMode"] == ""
	})

	c.apply(`
kind: Node
metadata:
  name: node-a
  labels: {topology.kubernetes.io/region: us-central1, topology.kubernetes.io/zone: us-central1-f}
`)
	c.waitFor("the node's new locality", func(cat *discovery.Catalog) bool {
		ep := endpointAt(cat, "10.1.0.1")
		return ep != nil && ep.Locality == "us-central1/us-central1-f" && ep.Labels["topology.istio.io/subzone"] == ""
	})
}

func endpointAt(cat *discovery.Catalog, address string) *discovery.Endpoint {
	for _, ep := range cat.Endpoints(reviewsKey, 80) {
		if ep.Address == address {
			return ep
		}
	}
	return nil
}

func TestEndpointWaitsForItsPod(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east"}, nodes+"\n---\n"+reviews+`
---
kind: EndpointSlice
metadata:
  name: reviews-late
  namespace: bookinfo
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [10.1.0.9]
  targetRef: {kind: Pod, name: reviews-late, namespace: bookinfo}
`)
	if ep := endpointAt(c.reg.Catalog(), "10.1.0.9"); ep != nil {
		t.Errorf("endpoint of an unknown pod is in the catalog, without the pod's labels: %+v", ep)
	}
	c.apply(`
kind: Pod
metadata: {name: reviews-late, namespace: bookinfo, labels: {app: reviews, security.istio.io/tlsMode: istio}}
spec: {nodeName: node-a, serviceAccountName: late, containers: [{name: app, image: reviews}]}
`)
	c.waitFor("the late pod's endpoint, with its tlsMode", func(cat *discovery.Catalog) bool {
		ep := endpointAt(cat, "10.1.0.9")
		return ep != nil && ep.Labels["security.istio.io/tlsMode"] == "istio" && ep.ServiceAccount == "late"
	})
}

func TestHeadlessServicePassesThroughAndKeepsEndpoints(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east"}, `
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432}]
---
kind: EndpointSlice
metadata:
  name: db-1
  namespace: data
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: tcp-db, port: 5432}]
endpoints:
- addresses: [10.2.0.1]
  hostname: db-0
  conditions: {ready: true}
  targetRef: {kind: Pod, name: db-0, namespace: data}
---
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db}}
spec: {serviceAccountName: db, containers: [{name: db, image: postgres}]}
`)
	cat := c.reg.Catalog()
	key := discovery.ServiceKey{Hostname: "db.data.svc.cluster.local", Namespace: "data"}
	s := cat.Service(key)
	if s == nil {
		t.Fatal("headless service missing")
	}
	if s.Resolution != discovery.ResolutionNone || len(s.Addresses) != 0 || s.Location != discovery.MeshInternal {
		t.Errorf("headless service: resolution %v addresses %v location %v; want pass-through, no address, mesh internal",
			s.Resolution, s.Addresses, s.Location)
	}
	diffLines(t, "headless endpoints", describe(cat), []string{
		"db.data.svc.cluster.local:5432 -> 10.2.0.1:5432 cluster=east sa=db",
	})
}

func TestExternalNameServiceResolvesByDNS(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east", DomainSuffix: "corp.example"}, `
kind: Service
metadata: {name: payments, namespace: shop, labels: {team: pay}}
spec:
  type: ExternalName
  externalName: api.payments.example.com
  ports: [{name: https, port: 443}]
`)
	cat := c.reg.Catalog()
	key := discovery.ServiceKey{Hostname: "payments.shop.svc.corp.example", Namespace: "shop"}
	s := cat.Service(key)
	if s == nil {
		t.Fatalf("ExternalName service missing; catalog has %d services", len(cat.Services()))
	}
	if s.Resolution != discovery.ResolutionDNS || s.Location != discovery.MeshExternal || len(s.Addresses) != 0 {
		t.Errorf("ExternalName service: resolution %v location %v addresses %v; want DNS, mesh external, no address",
			s.Resolution, s.Location, s.Addresses)
	}
	if p := s.Port(443); p == nil || p.Protocol != discovery.ProtocolHTTPS {
		t.Errorf("port 443: got %+v, want HTTPS", p)
	}
	diffLines(t, "ExternalName endpoints", describe(cat), []string{
		"payments.shop.svc.corp.example:443 -> api.payments.example.com:443 cluster=east",
	})
}

func TestDualStackServiceKeepsBothIPsAndOneEndpointPerPod(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east"}, `
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.1.1
  clusterIPs: [10.96.1.1, "fd00::1"]
  ipFamilies: [IPv4, IPv6]
  ports: [{name: http, port: 80, targetPort: 8080}]
---
kind: EndpointSlice
metadata: {name: web-v4, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.3.0.1]}]
---
kind: EndpointSlice
metadata: {name: web-v6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["fd01::1"]}]
`)
	cat := c.reg.Catalog()
	s := cat.Service(discovery.ServiceKey{Hostname: "web.default.svc.cluster.local", Namespace: "default"})
	if s == nil || !slices.Equal(s.Addresses, []string{"10.96.1.1", "fd00::1"}) {
		t.Fatalf("dual-stack service addresses: got %+v", s)
	}
	diffLines(t, "endpoints of the primary family only", describe(cat), []string{
		"web.default.svc.cluster.local:80 -> 10.3.0.1:8080 cluster=east",
	})
}

func TestNetworkFromNamespaceLabelAndEndpointsWithoutPods(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "east", Network: "net-default"}, nodes+`
---
kind: Namespace
metadata: {name: legacy, labels: {topology.istio.io/network: net-legacy}}
---
kind: Service
metadata: {name: mainframe, namespace: legacy}
spec:
  clusterIP: 10.96.2.2
  ports: [{name: tcp, port: 9000, targetPort: 9001}]
---
kind: EndpointSlice
metadata: {name: mainframe-manual, namespace: legacy, labels: {kubernetes.io/service-name: mainframe}}
addressType: IPv4
ports: [{port: 9001}]
endpoints: [{addresses: [192.0.2.10], nodeName: node-a}]
`)
	diffLines(t, "selector-less endpoint", describe(c.reg.Catalog()), []string{
		"mainframe.legacy.svc.cluster.local:9000 -> 192.0.2.10:9001 cluster=east network=net-legacy locality=us-east1/us-east1-b/rack1",
	})
}

func TestMergedClustersShareOneServiceWithBothClustersEndpoints(t *testing.T) {
	slice := func(ip string) string {
		return `
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 9080}]
---
kind: EndpointSlice
metadata: {name: reviews-1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [` + ip + `]
  targetRef: {kind: Pod, name: reviews-1, namespace: bookinfo}
---
kind: Pod
metadata: {name: reviews-1, namespace: bookinfo, labels: {app: reviews, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: app, image: reviews}]}
`
	}
	east := startCluster(t, Options{ClusterID: "east", Network: "net-east"}, slice("10.1.0.1"))
	west := startCluster(t, Options{ClusterID: "west", Network: "net-west"},
		strings.Replace(slice("10.8.0.1"), "10.96.0.10", "10.100.0.7", 1))

	merged := discovery.Merge(east.reg.Catalog(), west.reg.Catalog())
	if n := len(merged.ServicesByHost(reviewsHost)); n != 1 {
		t.Fatalf("merged catalog has %d reviews services, want 1", n)
	}
	diffLines(t, "merged endpoints", describe(merged), []string{
		reviewsHost + ":80 -> 10.1.0.1:9080 cluster=east network=net-east sa=reviews",
		reviewsHost + ":80 -> 10.8.0.1:9080 cluster=west network=net-west sa=reviews",
	})
	// Each cluster's proxies see the service at their own ClusterIP.
	for id, want := range map[string]string{"east": "10.96.0.10", "west": "10.100.0.7"} {
		got := merged.ForCluster(id).ServicesByHost(reviewsHost)[0].Addresses
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s sees reviews at %v, want [%s]", id, got, want)
		}
	}
}

func TestPortProtocolFollowsIstioSelectionRules(t *testing.T) {
	cases := []struct {
		name, appProtocol string
		port              int32
		want              discovery.Protocol
	}{
		{"http", "", 80, discovery.ProtocolHTTP},
		{"http-web", "", 80, discovery.ProtocolHTTP},
		{"HTTP2-api", "", 80, discovery.ProtocolHTTP2},
		{"grpc", "", 80, discovery.ProtocolGRPC},
		{"grpc-web", "", 80, discovery.ProtocolGRPC},
		{"grpc-web-ui", "", 80, discovery.ProtocolGRPC},
		{"https-admin", "", 443, discovery.ProtocolHTTPS},
		{"tls", "", 443, discovery.ProtocolTLS},
		{"tcp-raw", "", 9000, discovery.ProtocolTCP},
		{"mongo", "", 27018, discovery.ProtocolMongo},
		{"redis-cache", "", 6379, discovery.ProtocolRedis},
		{"mysql", "", 3307, discovery.ProtocolMySQL},
		{"web", "", 8080, discovery.ProtocolUnknown},
		{"httpx", "", 8080, discovery.ProtocolUnknown},
		{"", "", 8080, discovery.ProtocolUnknown},
		{"web", "", 3306, discovery.ProtocolTCP},
		{"", "", 53, discovery.ProtocolTCP},
		{"http", "tcp", 80, discovery.ProtocolTCP},               // appProtocol takes precedence
		{"http", "example.com/x", 80, discovery.ProtocolUnknown}, // even when Istio does not know it
		{"db", "mysql", 3306, discovery.ProtocolMySQL},
	}
	for _, c := range cases {
		p := servicePort(c.name, c.appProtocol, c.port)
		if got := portProtocol(p); got != c.want {
			t.Errorf("port %q appProtocol %q number %d: got %s, want %s", c.name, c.appProtocol, c.port, got, c.want)
		}
	}
}

func TestOptionsAndConstructors(t *testing.T) {
	if _, err := New(fake.NewClientset(), Options{}); err == nil {
		t.Error("New without ClusterID: no error")
	}
	reg, err := New(fake.NewClientset(), Options{ClusterID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Catalog() == nil || len(reg.Catalog().Services()) != 0 || reg.HasSynced() {
		t.Error("before Run: want an empty, non-nil catalog and HasSynced false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.WaitForSync(ctx); err == nil {
		t.Error("WaitForSync on a cancelled context: no error")
	}
	if err := reg.Run(ctx); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := reg.Run(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: got %v, want an error", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	kubeconfig := `
apiVersion: v1
kind: Config
clusters:
- {name: east, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: east, context: {cluster: east, user: admin}}
current-context: east
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if reg, err := NewFromKubeconfig(path, Options{ClusterID: "east"}); err != nil || reg.Name() != "east" {
		t.Errorf("NewFromKubeconfig: %v", err)
	}
	if _, err := NewFromKubeconfig(path, Options{ClusterID: "east", KubeContext: "missing"}); err == nil {
		t.Error("NewFromKubeconfig with an unknown context: no error")
	}
	if _, err := NewFromKubeconfig(filepath.Join(dir, "absent"), Options{ClusterID: "east"}); err == nil {
		t.Error("NewFromKubeconfig with a missing file: no error")
	}
}

// An east-west gateway Service (network label, port 15443) becomes its
// network's gateway at its load balancer's address; a Service with the
// label but without the port does not; the address follows status changes.
func TestEastWestGatewayServicesAreNetworkGateways(t *testing.T) {
	c := startCluster(t, Options{ClusterID: "gke"}, `
kind: Service
metadata: {name: istio-eastwestgateway, namespace: istio-system, labels: {topology.istio.io/network: gcp}}
spec:
  type: LoadBalancer
  ports: [{name: tls, port: 15443}, {name: status-port, port: 15021}]
status:
  loadBalancer: {ingress: [{ip: 192.0.2.10}]}
---
kind: Service
metadata: {name: other, namespace: istio-system, labels: {topology.istio.io/network: gcp}}
spec:
  ports: [{name: http, port: 80}]
`)
	want := []discovery.NetworkGateway{{Network: "gcp", Address: "192.0.2.10", Port: 15443, Cluster: "gke"}}
	if got := c.reg.Catalog().NetworkGateways("gcp"); !slices.Equal(got, want) {
		t.Fatalf("gateways of gcp %v, want %v", got, want)
	}
	c.apply(`
kind: Service
metadata: {name: istio-eastwestgateway, namespace: istio-system, labels: {topology.istio.io/network: gcp}}
spec:
  type: LoadBalancer
  ports: [{name: tls, port: 15443}]
status:
  loadBalancer: {ingress: [{hostname: ew.gcp.example.com}]}
`)
	c.waitFor("the new gateway address", func(cat *discovery.Catalog) bool {
		got := cat.NetworkGateways("gcp")
		return len(got) == 1 && got[0].Address == "ew.gcp.example.com"
	})
}
