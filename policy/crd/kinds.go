package crd

import (
	"fmt"
	"slices"

	versioned "istio.io/client-go/pkg/clientset/versioned"
	informers "istio.io/client-go/pkg/informers/externalversions"
	"k8s.io/client-go/tools/cache"

	"github.com/isthmus-mesh/isthmus/policy"
)

// kind is one Istio kind as Source watches it.
type kind struct {
	kind     policy.Kind
	group    string
	resource string // plural, as the API server names it
	informer func(informers.SharedInformerFactory) cache.SharedIndexInformer
}

// watchedVersion is the API version every kind is read at.
const watchedVersion = "v1"

// kinds lists every kind Isthmus reads.
var kinds = []kind{
	{policy.KindVirtualService, "networking.istio.io", "virtualservices", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().VirtualServices().Informer()
	}},
	{policy.KindDestinationRule, "networking.istio.io", "destinationrules", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().DestinationRules().Informer()
	}},
	{policy.KindGateway, "networking.istio.io", "gateways", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().Gateways().Informer()
	}},
	{policy.KindServiceEntry, "networking.istio.io", "serviceentries", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().ServiceEntries().Informer()
	}},
	{policy.KindWorkloadEntry, "networking.istio.io", "workloadentries", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().WorkloadEntries().Informer()
	}},
	{policy.KindSidecar, "networking.istio.io", "sidecars", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().Sidecars().Informer()
	}},
	{policy.KindPeerAuthentication, "security.istio.io", "peerauthentications", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Security().V1().PeerAuthentications().Informer()
	}},
	{policy.KindAuthorizationPolicy, "security.istio.io", "authorizationpolicies", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Security().V1().AuthorizationPolicies().Informer()
	}},
	{policy.KindRequestAuthentication, "security.istio.io", "requestauthentications", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Security().V1().RequestAuthentications().Informer()
	}},
	{policy.KindTelemetry, "telemetry.istio.io", "telemetries", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Telemetry().V1().Telemetries().Informer()
	}},
}

// apiVersion is the kind's group and watched version.
func (k kind) apiVersion() string { return k.group + "/" + watchedVersion }

// servedKinds asks the API server which kinds it serves at watchedVersion,
// and reports the others, naming their resource and the versions served.
func servedKinds(client versioned.Interface, cluster string) ([]kind, []*policy.ConfigError) {
	served := map[string][]string{} // group/version → resources
	var out []kind
	var problems []*policy.ConfigError
	for _, k := range kinds {
		resources, seen := served[k.apiVersion()]
		if !seen {
			resources = resourcesAt(client, k.apiVersion())
			served[k.apiVersion()] = resources
		}
		if slices.Contains(resources, k.resource) {
			out = append(out, k)
			continue
		}
		problems = append(problems, &policy.ConfigError{
			Source: policy.Source{Cluster: cluster},
			Msg: fmt.Sprintf("%s.%s is not served at %s (%s); Isthmus reads %s at %s",
				k.resource, k.group, watchedVersion, versionsServed(client, k), k.kind, k.apiVersion()),
		})
	}
	return out, problems
}

// resourcesAt lists the resources the API server serves at groupVersion;
// none when it serves nothing there.
func resourcesAt(client versioned.Interface, groupVersion string) []string {
	list, err := client.Discovery().ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range list.APIResources {
		out = append(out, r.Name)
	}
	return out
}

// versionsServed says at which versions the API server serves k's
// resource, for an error message.
func versionsServed(client versioned.Interface, k kind) string {
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		return "cannot list API groups: " + err.Error()
	}
	var versions []string
	for _, g := range groups.Groups {
		if g.Name != k.group {
			continue
		}
		for _, v := range g.Versions {
			if slices.Contains(resourcesAt(client, v.GroupVersion), k.resource) {
				versions = append(versions, v.Version)
			}
		}
	}
	if len(versions) == 0 {
		return "its CustomResourceDefinition is not installed"
	}
	return fmt.Sprintf("served at %v", versions)
}
