package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// servedTypes are the xDS types Isthmus serves, in ADS order.
var servedTypes = []string{
	resource.ClusterType, resource.EndpointType, resource.ListenerType,
	resource.RouteType, resource.SecretType,
}

// typeLabels are the short names of servedTypes used in metrics and debug
// output.
var typeLabels = map[string]string{
	resource.ClusterType:  "cds",
	resource.EndpointType: "eds",
	resource.ListenerType: "lds",
	resource.RouteType:    "rds",
	resource.SecretType:   "sds",
}

// typeLabel names an xDS type for metrics: "cds", "eds"... or the type URL.
func typeLabel(typeURL string) string {
	if l, ok := typeLabels[typeURL]; ok {
		return l
	}
	return typeURL
}

// typeOrder is the position of typeURL in ADS order; unknown types last.
func typeOrder(typeURL string) int {
	if i := slices.Index(servedTypes, typeURL); i >= 0 {
		return i
	}
	return len(servedTypes)
}

// Errors that classify why resources could not be served.
var (
	errInvalid      = errors.New("invalid resources")
	errInconsistent = errors.New("inconsistent resources")
)

// proxyResources is what one proxy is served: the translated resources and,
// per type, the prepared resources and their content version. Immutable
// once built.
type proxyResources struct {
	// keyless: the proxy gets no private key (see Server.keyless), so the
	// resources that reference its certificate wait for it.
	keyless   bool
	resources *translate.Resources
	// secretRefs are the secrets its clusters and listeners reference (see
	// resourceTypes).
	secretRefs []secretRef
	versions   map[string]string // type URL → content version
	types      map[string]*typeResources
}

// typeResources is one type of a proxy's resources, ready to send. Proxies
// served the same resources of a type share one (see preparer.internType).
type typeResources struct {
	version string
	list    []*preparedResource // sorted by name, names unique

	anysOnce sync.Once
	anyList  []*anypb.Any // the resources of list, as sent
	sotwSent atomic.Int32 // state-of-the-world responses with every resource

	deltaOnce sync.Once
	deltaList []*discoveryv3.Resource // the resources of list in delta responses
	deltaSent atomic.Int32            // delta responses with every resource
	owedFrom  sync.Map                // owedKey → owedResult (see deltaType.owed)

	refsOnce sync.Once
	refs     []secretRef // see secretRefs
}

// anys returns every resource as sent, built once and shared by every
// state-of-the-world response with the whole type; it counts such a
// response (see whole.go).
func (t *typeResources) anys() []*anypb.Any {
	if t == nil {
		return nil
	}
	t.anysOnce.Do(func() {
		t.anyList = make([]*anypb.Any, len(t.list))
		for i, r := range t.list {
			t.anyList[i] = r.any
		}
	})
	if t.sotwSent.Add(1) == 2 {
		registerWhole(t, t.anyList, encodeSotwWhole(t.anyList))
	}
	return t.anyList
}

// deltaResources returns every resource as a delta response carries it,
// built once and shared by every delta response with the whole type; it
// counts such a response (see whole.go).
func (t *typeResources) deltaResources() []*discoveryv3.Resource {
	t.deltaOnce.Do(func() {
		t.deltaList = make([]*discoveryv3.Resource, len(t.list))
		for i, r := range t.list {
			t.deltaList[i] = r.deltaResource()
		}
	})
	if t.deltaSent.Add(1) == 2 {
		registerWhole(t, t.deltaList, encodeDeltaWhole(t.deltaList))
	}
	return t.deltaList
}

// typeList is the resources of t; none when the proxy has no such type.
func typeList(t *typeResources) []*preparedResource {
	if t == nil {
		return nil
	}
	return t.list
}

// versionOrEmpty is t's version; "" when the proxy has no such type.
func (t *typeResources) versionOrEmpty() string {
	if t == nil {
		return ""
	}
	return t.version
}

// get returns the resource named name, or nil.
func (t *typeResources) get(name string) *preparedResource {
	if t == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(t.list, name, func(r *preparedResource, n string) int { return strings.Compare(r.name, n) })
	if !ok {
		return nil
	}
	return t.list[i]
}

// resourceTypes are one translation result's clusters, endpoints,
// listeners and routes, prepared and checked for consistency, and the
// secrets they reference: the part of what a proxy is served that every
// proxy given the same result shares (see snapshotTranslator.types).
// Immutable once built.
type resourceTypes struct {
	types map[string]*typeResources // every served type but SDS
	// secretRefs are the SDS names the clusters and listeners reference,
	// each with the first resource that does.
	secretRefs []secretRef
}

