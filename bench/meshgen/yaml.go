package meshgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The YAML is written by hand, in the layout users write, so that it is
// byte-for-byte deterministic and cheap to produce for large meshes.

const (
	networkingAPI = "networking.istio.io/v1"
	securityAPI   = "security.istio.io/v1"
)

// yamlWriter accumulates YAML documents.
type yamlWriter struct{ strings.Builder }

func (w *yamlWriter) line(indent int, format string, args ...any) {
	w.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

// header starts a document with apiVersion, kind and metadata.
func (w *yamlWriter) header(apiVersion, kind, namespace, name string, labels map[string]string) {
	if w.Len() > 0 {
		w.line(0, "---")
	}
	w.line(0, "apiVersion: %s", apiVersion)
	w.line(0, "kind: %s", kind)
	w.line(0, "metadata:")
	w.line(1, "name: %s", name)
	w.line(1, "namespace: %s", namespace)
	if labels != nil {
		w.labels(1, "labels", labels)
	}
}

// labels writes labels in a fixed order: app and version first, as users
// write them, then the others (such as the sidecar mark) sorted.
func (w *yamlWriter) labels(indent int, field string, labels map[string]string) {
	w.line(indent, "%s:", field)
	for _, k := range labelOrder(labels) {
		w.line(indent+1, "%s: %s", k, labels[k])
	}
}

func labelOrder(labels map[string]string) []string {
	first := []string{"app", "version"}
	var out []string
	for _, k := range first {
		if _, ok := labels[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !slices.Contains(first, k) {
			out = append(out, k)
		}
	}
	return out
}

// YAML renders every object of the service: ServiceEntry (unless the
// service lives in Kubernetes), its WorkloadEntries when the spec asks for
// them, DestinationRule and VirtualService. A Kubernetes service without
// subsets or weights renders nothing.
func (svc *Service) YAML() []byte {
	var w yamlWriter
	if !svc.Kubernetes {
		svc.writeServiceEntry(&w)
	}
	if svc.WorkloadEntries && !svc.Kubernetes {
		for _, ep := range svc.Endpoints {
			svc.writeWorkloadEntry(&w, ep)
		}
	}
	if svc.Subsets > 0 {
		svc.writeDestinationRule(&w)
	}
	if svc.Weights != nil {
		svc.writeVirtualService(&w)
	}
	return []byte(w.String())
}

func (svc *Service) writeServiceEntry(w *yamlWriter) {
	w.header(networkingAPI, "ServiceEntry", svc.Namespace, svc.Name, nil)
	w.line(0, "spec:")
	w.line(1, "hosts:")
	w.line(1, "- %s", svc.Host)
	w.line(1, "addresses:")
	w.line(1, "- %s", svc.VIP)
	w.line(1, "location: MESH_INTERNAL")
	w.line(1, "resolution: STATIC")
	w.line(1, "ports:")
	w.line(1, "- name: http")
	w.line(2, "number: %d", svc.Port)
	w.line(2, "protocol: HTTP")
	if svc.WorkloadEntries {
		w.line(1, "workloadSelector:")
		w.line(2, "labels:")
		w.line(3, "app: %s", svc.Name)
		return
	}
	if len(svc.Endpoints) == 0 {
		return
	}
	w.line(1, "endpoints:")
	for _, ep := range svc.Endpoints {
		w.line(1, "- address: %s", ep.Address)
		w.labels(2, "labels", svc.EndpointLabels(ep.Version))
		w.line(2, "serviceAccount: %s", svc.ServiceAccount())
	}
}

func (svc *Service) writeWorkloadEntry(w *yamlWriter, ep Endpoint) {
	w.header(networkingAPI, "WorkloadEntry", svc.Namespace, ep.Name, svc.Labels(ep.Version))
	w.line(0, "spec:")
	w.line(1, "address: %s", ep.Address)
	w.labels(1, "labels", svc.EndpointLabels(ep.Version))
	w.line(1, "serviceAccount: %s", svc.ServiceAccount())
}

func (svc *Service) writeDestinationRule(w *yamlWriter) {
	w.header(networkingAPI, "DestinationRule", svc.Namespace, svc.Name, nil)
	w.line(0, "spec:")
	w.line(1, "host: %s", svc.Host)
	w.line(1, "subsets:")
	for k := 0; k < svc.Subsets; k++ {
		w.line(1, "- name: %s", SubsetName(k))
		w.line(2, "labels:")
		w.line(3, "version: %s", SubsetName(k))
	}
}

func (svc *Service) writeVirtualService(w *yamlWriter) {
	w.header(networkingAPI, "VirtualService", svc.Namespace, svc.Name, nil)
	w.line(0, "spec:")
	w.line(1, "hosts:")
	w.line(1, "- %s", svc.Host)
	w.line(1, "http:")
	w.line(1, "- route:")
	for k, weight := range svc.Weights {
		w.line(2, "- destination:")
		w.line(4, "host: %s", svc.Host)
		w.line(4, "subset: %s", SubsetName(k))
		w.line(4, "port:")
		w.line(5, "number: %d", svc.Port)
		w.line(3, "weight: %d", weight)
	}
}

// SidecarYAML is the Sidecar of namespace ns: egress limited to the
// namespace itself and istio-system.
func SidecarYAML(ns string) []byte {
	var w yamlWriter
	w.header(networkingAPI, "Sidecar", ns, "default", nil)
	w.line(0, "spec:")
	w.line(1, "egress:")
	w.line(1, "- hosts:")
	w.line(2, "- \"./*\"")
	w.line(2, "- \"istio-system/*\"")
	return []byte(w.String())
}

// PeerAuthenticationYAML is a mesh-wide PeerAuthentication (in
// istio-system) with the given mTLS mode, for example STRICT.
func PeerAuthenticationYAML(name, mode string) []byte {
	var w yamlWriter
	w.header(securityAPI, "PeerAuthentication", "istio-system", name, nil)
	w.line(0, "spec:")
	w.line(1, "mtls:")
	w.line(2, "mode: %s", mode)
	return []byte(w.String())
}
