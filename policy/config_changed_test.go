package policy

import (
	"strings"
	"testing"
)

func decodeConfig(t *testing.T, yaml string) *Config {
	t.Helper()
	objs, errs := Decode("mesh.yaml", []byte(yaml))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return NewConfig(objs)
}

const equivalentBase = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec: {host: cart, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart.shop.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
`

// Two configurations decoded apart differ in the objects whose content
// differs: a moved endpoint, another subset, new labels.
func TestConfigChangedSeesContentNotDecoding(t *testing.T) {
	base := decodeConfig(t, equivalentBase)
	for name, yaml := range map[string]string{
		"subset": strings.Replace(equivalentBase, "version: v1", "version: v2", 1),
		"labels": strings.Replace(equivalentBase, "metadata: {name: cart, namespace: shop}\nspec: {host", "metadata: {name: cart, namespace: shop, labels: {team: a}}\nspec: {host", 1),
	} {
		if got := base.Changed(decodeConfig(t, yaml)); len(got) != 1 || got[0].Kind != KindDestinationRule {
			t.Errorf("%s: changed %v, want the DestinationRule", name, got)
		}
	}
}

// Changed names the objects that differ, whichever side they are on.
func TestConfigChanged(t *testing.T) {
	base := decodeConfig(t, equivalentBase)
	moved := decodeConfig(t, strings.Replace(equivalentBase, "10.0.0.1", "10.0.0.2", 1))
	if got := base.Changed(moved); len(got) != 1 || got[0].Kind != KindServiceEntry {
		t.Errorf("changed %v, want the ServiceEntry", got)
	}
	if got := base.Changed(nil); len(got) != 2 {
		t.Errorf("against nothing: changed %v, want both objects", got)
	}
	if got := (*Config)(nil).Changed(base); len(got) != 2 {
		t.Errorf("from nothing: changed %v, want both objects", got)
	}
	if got := base.Changed(decodeConfig(t, equivalentBase)); len(got) != 0 {
		t.Errorf("decoded again: changed %v, want none", got)
	}
}