// prepareResourceTypes prepares res, whose every resource is valid
// (validated says translation checked that already), names unique and
// references consistent. A type whose prepared resources are those of prev
// (nil before the first build) keeps prev's version without hashing again.
func prepareResourceTypes(res *translate.Resources, prev *proxyResources, prep *preparer, validated bool) (*resourceTypes, error) {
	rt := &resourceTypes{types: map[string]*typeResources{}}
	var err error
	if rt.types[resource.ClusterType], err = validType(resource.ClusterType, res.Clusters, prev, prep, validated); err != nil {
		return nil, err
	}
	if rt.types[resource.EndpointType], err = validType(resource.EndpointType, res.Endpoints, prev, prep, validated); err != nil {
		return nil, err
	}
	if rt.types[resource.ListenerType], err = validType(resource.ListenerType, res.Listeners, prev, prep, validated); err != nil {
		return nil, err
	}
	if rt.types[resource.RouteType], err = validType(resource.RouteType, res.Routes, prev, prep, validated); err != nil {
		return nil, err
	}
	if err := prep.referencesMatch(rt.types[resource.ClusterType], rt.types[resource.EndpointType]); err != nil {
		return nil, fmt.Errorf("%w: endpoints: %w", errInconsistent, err)
	}
	if err := prep.referencesMatch(rt.types[resource.ListenerType], rt.types[resource.RouteType]); err != nil {
		return nil, fmt.Errorf("%w: routes: %w", errInconsistent, err)
	}
	rt.secretRefs = secretRefsOf(rt)
	return rt, nil
}

// secretRefsOf lists, sorted, the secrets rt's clusters and listeners
// reference, each with the first cluster, else listener, that does.
func secretRefsOf(rt *resourceTypes) []secretRef {
	clusters, listeners := rt.types[resource.ClusterType].secretRefs(), rt.types[resource.ListenerType].secretRefs()
	if len(listeners) == 0 {
		return clusters
	}
	out := slices.Clone(clusters)
	for _, ref := range listeners {
		if _, found := findSecretRef(clusters, ref.secret); !found {
			out = append(out, ref)
		}
	}
	slices.SortFunc(out, func(a, b secretRef) int { return strings.Compare(a.secret, b.secret) })
	return out
}

// secretRefs lists, sorted, the secrets t's resources reference, each
// with the first resource that does; made once, as t is immutable.
func (t *typeResources) secretRefs() []secretRef {
	t.refsOnce.Do(func() {
		seen := map[string]bool{}
		for _, r := range t.list {
			for _, name := range r.secrets {
				if !seen[name] {
					seen[name] = true
					t.refs = append(t.refs, secretRef{secret: name, typeURL: r.any.TypeUrl, resource: r.name})
				}
			}
		}
		slices.SortFunc(t.refs, func(a, b secretRef) int { return strings.Compare(a.secret, b.secret) })
	})
	return t.refs
}

// findSecretRef finds the reference to secret in refs, sorted by secret.
func findSecretRef(refs []secretRef, secret string) (int, bool) {
	return slices.BinarySearchFunc(refs, secret, func(m secretRef, name string) int { return strings.Compare(m.secret, name) })
}

// buildProxyResources prepares res for serving (see prepareResourceTypes)
// with the secrets the proxy may reference, of which those its clusters
// and listeners reference are served.
func buildProxyResources(res *translate.Resources, secrets []*tlsv3.Secret, prev *proxyResources, prep *preparer, validated, keyless bool) (*proxyResources, error) {
	rt, err := prepareResourceTypes(res, prev, prep, validated)
	if err != nil {
		return nil, err
	}
	return withProxySecrets(rt, res, secrets, prev, prep, keyless)
}

// withProxySecrets is what a proxy is served: rt, prepared from res, with
// the secrets it references of secrets.
func withProxySecrets(rt *resourceTypes, res *translate.Resources, secrets []*tlsv3.Secret, prev *proxyResources, prep *preparer, keyless bool) (*proxyResources, error) {
	pr := &proxyResources{resources: res, versions: map[string]string{}, types: map[string]*typeResources{}, keyless: keyless, secretRefs: rt.secretRefs}
	for typeURL, t := range rt.types {
		pr.types[typeURL] = t
		pr.versions[typeURL] = t.version
	}
	served := referencedSecrets(rt, secrets)
	if len(served) > 0 {
		pr.resources = withSecrets(res, served)
	}
	t, err := validType(resource.SecretType, served, prev, prep, false)
	if err != nil {
		return nil, err
	}
	pr.types[resource.SecretType] = t
	pr.versions[resource.SecretType] = t.version
	if err := secretsServed(pr); err != nil {
		return nil, fmt.Errorf("%w: %w", errInconsistent, err)
	}
	return pr, nil
}

// referencedSecrets keeps the secrets that rt's clusters and listeners
// reference.
func referencedSecrets(rt *resourceTypes, secrets []*tlsv3.Secret) []*tlsv3.Secret {
	var out []*tlsv3.Secret
	for _, s := range secrets {
		if _, found := findSecretRef(rt.secretRefs, s.GetName()); found {
			out = append(out, s)
		}
	}
	return out
}

// withSecrets is res with the secrets it is served with.
func withSecrets(res *translate.Resources, secrets []*tlsv3.Secret) *translate.Resources {
	out := *res
	out.Secrets = append(slices.Clip(res.Secrets), secrets...)
	return &out
}

