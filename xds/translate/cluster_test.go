package translate

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

const reviewsHost = "reviews.default.svc.cluster.local"

// reviewsWorld is one STATIC HTTP service on port 9080 with a v1 and a v2
// endpoint, plus the given Istio objects.
func reviewsWorld(objs ...*policy.Object) *Index {
	key := discovery.ServiceKey{Hostname: reviewsHost, Namespace: "default"}
	svc := &discovery.Service{
		ServiceKey: key,
		Ports:      []discovery.Port{{Name: "http", Number: 9080, Protocol: discovery.ProtocolHTTP}},
		Resolution: discovery.ResolutionStatic,
	}
	eps := []*discovery.Endpoint{
		{Address: "10.1.0.1", Port: 9080, ServicePort: 9080, Labels: map[string]string{"version": "v1"}},
		{Address: "10.1.0.2", Port: 9080, ServicePort: 9080, Labels: map[string]string{"version": "v2"}},
	}
	cat := discovery.NewCatalog([]*discovery.Service{svc}, map[discovery.ServiceKey][]*discovery.Endpoint{key: eps})
	return NewIndex(&model.Snapshot{Version: 1, Config: policy.NewConfig(objs), Catalog: cat})
}

func destinationRule(name string, dr *networking.DestinationRule) *policy.Object {
	return &policy.Object{
		Key:  policy.Key{Kind: policy.KindDestinationRule, Namespace: "default", Name: name},
		Spec: dr,
	}
}

func clientProxy() *model.Proxy {
	return &model.Proxy{
		ID: "sidecar~10.0.0.5~client.default~default.svc.cluster.local", Type: model.SidecarProxy,
		IPAddresses: []string{"10.0.0.5"}, Namespace: "default", InterceptionMode: model.InterceptRedirect,
	}
}

func translateOrFail(t *testing.T, idx *Index, p *model.Proxy) *Resources {
	t.Helper()
	res, err := Translate(idx, p)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func findCluster(t *testing.T, res *Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range res.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %q", name)
	return nil
}

func findLoad(t *testing.T, res *Resources, name string) *endpointv3.ClusterLoadAssignment {
	t.Helper()
	for _, cla := range res.Endpoints {
		if cla.GetClusterName() == name {
			return cla
		}
	}
	t.Fatalf("no load assignment %q", name)
	return nil
}

func endpointAddresses(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, group := range cla.GetEndpoints() {
		for _, ep := range group.GetLbEndpoints() {
			out = append(out, ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
		}
	}
	return out
}

func TestConnectionPoolLimitsBecomeCircuitBreakerThresholds(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		TrafficPolicy: &networking.TrafficPolicy{ConnectionPool: &networking.ConnectionPoolSettings{
			Tcp:  &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: 1},
			Http: &networking.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: 1},
		}},
	}))
	res := translateOrFail(t, idx, clientProxy())
	th := findCluster(t, res, "outbound|9080||"+reviewsHost).GetCircuitBreakers().GetThresholds()
	if len(th) != 1 {
		t.Fatalf("want one threshold set, got %d", len(th))
	}
	if got := th[0].GetMaxConnections().GetValue(); got != 1 {
		t.Errorf("max_connections = %d, want 1", got)
	}
	if got := th[0].GetMaxPendingRequests().GetValue(); got != 1 {
		t.Errorf("max_pending_requests = %d, want 1", got)
	}
	if got := th[0].GetMaxRequests().GetValue(); got != 1<<32-1 {
		t.Errorf("max_requests = %d, want Istio's unlimited default", got)
	}
}

func TestClustersWithoutRuleHaveUnlimitedCircuitBreakers(t *testing.T) {
	res := translateOrFail(t, reviewsWorld(), clientProxy())
	th := findCluster(t, res, "outbound|9080||"+reviewsHost).GetCircuitBreakers().GetThresholds()[0]
	for name, v := range map[string]uint32{
		"max_connections": th.GetMaxConnections().GetValue(), "max_pending_requests": th.GetMaxPendingRequests().GetValue(),
		"max_requests": th.GetMaxRequests().GetValue(), "max_retries": th.GetMaxRetries().GetValue(),
	} {
		if v != 1<<32-1 {
			t.Errorf("%s = %d, want 4294967295", name, v)
		}
	}
}

