package translate

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

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
	p := &model.Proxy{Type: model.SidecarProxy, Network: in.network, Locality: in.locality,
		IPAddresses: standInAddresses(in.ipv4, in.ipv6)}
	if in.router {
		p.Type = model.RouterProxy
	}
	return p
}

// serviceRoutesInput is the virtual host of a service on a route
// configuration's port, seen through an index. Its routes depend on the
// proxy only through the routeView they are built with, whose answers are
// traced: routes built for one view are taken by another when its view
// gives every traced question the same answer (see holds).
type serviceRoutesInput struct {
	index   *Index // the proxy's cluster's index, recording nothing
	service *discovery.Service
	port    uint32
}

// serviceRoutes are the routes of one virtual host as built for a view, the
// trace of what they asked that view, and what building them read.
type serviceRoutes struct {
	trace  []routeQuery
	reads  *reads
	routes []*routev3.Route
	err    error // building them panicked
}

// buildServiceRoutes builds the routes of in for view, tracing what they
// ask of it; the view's questions are answered, and recorded, through the
// unit's own index, so that its reads cover its answers.
func buildServiceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	idx := in.index.recording(newReads())
	traced := &tracedView{inner: view.on(idx)}
	c := &routeContext{idx: idx, view: traced, port: in.port}
	routes, err := safely(func() ([]*routev3.Route, error) { return c.serviceRoutes(in.service), nil })
	return &serviceRoutes{trace: traced.trace, reads: idx.reads, routes: routes, err: err}
}

// unitSource gives a view's build the clusters of each service port and the
// routes of each virtual host: built on the spot (Translate), or shared
// across views (a Translator).
type unitSource interface {
	portClusters(in portClustersInput) *clusterUnit
	serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes
	// virtualHost is the virtual host of in: built, or one built before
	// for an equal input.
	virtualHost(in virtualHostInput) *routev3.VirtualHost
}

// buildUnits builds every unit it is asked for: the pure Translate.
type buildUnits struct{}

func (buildUnits) portClusters(in portClustersInput) *clusterUnit {
	return &clusterUnit{in: in, res: buildPortClusters(in)}
}

func (buildUnits) serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	return buildServiceRoutes(in, view)
}

func (buildUnits) virtualHost(in virtualHostInput) *routev3.VirtualHost { return buildVirtualHost(in) }

// unitTable shares the units of one Translator across its views: each
// input's clusters are built once, by the first view that needs them, while
// the others wait; a virtual host's routes once for every set of views that
// answer their trace alike; and a virtual host once for every view that
// gives it the same domains and routes (in a mesh without Sidecars, a
// service's host is the same in every namespace but its own).
type unitTable struct {
	mu      sync.Mutex
	hosts   map[virtualHostKey][]*routev3.VirtualHost
	seed    maphash.Seed
	entries map[portClustersInput]*clusterUnit
	// carried maps each unit of the previous table that inherit took over
	// to its counterpart here; written by inherit only, before any view
	// is translated, so read without the lock.
	carried map[*clusterUnit]*clusterUnit
	routes  map[serviceRoutesInput][]*serviceRoutes
}

// clusterUnit is one input's clusters, built once. A view keeps the units
// it took, each with its input, to take them again in a later snapshot.
type clusterUnit struct {
	in    portClustersInput
	once  sync.Once
	res   *portClusters
	built atomic.Bool // res is set (see InheritFrom)
}

func newUnitTable() *unitTable {
	return &unitTable{entries: map[portClustersInput]*clusterUnit{}, carried: map[*clusterUnit]*clusterUnit{},
		routes: map[serviceRoutesInput][]*serviceRoutes{}, hosts: map[virtualHostKey][]*routev3.VirtualHost{}, seed: maphash.MakeSeed()}
}

// serviceRoutes gives the routes of in built for a view that answers like
// view, building them when none is known yet. Two views may build the same
// routes at once; both are kept, and either serves.
func (t *unitTable) serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	t.mu.Lock()
	candidates := t.routes[in]
	t.mu.Unlock()
	for _, c := range candidates {
		if holds(c.trace, view) {
			return c
		}
	}
	built := buildServiceRoutes(in, view)
	t.mu.Lock()
	t.routes[in] = append(t.routes[in], built)
	t.mu.Unlock()
	return built
}

