package translate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Index is what translation needs from a Snapshot, derived once per snapshot
// and shared by every proxy.
//
// Translation reads the snapshot only through an Index's methods, and each
// method that answers from the snapshot records what it read into the
// Index's reads, if any (see recording): what a build depends on is thus
// derived from what it consulted. Only the index files (index*.go) touch the
// snapshot and the tables derived from it; TestOnlyTheIndexReadsTheSnapshot
// holds the rest of the package to that.
type Index struct {
	*indexData
	// reads, when not nil, records what is read through this Index.
	reads *reads
}

// indexData is an Index's snapshot and the tables derived from it.
type indexData struct {
	base     *Index // the Index of this data that records nothing
	Snapshot *model.Snapshot
	tables   indexTables
}

// indexTables are derived from an Index's snapshot, and caches of it.
type indexTables struct {
	virtualServices []*VirtualServiceRef
	vsByHost        map[string][]int // exact resolved host → positions in virtualServices
	vsWildcard      []int            // positions of VirtualServices with a wildcard host
	sourceSelectors []sourceSelector
	// workloadSelectors are the selectors of policies, by namespace.
	workloadSelectors map[string][]map[string]string
	rulesByNS         map[string][]*DestinationRuleRef // DestinationRules by namespace
	sidecars          map[string][]*policy.Object      // by namespace
	workloads         map[string][]workloadEndpoint    // by endpoint address
	identities        sync.Map                         // discovery.ServiceKey → meshIdentity
	clusters          sync.Map                         // cluster id → *Index (see ForCluster)
}

// VirtualServiceRef is a VirtualService with its hosts resolved to FQDNs.
type VirtualServiceRef struct {
	Object *policy.Object
	Spec   *networking.VirtualService
	Hosts  []string // resolved
}

// DestinationRuleRef is a DestinationRule with its host resolved.
type DestinationRuleRef struct {
	Object *policy.Object
	Spec   *networking.DestinationRule
	Host   string // resolved
}

// NewIndex derives the index of snap.
func NewIndex(snap *model.Snapshot) *Index {
	idx := &Index{indexData: &indexData{Snapshot: snap, tables: indexTables{
		vsByHost:  map[string][]int{},
		rulesByNS: map[string][]*DestinationRuleRef{},
		sidecars:  map[string][]*policy.Object{},
	}}}
	idx.base = idx
	for _, o := range snap.Config.List(policy.KindVirtualService) {
		idx.addVirtualService(o)
	}
	for _, o := range snap.Config.List(policy.KindDestinationRule) {
		dr := o.Spec.(*networking.DestinationRule)
		ref := &DestinationRuleRef{Object: o, Spec: dr, Host: ResolveHost(dr.GetHost(), o.Namespace)}
		idx.tables.rulesByNS[o.Namespace] = append(idx.tables.rulesByNS[o.Namespace], ref)
	}
	for _, o := range snap.Config.List(policy.KindSidecar) {
		idx.tables.sidecars[o.Namespace] = append(idx.tables.sidecars[o.Namespace], o)
	}
	idx.tables.workloads = workloadsByAddress(snap.Catalog)
	idx.tables.workloadSelectors = workloadSelectorsByNamespace(snap.Config)
	return idx
}

// recording is idx recording its reads into r.
func (idx *Index) recording(r *reads) *Index {
	return &Index{indexData: idx.indexData, reads: r}
}

// ForCluster is the index as a proxy in cluster id sees the mesh: each
// service at that cluster's own addresses (see discovery.Catalog.ForCluster).
// It is idx itself when nothing differs; each cluster's is built once.
func (idx *Index) ForCluster(id string) *Index {
	if id == "" {
		return idx
	}
	if v, ok := idx.tables.clusters.Load(id); ok {
		return v.(*Index).withReadsOf(idx)
	}
	local := idx.base
	if cat := idx.Snapshot.Catalog.ForCluster(id); cat != idx.Snapshot.Catalog {
		snap := *idx.Snapshot
		snap.Catalog = cat
		local = NewIndex(&snap)
	}
	v, _ := idx.tables.clusters.LoadOrStore(id, local)
	return v.(*Index).withReadsOf(idx)
}

// withReadsOf is idx recording into what other records into: idx itself
// when other records nothing, so that an Index not recording is always the
// same pointer (views are keyed by it).
func (idx *Index) withReadsOf(other *Index) *Index {
	if other.reads == nil {
		return idx
	}
	return idx.recording(other.reads)
}

