package configdiff

import (
	"bytes"
	"strings"
	"testing"
)

// served is what Isthmus serves: one listener, one EDS cluster and its
// endpoints.
const served = `{"configs": [
 {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters": [
  {"version_info": "a1", "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "outbound|9080||reviews", "type": "EDS"}}]},
 {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": [
  {"endpoint_config": {"cluster_name": "outbound|9080||reviews", "endpoints": [{"load_balancing_weight": 1,
   "lb_endpoints": [{"load_balancing_weight": 1, "endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 9080}}}}]}]}}]},
 {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": [
  {"name": "l1", "active_state": {"version_info": "a1", "listener": {"name": "l1", "stat_prefix": "a"}}}]}
]}`

// envoy is the same as Envoy dumps it: its own timestamps, versions and
// endpoint defaults, and a static cluster's endpoints.
const envoySame = `{"configs": [
 {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap": {}},
 {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters": [
  {"version_info": "zz", "last_updated": "2026-12-07T17:00:00Z", "cluster": {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "outbound|9080||reviews", "type": "EDS"}}]},
 {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": [
  {"endpoint_config": {"cluster_name": "outbound|9080||reviews", "policy": {"overprovisioning_factor": 140},
   "endpoints": [{"locality": {}, "lb_endpoints": [{"health_status": "HEALTHY", "load_balancing_weight": 1,
    "endpoint": {"health_check_config": {}, "address": {"socket_address": {"address": "10.0.0.1", "port_value": 9080}}}}]}]}}]},
 {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": [
  {"endpoint_config": {"cluster_name": "BlackHoleCluster"}}]},
 {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": [
  {"name": "l1", "active_state": {"version_info": "b", "last_updated": "x", "listener": {"name": "l1", "stat_prefix": "a"}}}]}
]}`

func TestEqualDumpsDifferInNothingEnvoyFillsIn(t *testing.T) {
	res, err := Compare([]byte(served), []byte(envoySame))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 0 || res.Same != 3 {
		var b bytes.Buffer
		_ = Write(&b, res)
		t.Fatalf("want 3 identical resources, got:\n%s", b.String())
	}
}

func TestChangedAndMissingResourcesAreShown(t *testing.T) {
	envoy := strings.Replace(envoySame, `"stat_prefix": "a"`, `"stat_prefix": "old"`, 1)
	envoy = strings.Replace(envoy, `"name": "outbound|9080||reviews", "type": "EDS"`, `"name": "outbound|9080||ratings", "type": "EDS"`, 1)
	res, err := Compare([]byte(served), []byte(envoy))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"listener l1: differs",
		`-  "stat_prefix": "a"`,
		`+  "stat_prefix": "old"`,
		"cluster outbound|9080||reviews: served by Isthmus, missing in Envoy",
		"cluster outbound|9080||ratings: in Envoy, not served by Isthmus",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestADumpThatIsNotJSONIsAnError(t *testing.T) {
	if _, err := Compare([]byte(served), []byte("<html>")); err == nil || !strings.Contains(err.Error(), "Envoy config dump") {
		t.Errorf("err = %v, want one naming Envoy's dump", err)
	}
}
