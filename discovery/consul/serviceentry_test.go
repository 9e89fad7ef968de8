package consul

import (
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// A ServiceEntry naming a Consul service's host, in its namespace, joins
// it: its port's protocol wins, Consul's instances are the endpoints.
func TestServiceEntryJoinsConsulService(t *testing.T) {
	objs, errs := policy.Decode("web.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.service.consul]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: grpc, protocol: GRPC}]
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := testMapping.build("web", []*api.ServiceEntry{entry("web-1", "10.0.0.1", 8080, nil, nil, api.HealthPassing)})
	consulCatalog := discovery.NewCatalog([]*discovery.Service{b.svc}, map[discovery.ServiceKey][]*discovery.Endpoint{webKey: b.endpoints})
	snap := assemble.Build(1, policy.NewConfig(objs), assemble.Settings{}, consulCatalog)
	svc := snap.Catalog.Service(webKey)
	if svc == nil || len(svc.Ports) != 1 || svc.Ports[0].Protocol != discovery.ProtocolGRPC {
		t.Fatalf("web: %+v, want the ServiceEntry's GRPC port", svc)
	}
	if got := addressesOf(snap.Catalog, webKey); len(got) != 1 || got[0] != "10.0.0.1" {
		t.Errorf("endpoints %v, want Consul's instance", got)
	}
}
