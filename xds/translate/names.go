package translate

import (
	"fmt"
	"strconv"
)

// Direction of traffic relative to the proxy, as in Istio cluster names.
type Direction string

// Directions.
const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// Names of the fixed listeners and clusters istio-proxy expects.
const (
	VirtualOutboundListener = "virtualOutbound"
	VirtualInboundListener  = "virtualInbound"
	PassthroughCluster      = "PassthroughCluster"
	BlackHoleCluster        = "BlackHoleCluster"
	InboundPassthrough      = "InboundPassthroughCluster"
	// OutboundCapturePort and InboundCapturePort are where iptables REDIRECT
	// sends traffic, as istio-proxy sets it up.
	OutboundCapturePort = 15001
	InboundCapturePort  = 15006
)

// ClusterName is Istio's "outbound|PORT|SUBSET|HOST" (or inbound) cluster name.
func ClusterName(dir Direction, port uint32, subset, host string) string {
	return fmt.Sprintf("%s|%d|%s|%s", dir, port, subset, host)
}

// SNI is the TLS server name Istio uses for mTLS to a subset of a service.
func SNI(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound_.%d_.%s_.%s", port, subset, host)
}

// RouteConfigName names the outbound route configuration of an HTTP port.
// A bind address other than the wildcard gives its own configuration.
func RouteConfigName(bind string, port uint32) string {
	if bind == "" || bind == "0.0.0.0" {
		return strconv.FormatUint(uint64(port), 10)
	}
	return fmt.Sprintf("%s_%d", bind, port)
}

// ListenerName is Istio's "ADDRESS_PORT" listener name.
func ListenerName(address string, port uint32) string {
	return fmt.Sprintf("%s_%d", address, port)
}

// VirtualHostName is the "HOST:PORT" name of an outbound virtual host.
func VirtualHostName(host string, port uint32) string {
	return fmt.Sprintf("%s:%d", host, port)
}
