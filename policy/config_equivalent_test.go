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

// Two configurations decoded apart are equivalent when only the ignored
// kinds differ, and not when another object's spec does.
func TestConfigEquivalentExcept(t *testing.T) {
	base := decodeConfig(t, equivalentBase)
	movedEndpoint := decodeConfig(t, strings.Replace(equivalentBase, "10.0.0.1", "10.0.0.2", 1))
	if !base.EquivalentExcept(movedEndpoint, KindServiceEntry, KindWorkloadEntry) {
		t.Error("a moved ServiceEntry endpoint makes the other objects differ")
	}
	if base.EquivalentExcept(movedEndpoint) {
		t.Error("a moved ServiceEntry endpoint is not seen when ServiceEntries count")
	}
	newSubset := decodeConfig(t, strings.Replace(equivalentBase, "version: v1", "version: v2", 1))
	if base.EquivalentExcept(newSubset, KindServiceEntry, KindWorkloadEntry) {
		t.Error("a changed DestinationRule is not seen")
	}
	relabelled := decodeConfig(t, strings.Replace(equivalentBase, "metadata: {name: cart, namespace: shop}\nspec: {host", "metadata: {name: cart, namespace: shop, labels: {team: a}}\nspec: {host", 1))
	if base.EquivalentExcept(relabelled, KindServiceEntry) {
		t.Error("a relabelled DestinationRule is not seen")
	}
	if base.EquivalentExcept(nil) || (*Config)(nil).EquivalentExcept(base) {
		t.Error("a missing configuration is equivalent")
	}
}
