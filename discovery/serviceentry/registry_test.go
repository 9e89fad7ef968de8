package serviceentry

import (
	"testing"

	"github.com/isthmus-mesh/isthmus/discovery"
)

const oneEntry = `
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [ext.example.com]
  ports: [{name: http, number: 80, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
`

func pending(r discovery.Registry) bool {
	select {
	case <-r.Changes():
		return true
	default:
		return false
	}
}

func TestRegistrySignalsOnlyRealChanges(t *testing.T) {
	r := NewRegistry()
	if r.Name() != "file" || r.Catalog() == nil || len(r.Catalog().Services()) != 0 {
		t.Fatalf("new registry: name %q, catalog %v; want \"file\" and an empty catalog", r.Name(), r.Catalog())
	}

	r.Update(configFromYAML(t, ""))
	if pending(r) {
		t.Error("empty config on an empty registry signalled a change")
	}

	r.Update(configFromYAML(t, oneEntry))
	if !pending(r) {
		t.Fatal("adding a ServiceEntry did not signal a change")
	}
	assertLines(t, "endpoints", describeEndpoints(r.Catalog()), []string{"ext.example.com/default:80 -> 10.0.0.1:80 cluster=file"})

	r.Update(configFromYAML(t, oneEntry))
	if pending(r) {
		t.Error("the same config again signalled a change")
	}

	moved := configFromYAML(t, oneEntry[:len(oneEntry)-len("10.0.0.1}]\n")]+"10.0.0.2}]\n")
	r.Update(moved)
	if !pending(r) {
		t.Fatal("an endpoint address change did not signal a change")
	}
	assertLines(t, "endpoints", describeEndpoints(r.Catalog()), []string{"ext.example.com/default:80 -> 10.0.0.2:80 cluster=file"})
}

func TestRegistryChangesCoalesce(t *testing.T) {
	r := NewRegistry()
	r.Update(configFromYAML(t, oneEntry))
	r.Update(configFromYAML(t, ""))
	if !pending(r) {
		t.Fatal("no change signalled")
	}
	if pending(r) {
		t.Error("two updates left two signals; want them coalesced into one")
	}
	if n := len(r.Catalog().Services()); n != 0 {
		t.Errorf("catalog has %d services after the entry was removed, want 0", n)
	}
}
