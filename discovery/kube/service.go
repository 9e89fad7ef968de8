package kube

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// exportToAnnotation lists the namespaces a Service is visible to, comma
// separated, as Istio reads it.
const exportToAnnotation = "networking.istio.io/exportTo"

// wellKnownTCPPorts are ports of server-first protocols (SMTP, DNS, MySQL,
// MongoDB): Istio treats them as TCP when their protocol is not declared,
// because protocol sniffing would break them.
var wellKnownTCPPorts = map[int32]bool{25: true, 53: true, 3306: true, 27017: true}

// Hostname is the FQDN of a Kubernetes Service: NAME.NAMESPACE.svc.SUFFIX.
func Hostname(name, namespace, domainSuffix string) string {
	return name + "." + namespace + ".svc." + domainSuffix
}

// convertService maps a Kubernetes Service onto a discovery.Service.
func convertService(svc *corev1.Service, opts Options) *discovery.Service {
	return &discovery.Service{
		ServiceKey: discovery.ServiceKey{
			Hostname:  Hostname(svc.Name, svc.Namespace, opts.DomainSuffix),
			Namespace: svc.Namespace,
		},
		Addresses:        serviceAddresses(svc),
		Ports:            servicePorts(svc),
		Resolution:       serviceResolution(svc),
		Location:         serviceLocation(svc),
		ExportTo:         exportTo(svc.Annotations[exportToAnnotation]),
		Labels:           maps.Clone(svc.Labels),
		Registry:         opts.ClusterID,
		ClusterAddresses: map[string][]string{opts.ClusterID: serviceAddresses(svc)},
	}
}

func isExternalName(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.ExternalName != ""
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// serviceAddresses are the cluster IPs (both families of a dual-stack
// service); none for headless and ExternalName services.
func serviceAddresses(svc *corev1.Service) []string {
	if isExternalName(svc) || isHeadless(svc) || svc.Spec.ClusterIP == "" {
		return nil
	}
	if len(svc.Spec.ClusterIPs) > 0 {
		return append([]string(nil), svc.Spec.ClusterIPs...)
	}
	return []string{svc.Spec.ClusterIP}
}

// serviceResolution: ExternalName services resolve their external name by
// DNS, headless ones pass through to the address the client chose, all
// others are load balanced over their endpoints.
func serviceResolution(svc *corev1.Service) discovery.Resolution {
	switch {
	case isExternalName(svc):
		return discovery.ResolutionDNS
	case isHeadless(svc):
		return discovery.ResolutionNone
	}
	return discovery.ResolutionStatic
}

// serviceLocation: an ExternalName service points outside the mesh, as
// Istio marks it.
func serviceLocation(svc *corev1.Service) discovery.Location {
	if isExternalName(svc) {
		return discovery.MeshExternal
	}
	return discovery.MeshInternal
}

// proxiedPort reports whether Envoy can carry the port's traffic: TCP only
// (UDP and SCTP are not captured by the sidecar).
func proxiedPort(p corev1.ServicePort) bool {
	return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP
}

// servicePorts converts the TCP ports of a service.
func servicePorts(svc *corev1.Service) []discovery.Port {
	var out []discovery.Port
	for _, p := range svc.Spec.Ports {
		if !proxiedPort(p) {
			continue
		}
		out = append(out, discovery.Port{Name: p.Name, Number: uint32(p.Port), Protocol: portProtocol(p)})
	}
	return out
}

// portProtocol applies Istio's explicit protocol selection: appProtocol when
// set, else the port name, either as PROTOCOL or PROTOCOL-SUFFIX
// ("grpc-web" counts whole); a port of unknown protocol is TCP when it is a
// well-known server-first port, else UNKNOWN (sniffed).
func portProtocol(p corev1.ServicePort) discovery.Protocol {
	name := p.Name
	if p.AppProtocol != nil {
		name = *p.AppProtocol
	}
	proto := discovery.ParseProtocol(protocolPrefix(name))
	if proto == discovery.ProtocolUnknown && wellKnownTCPPorts[p.Port] {
		return discovery.ProtocolTCP
	}
	return proto
}

// protocolPrefix is the protocol part of a port name: what comes before the
// first '-', except that a name starting with "grpc-web" is gRPC-Web.
func protocolPrefix(name string) string {
	const grpcWeb = "grpc-web"
	if len(name) >= len(grpcWeb) && strings.EqualFold(name[:len(grpcWeb)], grpcWeb) {
		return grpcWeb
	}
	prefix, _, _ := strings.Cut(name, "-")
	return prefix
}

// exportTo splits the exportTo annotation; nil (visible to all) when empty.
func exportTo(annotation string) []string {
	var out []string
	for _, ns := range strings.Split(annotation, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}
