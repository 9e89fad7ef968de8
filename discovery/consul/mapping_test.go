package consul

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/discovery"
)

var testMapping = mapping{cluster: "east", datacenter: "dc1", suffix: DefaultSuffix, namespace: DefaultNamespace}

func entry(id, address string, port int, tags []string, meta map[string]string, status string) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Node: "node-1", Address: "10.0.0.9", Datacenter: "dc1"},
		Service: &api.AgentService{ID: id, Service: "web", Address: address, Port: port, Tags: tags, Meta: meta, Weights: api.AgentWeights{Passing: 1, Warning: 1}},
		Checks:  api.HealthChecks{{CheckID: "serfHealth", Status: api.HealthPassing}, {CheckID: "service:" + id, Status: status}},
	}
}

// A service's healthy instances are its endpoints: tags k=v and meta make
// labels, the datacenter the region and cluster labels, meta protocol the
// port's protocol, meta network and tlsMode Istio's labels.
func TestMappingOfHealthyInstances(t *testing.T) {
	b := testMapping.build("web", []*api.ServiceEntry{
		entry("web-2", "10.0.0.2", 8080, []string{"version=v2", "canary"}, map[string]string{"protocol": "http", "tlsMode": "istio", "network": "vms"}, api.HealthPassing),
		entry("web-1", "", 8080, []string{"version=v1", "team=a"}, map[string]string{"team": "b"}, api.HealthPassing),
		entry("web-3", "10.0.0.3", 8080, nil, nil, api.HealthCritical),
		entry("web-4", "10.0.0.4", 8080, nil, nil, api.HealthWarning),
	})
	if len(b.problems) > 0 {
		t.Fatalf("problems: %v", b.problems)
	}
	want := &discovery.Service{ServiceKey: discovery.ServiceKey{Hostname: "web.service.consul", Namespace: "default"},
		Ports: []discovery.Port{{Name: "http-8080", Number: 8080, Protocol: discovery.ProtocolHTTP}}, Registry: "east"}
	if b.svc == nil || b.svc.Hostname != want.Hostname || b.svc.Namespace != want.Namespace || !slices.Equal(b.svc.Ports, want.Ports) || b.svc.Registry != "east" {
		t.Fatalf("service %+v, want %+v", b.svc, want)
	}
	if len(b.endpoints) != 2 {
		t.Fatalf("endpoints %d, want web-1 and web-2 (critical and warning left out)", len(b.endpoints))
	}
	v1, v2 := b.endpoints[0], b.endpoints[1] // node, then ID order
	if v1.Address != "10.0.0.9" || v2.Address != "10.0.0.2" || v1.Port != 8080 || v1.ServicePort != 8080 {
		t.Errorf("addresses %s:%d, %s: want the node's for web-1", v1.Address, v1.Port, v2.Address)
	}
	wantV1 := map[string]string{"version": "v1", "team": "b", labelCluster: "east", labelRegion: "dc1"}
	if !maps.Equal(v1.Labels, wantV1) {
		t.Errorf("web-1 labels %v, want %v", v1.Labels, wantV1)
	}
	if v2.Labels["version"] != "v2" || v2.Labels[labelTLSMode] != "istio" || v2.Labels[labelNetwork] != "vms" || v2.Network != "vms" {
		t.Errorf("web-2 labels %v network %q", v2.Labels, v2.Network)
	}
	if _, ok := v2.Labels["canary"]; ok {
		t.Error("a tag without = became a label")
	}
	if v1.Locality != "dc1" || v1.Cluster != "east" {
		t.Errorf("locality %q cluster %q, want dc1 and east", v1.Locality, v1.Cluster)
	}
}

// Warning instances are admitted with includeWarning, at their warning
// weight.
func TestMappingAdmitsWarningByOption(t *testing.T) {
	m := testMapping
	m.includeWarning = true
	e := entry("web-1", "10.0.0.1", 80, nil, nil, api.HealthWarning)
	e.Service.Weights.Warning = 3
	b := m.build("web", []*api.ServiceEntry{e})
	if len(b.endpoints) != 1 || b.endpoints[0].Weight != 3 {
		t.Fatalf("endpoints %v, want the warning instance at weight 3", b.endpoints)
	}
	if b.svc.Ports[0].Protocol != discovery.ProtocolUnknown || b.svc.Ports[0].Name != "tcp-80" {
		t.Errorf("port without meta protocol: %+v", b.svc.Ports[0])
	}
}