// validType is prepareType, a failure being errInvalid and naming the
// type.
func validType[T types.Resource](typeURL string, list []T, prev *proxyResources, prep *preparer, validated bool) (*typeResources, error) {
	t, err := prepareType(typeURL, list, prev, prep, validated)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errInvalid, typeLabel(typeURL), err)
	}
	return t, nil
}

// prepareType is the typeResources of list, translated resources of
// typeURL. A list of the very objects of one prepared before in this
// generation (another view's, in a mesh where views take the same units) is
// found by their identities alone, without looking each one up.
func prepareType[T types.Resource](typeURL string, list []T, prev *proxyResources, prep *preparer, validated bool) (*typeResources, error) {
	sourceKey := objectsKeyOf(prep.seed, typeURL, list)
	if known := knownObjects(prep, sourceKey, list); known != nil {
		return known, nil
	}
	prepared, err := prepareAll(prep, typeURL, list, validated)
	if err != nil {
		return nil, err
	}
	key := prep.listKeyOf(typeURL, prepared)
	t := prep.knownList(key, prepared)
	if t == nil {
		if t, err = sortedType(typeURL, prepared, prev, prep); err != nil {
			return nil, err
		}
		prep.rememberList(key, prepared, t)
	}
	prep.rememberObjects(sourceKey, list, t)
	return t, nil
}

// sortedType is the typeResources of prepared, sorted by name: prev's when
// it holds the same resources.
func sortedType(typeURL string, prepared []*preparedResource, prev *proxyResources, prep *preparer) (*typeResources, error) {
	byName := func(a, b *preparedResource) int { return strings.Compare(a.name, b.name) }
	if !slices.IsSortedFunc(prepared, byName) {
		prepared = slices.Clone(prepared)
		slices.SortStableFunc(prepared, byName)
	}
	if prev != nil {
		if old := prev.types[typeURL]; old != nil && slices.Equal(old.list, prepared) {
			return old, nil
		}
	}
	version, err := typeVersion(prepared)
	if err != nil {
		return nil, err
	}
	return prep.internType(typeURL, version, prepared), nil
}

// typeVersion is the content version of one type's resources, sorted by
// name: a hash of every resource's name and content.
func typeVersion(list []*preparedResource) (string, error) {
	h := sha256.New()
	for i, r := range list {
		if i > 0 && list[i-1].name == r.name {
			return "", fmt.Errorf("duplicate name %q", r.name)
		}
		h.Write([]byte(r.name))
		h.Write([]byte{0})
		h.Write(r.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// secretsServed checks that every mesh secret a cluster or listener
// references is served: Envoy would otherwise wait for it forever. A
// gateway credential (credentialName) may be missing: the listener using
// it waits for it, the rest is served (see missingCredentials).
func secretsServed(pr *proxyResources) error {
	for _, m := range pr.missingSecrets() {
		if !isCredential(m.secret) && !pr.keyless {
			return fmt.Errorf("secrets: %q is referenced by %s %q but not served", m.secret, typeLabel(m.typeURL), m.resource)
		}
	}
	return nil
}

// secretRef is a secret and a resource that references it.
type secretRef struct {
	secret, typeURL, resource string
}

// missingSecrets are the secrets pr's clusters and listeners reference but
// pr does not serve, each with the first resource that references it.
func (pr *proxyResources) missingSecrets() []secretRef {
	var out []secretRef
	for _, ref := range pr.secretRefs {
		if pr.types[resource.SecretType].get(ref.secret) == nil {
			out = append(out, ref)
		}
	}
	return out
}

// missingCredentials lists the gateway credentials pr references but
// cannot serve.
func (pr *proxyResources) missingCredentials() []string {
	var out []string
	for _, m := range pr.missingSecrets() {
		if isCredential(m.secret) && !slices.Contains(out, m.secret) {
			out = append(out, m.secret)
		}
	}
	return out
}

// isCredential tells a gateway credential's secret from the mesh secrets.
func isCredential(name string) bool {
	return name != certs.WorkloadSecretName && name != certs.RootSecretName
}

func referencesMatch(from, to *typeResources) error {
	referenced := map[string]bool{}
	for _, r := range from.list {
		for _, ref := range r.refs {
			referenced[ref] = true
		}
	}
	for name := range referenced {
		if to.get(name) == nil {
			return fmt.Errorf("%q is referenced but not served", name)
		}
	}
	if len(referenced) != len(to.list) {
		for _, r := range to.list {
			if !referenced[r.name] {
				return fmt.Errorf("%q is served but not referenced", r.name)
			}
		}
	}
	return nil
}

// changedTypes lists the types whose version differs between prev (nil
// before the first set) and next.
func changedTypes(prev, next *proxyResources) []string {
	var out []string
	for _, t := range servedTypes {
		if prev == nil || prev.versions[t] != next.versions[t] {
			out = append(out, t)
		}
	}
	return out
}