func TestSubsetClusterKeepsOnlyEndpointsWithItsLabels(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		Subsets: []*networking.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "v3", Labels: map[string]string{"version": "v3"}},
		},
	}))
	res := translateOrFail(t, idx, clientProxy())
	if got := endpointAddresses(findLoad(t, res, "outbound|9080|v1|"+reviewsHost)); len(got) != 1 || got[0] != "10.1.0.1" {
		t.Errorf("subset v1 endpoints = %v, want [10.1.0.1]", got)
	}
	if got := endpointAddresses(findLoad(t, res, "outbound|9080||"+reviewsHost)); len(got) != 2 {
		t.Errorf("default cluster endpoints = %v, want both", got)
	}
	if got := findLoad(t, res, "outbound|9080|v3|"+reviewsHost); len(got.GetEndpoints()) != 0 {
		t.Errorf("subset v3 matches no endpoint, got %v", endpointAddresses(got))
	}
}

func TestSubsetPolicyReplacesOnlyTheGroupsItSets(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		TrafficPolicy: &networking.TrafficPolicy{
			LoadBalancer:   &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_RANDOM}},
			ConnectionPool: &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{MaxConnections: 7}},
		},
		Subsets: []*networking.Subset{{
			Name: "v2", Labels: map[string]string{"version": "v2"},
			TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: &networking.LoadBalancerSettings{
				LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_ROUND_ROBIN},
			}},
		}},
	}))
	res := translateOrFail(t, idx, clientProxy())
	v2 := findCluster(t, res, "outbound|9080|v2|"+reviewsHost)
	if v2.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		t.Errorf("subset lb = %v, want the subset's ROUND_ROBIN", v2.GetLbPolicy())
	}
	if got := v2.GetCircuitBreakers().GetThresholds()[0].GetMaxConnections().GetValue(); got != 7 {
		t.Errorf("subset max_connections = %d, want the rule's 7", got)
	}
	if got := findCluster(t, res, "outbound|9080||"+reviewsHost).GetLbPolicy(); got != clusterv3.Cluster_RANDOM {
		t.Errorf("default cluster lb = %v, want RANDOM", got)
	}
}

func TestPortLevelSettingsDoNotInheritRuleLevel(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		TrafficPolicy: &networking.TrafficPolicy{
			ConnectionPool: &networking.ConnectionPoolSettings{Tcp: &networking.ConnectionPoolSettings_TCPSettings{
				MaxConnections: 7, ConnectTimeout: durationpb.New(1e9),
			}},
			PortLevelSettings: []*networking.TrafficPolicy_PortTrafficPolicy{{
				Port:         &networking.PortSelector{Number: 9080},
				LoadBalancer: &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_RANDOM}},
			}},
		},
	}))
	c := findCluster(t, translateOrFail(t, idx, clientProxy()), "outbound|9080||"+reviewsHost)
	if c.GetLbPolicy() != clusterv3.Cluster_RANDOM {
		t.Errorf("lb = %v, want the port-level RANDOM", c.GetLbPolicy())
	}
	if got := c.GetCircuitBreakers().GetThresholds()[0].GetMaxConnections().GetValue(); got != 1<<32-1 {
		t.Errorf("max_connections = %d, want the default: port-level settings replace the rule's", got)
	}
	if got := c.GetConnectTimeout().AsDuration(); got != defaultConnectTimeout {
		t.Errorf("connect_timeout = %v, want the default %v", got, defaultConnectTimeout)
	}
}

func TestPassthroughSubsetForwardsToOriginalDestination(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		Subsets: []*networking.Subset{{
			Name: "direct",
			TrafficPolicy: &networking.TrafficPolicy{LoadBalancer: &networking.LoadBalancerSettings{
				LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_PASSTHROUGH},
			}},
		}},
	}))
	res := translateOrFail(t, idx, clientProxy())
	c := findCluster(t, res, "outbound|9080|direct|"+reviewsHost)
	if c.GetType() != clusterv3.Cluster_ORIGINAL_DST || c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED || c.GetEdsClusterConfig() != nil {
		t.Errorf("cluster = type %v lb %v eds %v, want ORIGINAL_DST / CLUSTER_PROVIDED without EDS", c.GetType(), c.GetLbPolicy(), c.GetEdsClusterConfig())
	}
	for _, cla := range res.Endpoints {
		if cla.GetClusterName() == c.GetName() {
			t.Errorf("an original-destination cluster has no load assignment")
		}
	}
}

