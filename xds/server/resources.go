package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
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
	versions  map[string]string // type URL → content version
	types     map[string]*typeResources
}

// typeResources is one type of a proxy's resources, ready to send.
type typeResources struct {
	version string
	list    []*preparedResource // sorted by name, names unique

	anysOnce sync.Once
	anyList  []*anypb.Any // the resources of list, as sent
}

// anys returns every resource as sent, built once and shared by every
// state-of-the-world response with the whole type.
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
	return t.anyList
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

// buildProxyResources prepares res for serving and checks that it can be
// served: every resource valid (validated says translation checked that
// already), names unique, references consistent. Of secrets, those the
// clusters and listeners reference are served. A type whose prepared
// resources are those of prev (nil before the first build) keeps prev's
// version without hashing again.
func buildProxyResources(res *translate.Resources, secrets []*tlsv3.Secret, prev *proxyResources, prep *preparer, validated, keyless bool) (*proxyResources, error) {
	pr := &proxyResources{resources: res, versions: map[string]string{}, types: map[string]*typeResources{}, keyless: keyless}
	add := func(typeURL string, list []types.Resource, validated bool) error {
		t, err := prepareType(typeURL, list, prev, prep, validated)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errInvalid, typeLabel(typeURL), err)
		}
		pr.types[typeURL] = t
		pr.versions[typeURL] = t.version
		return nil
	}
	for typeURL, list := range resourcesByType(res) {
		if err := add(typeURL, list, validated); err != nil {
			return nil, err
		}
	}
	if served := referencedSecrets(pr, secrets); len(served) > 0 {
		pr.resources = withSecrets(res, served)
		if err := add(resource.SecretType, asResources(served), false); err != nil {
			return nil, err
		}
	}
	if err := pr.consistent(); err != nil {
		return nil, fmt.Errorf("%w: %w", errInconsistent, err)
	}
	return pr, nil
}

// referencedSecrets keeps the secrets that pr's clusters and listeners
// reference.
func referencedSecrets(pr *proxyResources, secrets []*tlsv3.Secret) []*tlsv3.Secret {
	names := map[string]bool{}
	for _, t := range []string{resource.ClusterType, resource.ListenerType} {
		for _, r := range pr.types[t].list {
			for _, name := range r.secrets {
				names[name] = true
			}
		}
	}
	var out []*tlsv3.Secret
	for _, s := range secrets {
		if names[s.GetName()] {
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

func prepareType(typeURL string, list []types.Resource, prev *proxyResources, prep *preparer, validated bool) (*typeResources, error) {
	prepared, err := prep.prepareAll(typeURL, list, validated)
	if err != nil {
		return nil, err
	}
	byName := func(a, b *preparedResource) int { return strings.Compare(a.name, b.name) }
	if !slices.IsSortedFunc(prepared, byName) {
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
	return &typeResources{version: version, list: prepared}, nil
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

// resourcesByType lists res by xDS type; every served type is present.
func resourcesByType(res *translate.Resources) map[string][]types.Resource {
	return map[string][]types.Resource{
		resource.ClusterType:  asResources(res.Clusters),
		resource.EndpointType: asResources(res.Endpoints),
		resource.ListenerType: asResources(res.Listeners),
		resource.RouteType:    asResources(res.Routes),
		resource.SecretType:   asResources(res.Secrets),
	}
}

func asResources[T types.Resource](list []T) []types.Resource {
	out := make([]types.Resource, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out
}

// consistent checks, as Envoy needs over ADS, that the EDS clusters name
// exactly the load assignments served and the listeners exactly the route
// configurations served.
func (pr *proxyResources) consistent() error {
	if err := referencesMatch(pr.types[resource.ClusterType], pr.types[resource.EndpointType]); err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	if err := referencesMatch(pr.types[resource.ListenerType], pr.types[resource.RouteType]); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	return secretsServed(pr)
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

// missingSecret is a secret a resource references that is not served.
type missingSecret struct {
	secret, typeURL, resource string
}

func (pr *proxyResources) missingSecrets() []missingSecret {
	var out []missingSecret
	for _, t := range []string{resource.ClusterType, resource.ListenerType} {
		for _, r := range pr.types[t].list {
			for _, name := range r.secrets {
				if pr.types[resource.SecretType].get(name) == nil {
					out = append(out, missingSecret{secret: name, typeURL: t, resource: r.name})
				}
			}
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
