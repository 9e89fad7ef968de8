package discovery

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// fullCatalog sets every field of every type a catalog holds, and mixes
// nil with empty values, which Equal tells apart.
func fullCatalog() *Catalog {
	web := &Service{
		ServiceKey: ServiceKey{Hostname: "web.shop.svc.cluster.local", Namespace: "shop"},
		Addresses:  []string{"10.96.0.10", "fd00::10"},
		Ports:      []Port{{Name: "http", Number: 80, Protocol: ProtocolHTTP}, {Name: "grpc", Number: 9090, Protocol: ProtocolGRPC}},
		Resolution: ResolutionDNSRoundRobin,
		Location:   MeshExternal,
		ExportTo:   []string{".", "istio-system"},
		Labels:     map[string]string{"app": "web"},
		Registry:   "east",
		ClusterAddresses: map[string][]string{
			"east": {"10.96.0.10"},
			"west": nil,
		},
	}
	db := &Service{ServiceKey: ServiceKey{Hostname: "db.shop.svc.cluster.local", Namespace: "shop"},
		Addresses: []string{}, Labels: map[string]string{}}
	endpoints := map[ServiceKey][]*Endpoint{
		web.ServiceKey: {
			{Address: "10.0.0.1", Port: 8080, ServicePort: 80, Labels: map[string]string{"app": "web", "security.istio.io/tlsMode": "istio"},
				Network: "net1", Locality: "eu/west-1a/rack1", Weight: 3, ServiceAccount: "web", Cluster: "east"},
			{Address: "10.0.0.2", Port: 8080, ServicePort: 80},
		},
		db.ServiceKey: {},
		// Endpoints of a key no service has are kept as they are.
		{Hostname: "orphan.example.com", Namespace: "x"}: {{Address: "192.0.2.1", Port: 1, ServicePort: 1, Labels: map[string]string{}}},
	}
	return NewCatalog([]*Service{web, db}, endpoints).WithGateways([]NetworkGateway{
		{Network: "net2", Address: "198.51.100.7", Port: 15443, Cluster: "west"},
		{Network: "net1", Address: "gw.example.com", Port: 15443, Cluster: "east"},
	})
}

func TestCatalogJSONRoundTripIsExact(t *testing.T) {
	want := fullCatalog()
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Catalog
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !want.Equal(&got) || !got.Equal(want) {
		t.Errorf("decoded catalog differs in %v (gateways same: %v)\n%s", want.DiffServices(&got), want.SameGateways(&got), data)
	}
	if !reflect.DeepEqual(want.endpoints, got.endpoints) {
		t.Errorf("endpoint map differs:\nwant %v\ngot  %v", want.endpoints, got.endpoints)
	}
	if !reflect.DeepEqual(want.gateways, got.gateways) {
		t.Errorf("gateways differ:\nwant %v\ngot  %v", want.gateways, got.gateways)
	}
	if again, _ := json.Marshal(&got); string(again) != string(data) {
		t.Errorf("encoding the decoded catalog gives other bytes:\n%s\n%s", data, again)
	}
}

// TestCatalogJSONCoversEveryField fails when a field is added to a type a
// catalog holds and fullCatalog does not set it, so the round trip above
// keeps covering everything.
func TestCatalogJSONCoversEveryField(t *testing.T) {
	c := fullCatalog()
	web := c.Service(ServiceKey{Hostname: "web.shop.svc.cluster.local", Namespace: "shop"})
	for _, v := range []any{*web, web.Ports[0], *c.AllEndpoints(web.ServiceKey)[0], c.Gateways()[0]} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Errorf("%s.%s is not set in fullCatalog", rv.Type().Name(), rv.Type().Field(i).Name)
			}
		}
	}
}

func TestEmptyCatalogJSONRoundTrip(t *testing.T) {
	data, err := json.Marshal(NewCatalog(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got Catalog
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	if !got.Equal(NewCatalog(nil, nil)) || got.byKey == nil || got.endpoints == nil {
		t.Errorf("empty catalog decoded as %+v", got)
	}
}

func TestCatalogJSONRefusesWhatItDidNotWrite(t *testing.T) {
	cases := map[string]string{
		"other format":   `{"format":2,"services":[],"endpoints":[],"gateways":null}`,
		"unknown field":  `{"format":1,"services":[],"endpoints":[],"gateways":null,"extra":1}`,
		"trailing data":  `{"format":1,"services":[],"endpoints":[],"gateways":null} {}`,
		"truncated":      `{"format":1,"services":[{"Hostname":"a"`,
		"null service":   `{"format":1,"services":[null],"endpoints":[],"gateways":null}`,
		"twice":          `{"format":1,"services":[{"Hostname":"a","Namespace":"n"},{"Hostname":"a","Namespace":"n"}],"endpoints":[],"gateways":null}`,
		"null endpoint":  `{"format":1,"services":[],"endpoints":[{"service":{"Hostname":"a","Namespace":"n"},"endpoints":[null]}],"gateways":null}`,
		"endpoints x2":   `{"format":1,"services":[],"endpoints":[{"service":{"Hostname":"a","Namespace":"n"},"endpoints":[]},{"service":{"Hostname":"a","Namespace":"n"},"endpoints":[]}],"gateways":null}`,
		"not an object":  `[1,2,3]`,
		"binary garbage": "\x00\x01garbage",
	}
	for name, data := range cases {
		var c Catalog
		if err := json.Unmarshal([]byte(data), &c); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
		// UnmarshalJSON itself, as a state file reader calls it.
		if err := c.UnmarshalJSON([]byte(data)); err == nil || !strings.HasPrefix(err.Error(), "catalog: ") {
			t.Errorf("%s: UnmarshalJSON error %v, want one about the catalog", name, err)
		}
	}
}
