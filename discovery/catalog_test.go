package discovery

import (
	"slices"
	"testing"
)

func svc(host, ns string, exportTo ...string) *Service {
	return &Service{ServiceKey: ServiceKey{Hostname: host, Namespace: ns}, ExportTo: exportTo,
		Ports: []Port{{Name: "http", Number: 80, Protocol: ProtocolHTTP}}}
}

func TestCatalogSortsAndLooksUp(t *testing.T) {
	a := svc("b.example.com", "ns1")
	b := svc("a.example.com", "ns2")
	c := svc("a.example.com", "ns1")
	cat := NewCatalog([]*Service{a, b, c}, map[ServiceKey][]*Endpoint{
		c.ServiceKey: {{Address: "10.0.0.2", Port: 8080, ServicePort: 80}, {Address: "10.0.0.1", Port: 8080, ServicePort: 80}, {Address: "10.0.0.1", Port: 9090, ServicePort: 90}},
	})
	got := cat.Services()
	if got[0] != c || got[1] != b || got[2] != a {
		t.Errorf("services not sorted by hostname then namespace: %v %v %v", got[0].ServiceKey, got[1].ServiceKey, got[2].ServiceKey)
	}
	if hosts := cat.ServicesByHost("a.example.com"); len(hosts) != 2 {
		t.Errorf("ServicesByHost: got %d services, want 2", len(hosts))
	}
	eps := cat.Endpoints(c.ServiceKey, 80)
	if len(eps) != 2 || eps[0].Address != "10.0.0.1" {
		t.Errorf("Endpoints for port 80: got %+v", eps)
	}
	if cat.Service(ServiceKey{Hostname: "missing", Namespace: "ns1"}) != nil {
		t.Error("missing service found")
	}
}

func TestMergeJoinsEndpointsOfOneServiceAcrossRegistries(t *testing.T) {
	east := svc("reviews.default.svc.cluster.local", "default")
	west := svc("reviews.default.svc.cluster.local", "default")
	west.Registry = "west"
	c1 := NewCatalog([]*Service{east}, map[ServiceKey][]*Endpoint{east.ServiceKey: {{Address: "10.1.0.1", ServicePort: 80, Cluster: "east"}}})
	c2 := NewCatalog([]*Service{west}, map[ServiceKey][]*Endpoint{west.ServiceKey: {{Address: "10.2.0.1", ServicePort: 80, Cluster: "west"}}})
	m := Merge(c1, nil, c2)
	if len(m.Services()) != 1 || m.Services()[0] != east {
		t.Fatalf("merged services: want the first registry's definition only, got %d", len(m.Services()))
	}
	if eps := m.Endpoints(east.ServiceKey, 80); len(eps) != 2 {
		t.Errorf("merged endpoints: got %d, want both clusters' 2", len(eps))
	}
}

func TestVisibleTo(t *testing.T) {
	cases := []struct {
		exportTo []string
		ns       string
		want     bool
	}{
		{nil, "other", true},
		{[]string{"*"}, "other", true},
		{[]string{"."}, "own", true},
		{[]string{"."}, "other", false},
		{[]string{"team-a"}, "team-a", true},
		{[]string{"team-a"}, "team-b", false},
	}
	for _, c := range cases {
		if got := svc("h", "own", c.exportTo...).VisibleTo(c.ns); got != c.want {
			t.Errorf("exportTo %v from %q: got %v, want %v", c.exportTo, c.ns, got, c.want)
		}
	}
}

func TestParseProtocol(t *testing.T) {
	for in, want := range map[string]Protocol{"http": ProtocolHTTP, "GRPC-Web": ProtocolGRPC, "tcp": ProtocolTCP, "bogus": ProtocolUnknown} {
		if got := ParseProtocol(in); got != want {
			t.Errorf("ParseProtocol(%q) = %q, want %q", in, got, want)
		}
	}
}

// Merging one service from two clusters keeps each cluster's own addresses
// and adds ports only the later one has; ForCluster shows each cluster's.
func TestMergeKeepsEachClustersAddressesAndAllPorts(t *testing.T) {
	east := svc("reviews.default.svc.cluster.local", "default")
	east.Addresses, east.ClusterAddresses = []string{"10.96.0.1"}, map[string][]string{"east": {"10.96.0.1"}}
	west := svc("reviews.default.svc.cluster.local", "default")
	west.Addresses, west.ClusterAddresses = []string{"10.100.0.9"}, map[string][]string{"west": {"10.100.0.9"}}
	west.Ports = append(west.Ports, Port{Name: "grpc", Number: 9090, Protocol: ProtocolGRPC})
	m := Merge(NewCatalog([]*Service{east}, nil), NewCatalog([]*Service{west}, nil))
	got := m.Services()[0]
	if got.Port(9090) == nil || got.Port(80) == nil {
		t.Errorf("merged ports %v, want both clusters' ports", got.Ports)
	}
	if east.Port(9090) != nil || len(east.ClusterAddresses) != 1 {
		t.Error("merge modified its input")
	}
	for id, want := range map[string]string{"east": "10.96.0.1", "west": "10.100.0.9", "elsewhere": "10.96.0.1"} {
		if a := m.ForCluster(id).Services()[0].Addresses; len(a) != 1 || a[0] != want {
			t.Errorf("cluster %s sees %v, want [%s]", id, a, want)
		}
	}
	if m.ForCluster("east") != m {
		t.Error("ForCluster copied a catalog the cluster sees unchanged")
	}
}

// ChangedServices names the services added, removed, changed or with other
// endpoints, and refuses when the network gateways differ.
func TestChangedServices(t *testing.T) {
	cart, orders, api := svc("cart.shop.svc.cluster.local", "shop"), svc("orders.shop.svc.cluster.local", "shop"), svc("api.pay.svc.cluster.local", "pay")
	ep := func(addr string) []*Endpoint { return []*Endpoint{{Address: addr, ServicePort: 80}} }
	before := NewCatalog([]*Service{cart, orders}, map[ServiceKey][]*Endpoint{cart.ServiceKey: ep("10.0.0.1"), orders.ServiceKey: ep("10.0.0.2")})
	relabelled := *orders
	relabelled.Labels = map[string]string{"team": "b"}
	after := NewCatalog([]*Service{cart, &relabelled, api}, map[ServiceKey][]*Endpoint{cart.ServiceKey: ep("10.0.0.9"), orders.ServiceKey: ep("10.0.0.2")})
	changed, ok := before.ChangedServices(after)
	if !ok {
		t.Fatal("refused with the same network gateways")
	}
	var hosts []string
	for _, k := range changed {
		hosts = append(hosts, k.Hostname)
	}
	slices.Sort(hosts)
	if want := []string{"api.pay.svc.cluster.local", "cart.shop.svc.cluster.local", "orders.shop.svc.cluster.local"}; !slices.Equal(hosts, want) {
		t.Errorf("changed %v, want %v", hosts, want)
	}
	if changed, ok := before.ChangedServices(before); !ok || len(changed) > 0 {
		t.Errorf("a catalog against itself: changed %v (ok %v)", changed, ok)
	}
	if _, ok := before.ChangedServices(before.WithGateways([]NetworkGateway{{Network: "gcp", Address: "192.0.2.1", Port: 15443}})); ok {
		t.Error("other network gateways are not refused")
	}
	if after.Equal(before) || !before.Equal(NewCatalog([]*Service{orders, cart}, map[ServiceKey][]*Endpoint{cart.ServiceKey: ep("10.0.0.1"), orders.ServiceKey: ep("10.0.0.2")})) {
		t.Error("Equal disagrees with ChangedServices")
	}
}