// Bad instances are left out with an error naming the datacenter, the
// service, the instance and the field; the others are served.
func TestMappingReportsBadInstances(t *testing.T) {
	cases := map[string]struct {
		entry *api.ServiceEntry
		want  string
	}{
		"port 0":       {entry("bad", "10.0.0.5", 0, nil, nil, api.HealthPassing), "Service.Port 0"},
		"port 70000":   {entry("bad", "10.0.0.5", 70000, nil, nil, api.HealthPassing), "Service.Port 70000"},
		"hostname":     {entry("bad", "db.example.com", 80, nil, nil, api.HealthPassing), `Service.Address "db.example.com": not an IP`},
		"protocol":     {entry("bad", "10.0.0.5", 80, nil, map[string]string{"protocol": "htp"}, api.HealthPassing), `Service.Meta.protocol "htp"`},
		"tlsMode":      {entry("bad", "10.0.0.5", 80, nil, map[string]string{"tlsMode": "strict"}, api.HealthPassing), `Service.Meta.tlsMode "strict"`},
		"network":      {entry("bad", "10.0.0.5", 80, nil, map[string]string{"network": "a b"}, api.HealthPassing), `Service.Meta.network "a b"`},
		"node address": {nodeAddress(entry("bad", "", 80, nil, nil, api.HealthPassing), "nowhere"), `Node.Address "nowhere"`},
	}
	for name, c := range cases {
		good := entry("good", "10.0.0.1", 80, nil, nil, api.HealthPassing)
		b := testMapping.build("web", []*api.ServiceEntry{good, c.entry})
		if len(b.endpoints) != 1 || b.endpoints[0].Address != "10.0.0.1" {
			t.Errorf("%s: endpoints %v, want the good instance only", name, b.endpoints)
		}
		if len(b.problems) != 1 {
			t.Errorf("%s: problems %v, want one", name, b.problems)
			continue
		}
		msg := b.problems[0].Error()
		for _, part := range []string{"datacenter dc1", "service web", "instance bad", "node node-1", c.want} {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: %q does not name %q", name, msg, part)
			}
		}
	}
}

func nodeAddress(e *api.ServiceEntry, address string) *api.ServiceEntry {
	e.Node.Address = address
	return e
}

// Two instances giving one port different protocols: the first wins, the
// other is reported and served.
func TestMappingReportsProtocolConflict(t *testing.T) {
	b := testMapping.build("web", []*api.ServiceEntry{
		entry("a", "10.0.0.1", 80, nil, map[string]string{"protocol": "http"}, api.HealthPassing),
		entry("b", "10.0.0.2", 80, nil, map[string]string{"protocol": "grpc"}, api.HealthPassing),
	})
	if len(b.endpoints) != 2 || b.svc.Ports[0].Protocol != discovery.ProtocolHTTP {
		t.Fatalf("endpoints %d, port %+v: want both served on HTTP", len(b.endpoints), b.svc.Ports)
	}
	if len(b.problems) != 1 || !strings.Contains(b.problems[0].Error(), "instance b") || !strings.Contains(b.problems[0].Error(), "HTTP is served") {
		t.Errorf("problems %v", b.problems)
	}
}

// A name that makes no host is reported; a service without a healthy
// instance keeps its ports, without endpoints; a Connect proxy is no
// instance.
func TestMappingOfUnusableServices(t *testing.T) {
	if b := testMapping.build("web_api", nil); b.svc != nil || len(b.problems) != 1 || !strings.Contains(b.problems[0].Error(), `service "web_api"`) {
		t.Errorf("web_api: %+v", b)
	}
	if b := testMapping.build("web", []*api.ServiceEntry{entry("a", "10.0.0.1", 80, nil, nil, api.HealthCritical)}); b.svc == nil || len(b.svc.Ports) != 1 || len(b.endpoints) != 0 || len(b.problems) != 0 {
		t.Errorf("only a critical instance: %+v, want the service with its port and no endpoints", b)
	}
	proxy := entry("a", "10.0.0.1", 80, nil, nil, api.HealthPassing)
	proxy.Service.Kind = api.ServiceKindConnectProxy
	if b := testMapping.build("web", []*api.ServiceEntry{proxy}); b.svc != nil {
		t.Errorf("a Connect proxy became an endpoint: %+v", b)
	}
}

func TestNextIndex(t *testing.T) {
	for _, c := range []struct{ prev, got, want uint64 }{{0, 17, 17}, {17, 20, 20}, {20, 20, 20}, {20, 5, 0}, {0, 0, 1}} {
		if got := nextIndex(c.prev, c.got); got != c.want {
			t.Errorf("nextIndex(%d, %d) = %d, want %d", c.prev, c.got, got, c.want)
		}
	}
}
