package serviceentry

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// configFromYAML decodes Kubernetes-style ServiceEntry/WorkloadEntry
// documents, as a user would apply them, into a Config.
func configFromYAML(t *testing.T, docs string) *policy.Config {
	t.Helper()
	var objs []*policy.Object
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) != "" {
			objs = append(objs, objectFromYAML(t, doc))
		}
	}
	return policy.NewConfig(objs)
}

type k8sDoc struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec any `json:"spec"`
}

func objectFromYAML(t *testing.T, doc string) *policy.Object {
	t.Helper()
	var d k8sDoc
	if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("test YAML: %v", err)
	}
	spec := newSpec(t, d.Kind)
	specYAML, err := yaml.Marshal(d.Spec)
	if err != nil {
		t.Fatalf("test YAML spec: %v", err)
	}
	specJSON, err := yaml.YAMLToJSON(specYAML)
	if err != nil {
		t.Fatalf("test YAML spec: %v", err)
	}
	if err := protojson.Unmarshal(specJSON, spec); err != nil {
		t.Fatalf("test spec of %s %s: %v", d.Kind, d.Metadata.Name, err)
	}
	ns := d.Metadata.Namespace
	if ns == "" {
		ns = policy.DefaultNamespace
	}
	return &policy.Object{
		Key:    policy.Key{Kind: policy.Kind(d.Kind), Namespace: ns, Name: d.Metadata.Name},
		Labels: d.Metadata.Labels,
		Spec:   spec,
	}
}

func newSpec(t *testing.T, kind string) proto.Message {
	switch policy.Kind(kind) {
	case policy.KindServiceEntry:
		return &networkingv1alpha3.ServiceEntry{}
	case policy.KindWorkloadEntry:
		return &networkingv1alpha3.WorkloadEntry{}
	}
	t.Fatalf("test YAML: unexpected kind %q", kind)
	return nil
}

var resolutionNames = map[discovery.Resolution]string{
	discovery.ResolutionStatic: "STATIC", discovery.ResolutionDNS: "DNS",
	discovery.ResolutionDNSRoundRobin: "DNS_ROUND_ROBIN", discovery.ResolutionNone: "NONE",
}

// describeServices renders every service on one line, for readable asserts.
func describeServices(c *discovery.Catalog) []string {
	var out []string
	for _, s := range c.Services() {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d/%s", p.Name, p.Number, p.Protocol))
		}
		loc := "internal"
		if s.Location == discovery.MeshExternal {
			loc = "external"
		}
		line := fmt.Sprintf("%s/%s ports=%s %s %s registry=%s", s.Hostname, s.Namespace,
			strings.Join(ports, ","), resolutionNames[s.Resolution], loc, s.Registry)
		line += optional("addresses", strings.Join(s.Addresses, ","))
		line += optional("exportTo", strings.Join(s.ExportTo, ","))
		line += optional("labels", labelString(s.Labels))
		out = append(out, line)
	}
	return out
}

// describeEndpoints renders every endpoint of the catalog on one line.
func describeEndpoints(c *discovery.Catalog) []string {
	var out []string
	for _, s := range c.Services() {
		for _, e := range c.AllEndpoints(s.ServiceKey) {
			line := fmt.Sprintf("%s/%s:%d -> %s:%d cluster=%s", s.Hostname, s.Namespace, e.ServicePort, e.Address, e.Port, e.Cluster)
			line += optional("labels", labelString(e.Labels))
			line += optional("network", e.Network)
			line += optional("locality", e.Locality)
			if e.Weight != 0 {
				line += fmt.Sprintf(" weight=%d", e.Weight)
			}
			line += optional("sa", e.ServiceAccount)
			out = append(out, line)
		}
	}
	return out
}

func optional(name, value string) string {
	if value == "" {
		return ""
	}
	return " " + name + "=" + value
}

func labelString(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func assertLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
