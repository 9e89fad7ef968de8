package kube

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// Istio's conventions for east-west gateways: the Service of a gateway
// carries the network it leads into as a label, and serves mesh mTLS
// passthrough on port 15443 unless an annotation names another port.
const (
	NetworkLabel              = "topology.istio.io/network"
	GatewayPortAnnotation     = "networking.istio.io/gatewayPort"
	DefaultNetworkGatewayPort = 15443
)

// networkGateways finds the east-west gateways among services: those with
// the network label and the gateway port, at their load balancer's
// addresses (or their external IPs).
func networkGateways(services []*corev1.Service, clusterID string) []discovery.NetworkGateway {
	var out []discovery.NetworkGateway
	for _, svc := range services {
		network := svc.Labels[NetworkLabel]
		port := gatewayPort(svc)
		if network == "" || !hasPort(svc, port) {
			continue
		}
		for _, addr := range gatewayAddresses(svc) {
			out = append(out, discovery.NetworkGateway{Network: network, Address: addr, Port: uint32(port), Cluster: clusterID})
		}
	}
	return out
}

func gatewayPort(svc *corev1.Service) int32 {
	if p, err := strconv.ParseInt(svc.Annotations[GatewayPortAnnotation], 10, 32); err == nil && p > 0 {
		return int32(p)
	}
	return DefaultNetworkGatewayPort
}

func hasPort(svc *corev1.Service, port int32) bool {
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

// gatewayAddresses are where other networks reach a gateway Service: its
// load balancer's IPs or hostnames, else its external IPs.
func gatewayAddresses(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		switch {
		case in.IP != "":
			out = append(out, in.IP)
		case in.Hostname != "":
			out = append(out, in.Hostname)
		}
	}
	if len(out) == 0 {
		out = append(out, svc.Spec.ExternalIPs...)
	}
	return out
}
