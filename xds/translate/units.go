package translate

import (
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// portClustersInput is everything the outbound clusters of one service port
// depend on: the service port, the index it is seen through, and of the
// proxy only what shapes those clusters. The builder (buildPortClusters)
// is given this and nothing else, so two views with equal inputs get equal
// clusters by construction, and the input is the key a Translator shares
// them by across every view of the mesh: a proxy field the clusters come
// to depend on has to be added here, or the builder cannot read it.
type portClustersInput struct {
	index   *Index             // the proxy's cluster's index, recording nothing
	service *discovery.Service // chosen for the hostname (see outboundServices)
	port    discovery.Port
	// rule is the DestinationRule that applies from the proxy's namespace
	// (exportTo, namespace-local rules first); the zero key for none.
	rule       policy.Key
	network    string // the proxy's, for endpoints on other networks
	locality   string // the proxy's, for locality load balancing
	router     bool   // gateways never follow the client's HTTP version
	ipv4, ipv6 bool   // the proxy's address families, for DNS lookups
}

// portClustersInputOf derives the input of p's clusters for one service
// port; reading the DestinationRule that applies is recorded into idx's
// reads (the view's).
func portClustersInputOf(idx *Index, p *model.Proxy, svc *discovery.Service, port discovery.Port) portClustersInput {
	in := portClustersInput{
		index:    idx.base,
		service:  svc,
		port:     port,
		network:  p.Network,
		locality: p.Locality,
		router:   p.Type == model.RouterProxy,
	}
	if rule := idx.DestinationRule(p.Namespace, svc); rule != nil {
		in.rule = rule.Object.Key
	}
	in.ipv4, in.ipv6 = addressFamilies(p.IPAddresses)
	return in
}

// portClusters are the outbound clusters of one service port as the
// proxies of one input see them, with the load assignments of those that
// use EDS, validated, and what building them read.
type portClusters struct {
	reads     *reads
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	err       error // a resource failed Validate()
}

// buildPortClusters builds the clusters of in, recording what it reads.
func buildPortClusters(in portClustersInput) *portClusters {
	idx := in.index.recording(newReads())
	out := &portClusters{reads: idx.reads}
	built, err := safely(func() (*portClusters, error) {
		rule := idx.destinationRuleByKey(in.service, in.rule)
		clusters, endpoints := outboundClusters(idx, in.proxy(), in.service, in.port, rule)
		return &portClusters{clusters: clusters, endpoints: endpoints}, nil
	})
	if err != nil {
		out.err = err
		return out
	}
	out.clusters, out.endpoints = built.clusters, built.endpoints
	out.err = (&Resources{Clusters: out.clusters, Endpoints: out.endpoints}).Validate()
	return out
}

// proxy is the stand-in proxy the builder sees: the input's fields only.
func (in portClustersInput) proxy() *model.Proxy {
	p := &model.Proxy{Type: model.SidecarProxy, Network: in.network, Locality: in.locality}
	if in.router {
		p.Type = model.RouterProxy
	}
	if in.ipv4 {
		p.IPAddresses = append(p.IPAddresses, viewIPv4)
	}
	if in.ipv6 {
		p.IPAddresses = append(p.IPAddresses, viewIPv6)
	}
	return p
}

// unitSource gives a view's build the clusters of each service port: built
// on the spot (Translate), or shared across views (a Translator).
type unitSource interface {
	portClusters(in portClustersInput) *portClusters
}

// buildUnits builds every unit it is asked for: the pure Translate.
type buildUnits struct{}

func (buildUnits) portClusters(in portClustersInput) *portClusters { return buildPortClusters(in) }

// unitTable shares the units of one Translator across its views: each
// input's clusters are built once, by the first view that needs them, while
// the others wait.
type unitTable struct {
	mu      sync.Mutex
	entries map[portClustersInput]*unitEntry
}

// unitEntry is one input's clusters, built once.
type unitEntry struct {
	once  sync.Once
	res   *portClusters
	built atomic.Bool // res is set (see InheritFrom)
}

func newUnitTable() *unitTable {
	return &unitTable{entries: map[portClustersInput]*unitEntry{}}
}

func (t *unitTable) portClusters(in portClustersInput) *portClusters {
	t.mu.Lock()
	e := t.entries[in]
	if e == nil {
		e = &unitEntry{}
		t.entries[in] = e
	}
	t.mu.Unlock()
	e.once.Do(func() {
		e.res = buildPortClusters(in)
		e.built.Store(true)
	})
	return e.res
}

// len counts the units built or being built.
func (t *unitTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// inherit takes over from prev the units change does not reach, under their
// inputs in the next snapshot (nextIndex maps an index of prev's snapshot
// to its counterpart), and returns the set taken over. t must be new.
func (t *unitTable) inherit(prev *unitTable, change *snapshotChange, nextIndex func(*Index) (*Index, bool)) map[*portClusters]bool {
	kept := map[*portClusters]bool{}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for in, e := range prev.entries {
		if !e.built.Load() || e.res.err != nil || change.reaches(e.res.reads) {
			continue
		}
		next, ok := in.nextSnapshot(nextIndex)
		if !ok {
			continue
		}
		inherited := &unitEntry{res: e.res}
		inherited.once.Do(func() {}) // built already
		inherited.built.Store(true)
		t.entries[next] = inherited
		kept[e.res] = true
	}
	return kept
}

// nextSnapshot is in as of the next snapshot: its index and service there.
func (in portClustersInput) nextSnapshot(nextIndex func(*Index) (*Index, bool)) (portClustersInput, bool) {
	idx, ok := nextIndex(in.index)
	if !ok {
		return in, false
	}
	svc := idx.carriedService(in.service.ServiceKey)
	if svc == nil {
		return in, false
	}
	in.index, in.service = idx, svc
	return in, true
}