func (t *unitTable) portClusters(in portClustersInput) *clusterUnit {
	t.mu.Lock()
	e := t.entries[in]
	if e == nil {
		e = &clusterUnit{in: in}
		t.entries[in] = e
	}
	t.mu.Unlock()
	e.once.Do(func() {
		e.res = buildPortClusters(in)
		e.built.Store(true)
	})
	return e
}

// virtualHostKey finds the virtual hosts that may have an input's content:
// the same name and routes (the same slice), and domains of the same hash.
type virtualHostKey struct {
	name    string
	routes  **routev3.Route // the routes' array
	nRoutes int
	domains uint64
}

// virtualHost returns a virtual host built before for an input equal to
// in, else builds it and keeps it for the views that follow.
func (t *unitTable) virtualHost(in virtualHostInput) *routev3.VirtualHost {
	key := virtualHostKey{name: in.name, routes: unsafe.SliceData(in.routes), nRoutes: len(in.routes), domains: t.hashDomains(in.domains)}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, vh := range t.hosts[key] {
		if slices.Equal(vh.Domains, in.domains) && sameSlice(vh.Routes, in.routes) {
			return vh
		}
	}
	vh := buildVirtualHost(in)
	t.hosts[key] = append(t.hosts[key], vh)
	return vh
}

func (t *unitTable) hashDomains(domains []string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	for _, d := range domains {
		h.WriteString(d)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// sameSlice reports whether a and b are the same slice: the same array and
// length.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// carriedOver is the unit of this table that inherit took over for u, a
// unit of the previous table.
func (t *unitTable) carriedOver(u *clusterUnit) (*clusterUnit, bool) {
	next, ok := t.carried[u]
	return next, ok
}

// len counts the units built or being built.
func (t *unitTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// inherit takes over from prev the units change does not reach, under their
// inputs in the next snapshot (nextIndex maps an index of prev's snapshot
// to its counterpart), and returns the set taken over, by their reads. t
// must be new. A trace's answers are keys, the same in both snapshots; a
// question about a service carries the previous snapshot's, of which only
// the hostname and namespace are asked.
func (t *unitTable) inherit(prev *unitTable, change *snapshotChange, nextIndex func(*Index) (*Index, bool)) map[*reads]bool {
	kept := map[*reads]bool{}
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
		inherited := &clusterUnit{in: next, res: e.res}
		inherited.once.Do(func() {}) // built already
		inherited.built.Store(true)
		t.entries[next] = inherited
		t.carried[e] = inherited
		kept[e.res.reads] = true
	}
	for in, list := range prev.routes {
		next, ok := nextSnapshot(in.index, in.service, nextIndex)
		if !ok {
			continue
		}
		key := serviceRoutesInput{index: next.index, service: next.service, port: in.port}
		for _, r := range list {
			if r.err == nil && !change.reaches(r.reads) {
				t.routes[key] = append(t.routes[key], r)
				kept[r.reads] = true
			}
		}
	}
	return kept
}

// nextSnapshot is in as of the next snapshot: its index and service there.
func (in portClustersInput) nextSnapshot(nextIndex func(*Index) (*Index, bool)) (portClustersInput, bool) {
	next, ok := nextSnapshot(in.index, in.service, nextIndex)
	in.index, in.service = next.index, next.service
	return in, ok
}

// servicePlace is a service and the index it is seen through.
type servicePlace struct {
	index   *Index
	service *discovery.Service
}

// nextSnapshot is the index and service of the next snapshot that stand for
// idx and svc of the previous one.
func nextSnapshot(idx *Index, svc *discovery.Service, nextIndex func(*Index) (*Index, bool)) (servicePlace, bool) {
	next, ok := nextIndex(idx)
	if !ok {
		return servicePlace{}, false
	}
	nextSvc := next.carriedService(svc.ServiceKey)
	return servicePlace{index: next, service: nextSvc}, nextSvc != nil
}