// addVirtualService resolves a VirtualService's hosts and indexes it by
// host and by the source labels it matches proxies on.
func (idx *Index) addVirtualService(o *policy.Object) {
	vs := o.Spec.(*networking.VirtualService)
	ref := &VirtualServiceRef{Object: o, Spec: vs}
	pos := len(idx.tables.virtualServices)
	wildcard := false
	for _, h := range vs.GetHosts() {
		host := ResolveHost(h, o.Namespace)
		ref.Hosts = append(ref.Hosts, host)
		if strings.HasPrefix(host, "*") {
			wildcard = true
		} else if !slices.Contains(idx.tables.vsByHost[host], pos) {
			idx.tables.vsByHost[host] = append(idx.tables.vsByHost[host], pos)
		}
	}
	if wildcard {
		idx.tables.vsWildcard = append(idx.tables.vsWildcard, pos)
	}
	idx.tables.virtualServices = append(idx.tables.virtualServices, ref)
	for _, labels := range sourceLabelsOf(vs) {
		idx.tables.sourceSelectors = append(idx.tables.sourceSelectors, sourceSelector{vs: ref, labels: labels})
	}
}

// VirtualServices returns the VirtualServices bound to sidecars (gateways
// empty or containing "mesh") that a proxy in namespace ns may see and that
// name hostname, in Istio's order of precedence: the proxy's namespace
// first, then others by namespace and name. The returned slice is fresh:
// callers may reorder it.
func (idx *Index) VirtualServices(ns, hostname string) []*VirtualServiceRef {
	idx.reads.readRoutingHost(hostname)
	var own, other []*VirtualServiceRef
	for _, pos := range idx.virtualServicesNaming(hostname) {
		ref := idx.tables.virtualServices[pos]
		if !appliesToMesh(ref.Spec.GetGateways()) ||
			!exportedTo(ref.Spec.GetExportTo(), ref.Object.Namespace, ns) ||
			!anyHostMatches(ref.Hosts, hostname) {
			continue
		}
		if ref.Object.Namespace == ns {
			own = append(own, ref)
		} else {
			other = append(other, ref)
		}
	}
	return append(own, other...)
}

// virtualServicesNaming returns, in index order, the positions of the
// VirtualServices with a host covering hostname: a host that is not a
// wildcard covers only itself.
func (idx *Index) virtualServicesNaming(hostname string) []int {
	exact := idx.tables.vsByHost[hostname]
	if len(idx.tables.vsWildcard) == 0 {
		return exact
	}
	out := slices.Clone(exact)
	for _, pos := range idx.tables.vsWildcard {
		if !slices.Contains(exact, pos) {
			out = append(out, pos)
		}
	}
	slices.Sort(out)
	return out
}

func appliesToMesh(gateways []string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if g == "mesh" {
			return true
		}
	}
	return false
}

func anyHostMatches(patterns []string, host string) bool {
	for _, p := range patterns {
		if HostMatches(p, host) {
			return true
		}
	}
	return false
}

// DestinationRule returns the rule that applies to traffic from a proxy in
// namespace ns to service svc, or nil. Istio's precedence: a rule in the
// proxy's namespace, then in the service's namespace, then in the root
// namespace; within one namespace the most specific host wins.
func (idx *Index) DestinationRule(ns string, svc *discovery.Service) *DestinationRuleRef {
	idx.reads.readRoutingHost(svc.Hostname)
	for _, candidateNS := range []string{ns, svc.Namespace, policy.RootNamespace} {
		if best := idx.bestRuleIn(candidateNS, ns, svc.Hostname); best != nil {
			return best
		}
	}
	return nil
}

// destinationRuleByKey is the DestinationRule with key for svc, as
// DestinationRule found it (nil for the zero key). Its reads are recorded
// as DestinationRule's are: a change to any rule for the host reaches it.
func (idx *Index) destinationRuleByKey(svc *discovery.Service, key policy.Key) *DestinationRuleRef {
	idx.reads.readRoutingHost(svc.Hostname)
	if key == (policy.Key{}) {
		return nil
	}
	for _, ref := range idx.tables.rulesByNS[key.Namespace] {
		if ref.Object.Key == key {
			return ref
		}
	}
	panic(fmt.Sprintf("DestinationRule %s/%s for %s is not in the index", key.Namespace, key.Name, svc.Hostname))
}

func (idx *Index) bestRuleIn(ruleNS, proxyNS, hostname string) *DestinationRuleRef {
	var matches []*DestinationRuleRef
	for _, ref := range idx.tables.rulesByNS[ruleNS] {
		if HostMatches(ref.Host, hostname) &&
			exportedTo(ref.Spec.GetExportTo(), ruleNS, proxyNS) &&
			selectsAllWorkloads(ref.Spec) {
			matches = append(matches, ref)
		}
	}
	if len(matches) == 0 {
		return nil
	}
	sort.SliceStable(matches, func(i, j int) bool {
		return hostSpecificity(matches[i].Host) > hostSpecificity(matches[j].Host)
	})
	return matches[0]
}

// selectsAllWorkloads is true for rules without a workloadSelector; rules
// with one apply to a workload's own inbound traffic only.
func selectsAllWorkloads(dr *networking.DestinationRule) bool {
	return dr.GetWorkloadSelector() == nil
}

// Subset returns the named subset of a rule, or nil.
func (ref *DestinationRuleRef) Subset(name string) *networking.Subset {
	if ref == nil {
		return nil
	}
	for _, s := range ref.Spec.GetSubsets() {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}