func TestEveryEDSClusterHasOneLoadAssignment(t *testing.T) {
	res := translateOrFail(t, reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host:    "reviews",
		Subsets: []*networking.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
	})), clientProxy())
	loads := map[string]int{}
	for _, cla := range res.Endpoints {
		loads[cla.GetClusterName()]++
	}
	for _, c := range res.Clusters {
		if c.GetType() == clusterv3.Cluster_EDS && loads[c.GetName()] != 1 {
			t.Errorf("EDS cluster %s has %d load assignments", c.GetName(), loads[c.GetName()])
		}
		delete(loads, c.GetName())
	}
	if len(loads) != 0 {
		t.Errorf("load assignments without a cluster: %v", loads)
	}
}

func TestLogicalDNSClusterGetsOneHost(t *testing.T) {
	key := discovery.ServiceKey{Hostname: "api.example.com", Namespace: "default"}
	svc := &discovery.Service{ServiceKey: key, Resolution: discovery.ResolutionDNSRoundRobin,
		Ports: []discovery.Port{{Number: 443, Protocol: discovery.ProtocolTLS}}}
	eps := []*discovery.Endpoint{
		{Address: "a.example.com", Port: 443, ServicePort: 443},
		{Address: "b.example.com", Port: 443, ServicePort: 443},
	}
	idx := NewIndex(&model.Snapshot{Config: policy.NewConfig(nil),
		Catalog: discovery.NewCatalog([]*discovery.Service{svc}, map[discovery.ServiceKey][]*discovery.Endpoint{key: eps})})
	c := findCluster(t, translateOrFail(t, idx, clientProxy()), "outbound|443||api.example.com")
	if got := endpointAddresses(c.GetLoadAssignment()); len(got) != 1 || got[0] != "a.example.com" {
		t.Errorf("LOGICAL_DNS hosts = %v, want only the first", got)
	}
}

func TestClustersAreDeterministic(t *testing.T) {
	idx := reviewsWorld(destinationRule("reviews", &networking.DestinationRule{
		Host: "reviews",
		Subsets: []*networking.Subset{
			{Name: "b", Labels: map[string]string{"version": "v2"}},
			{Name: "a", Labels: map[string]string{"version": "v1"}},
		},
	}))
	first := translateOrFail(t, idx, clientProxy())
	for range 5 {
		again := translateOrFail(t, idx, clientProxy())
		for i := range first.Clusters {
			if !proto.Equal(first.Clusters[i], again.Clusters[i]) {
				t.Fatalf("cluster %s differs between runs", first.Clusters[i].GetName())
			}
		}
	}
}

func TestHashPolicyFollowsConsistentHashKey(t *testing.T) {
	hash := func(ch *networking.LoadBalancerSettings_ConsistentHashLB) *networking.LoadBalancerSettings {
		return &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_ConsistentHash{ConsistentHash: ch}}
	}
	header := HashPolicy(hash(&networking.LoadBalancerSettings_ConsistentHashLB{
		HashKey: &networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName{HttpHeaderName: "x-user"}}))
	if len(header) != 1 || header[0].GetHeader().GetHeaderName() != "x-user" {
		t.Errorf("header hash policy = %v", header)
	}
	cookie := HashPolicy(hash(&networking.LoadBalancerSettings_ConsistentHashLB{
		HashKey: &networking.LoadBalancerSettings_ConsistentHashLB_HttpCookie{HttpCookie: &networking.LoadBalancerSettings_ConsistentHashLB_HTTPCookie{
			Name: "session", Path: "/", Ttl: durationpb.New(0)}}}))
	if len(cookie) != 1 || cookie[0].GetCookie().GetName() != "session" || cookie[0].GetCookie().GetPath() != "/" {
		t.Errorf("cookie hash policy = %v", cookie)
	}
	ip := HashPolicy(hash(&networking.LoadBalancerSettings_ConsistentHashLB{
		HashKey: &networking.LoadBalancerSettings_ConsistentHashLB_UseSourceIp{UseSourceIp: true}}))
	if len(ip) != 1 || !ip[0].GetConnectionProperties().GetSourceIp() {
		t.Errorf("source IP hash policy = %v", ip)
	}
	query := HashPolicy(hash(&networking.LoadBalancerSettings_ConsistentHashLB{
		HashKey: &networking.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName{HttpQueryParameterName: "user"}}))
	if len(query) != 1 || query[0].GetQueryParameter().GetName() != "user" {
		t.Errorf("query hash policy = %v", query)
	}
	simple := &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_RANDOM}}
	if got := HashPolicy(simple); got != nil {
		t.Errorf("a non-hashing LB has no hash policy, got %v", got)
	}
	if got := HashPolicy(nil); got != nil {
		t.Errorf("no LB settings, no hash policy; got %v", got)
	}
}
