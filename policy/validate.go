package policy

import (
	"fmt"
	"sort"
	"strconv"

	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
)

// Validate checks one decoded object as strictly as Istio's admission
// webhook and CRD schema do, and returns every problem found, each naming the
// field it is about. A nil result means the object is valid on its own;
// CheckReferences covers rules that span objects.
func Validate(o *Object) []*ConfigError {
	c := &checker{obj: o}
	c.checkMetadata()
	switch spec := o.Spec.(type) {
	case *networking.VirtualService:
		c.virtualService(spec)
	case *networking.DestinationRule:
		c.destinationRule(spec)
	case *networking.Gateway:
		c.gateway(spec)
	case *networking.ServiceEntry:
		c.serviceEntry(spec)
	case *networking.WorkloadEntry:
		c.workloadEntry("spec", spec, workloadEntryRules{allowHostname: true})
	case *networking.Sidecar:
		c.sidecar(spec)
	case *security.PeerAuthentication:
		c.peerAuthentication(spec)
	case *security.AuthorizationPolicy:
		c.authorizationPolicy(spec)
	case *security.RequestAuthentication:
		c.requestAuthentication(spec)
	case *telemetry.Telemetry:
		c.telemetry(spec)
	default:
		c.add("spec", "unsupported spec type %T for kind %s", o.Spec, o.Kind)
	}
	return c.errs
}

// checker collects the problems of one object.
type checker struct {
	obj  *Object
	errs []*ConfigError
}

// add records a problem with the field at path.
func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, &ConfigError{
		Source: c.obj.Source,
		Key:    c.obj.Key,
		Field:  path,
		Msg:    fmt.Sprintf(format, args...),
	})
}

// check records err, if any, as a problem with the field at path.
func (c *checker) check(path string, err error) {
	if err != nil {
		c.add(path, "%s", err.Error())
	}
}

// field and index build field paths such as "spec.http[0].route".
func field(path, name string) string { return path + "." + name }

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func mapKey(path, key string) string { return path + "[" + key + "]" }

// sortedMapKeys returns the keys of m in order, so that problems are
// reported deterministically.
func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkMetadata applies the Kubernetes rules for names, namespaces, labels
// and the annotations Istio gives meaning to.
func (c *checker) checkMetadata() {
	o := c.obj
	if o.Kind == KindGateway {
		// Istio requires Gateway names to be DNS labels (no dots), since
		// VirtualServices refer to them as namespace/name.
		c.check("metadata.name", checkDNS1123Label(o.Name))
	} else {
		c.check("metadata.name", checkDNS1123Subdomain(o.Name))
	}
	c.check("metadata.namespace", checkDNS1123Label(o.Namespace))
	c.labels("metadata.labels", o.Labels)
	if _, ok := o.Annotations["istio.io/dry-run"]; ok && o.Kind != KindAuthorizationPolicy {
		c.add("metadata.annotations[istio.io/dry-run]", "only AuthorizationPolicy supports the istio.io/dry-run annotation")
	}
}
