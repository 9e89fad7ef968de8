package translate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/certs"
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

// Names of gateway resources, as Istio names them.

// gatewayHTTPRouteName is "http.PORT" (".BIND" added for a bound server):
// the one route configuration of every plain-text HTTP server on a port.
func gatewayHTTPRouteName(port uint32, bind string) string {
	return "http." + strconv.FormatUint(uint64(port), 10) + bindSuffix(bind)
}

// gatewayHTTPSRouteName is "https.PORT.PORTNAME.GATEWAY.NAMESPACE": each
// HTTPS server that terminates TLS has its own route configuration.
func gatewayHTTPSRouteName(port uint32, portName, gateway, namespace, bind string) string {
	return "https." + strconv.FormatUint(uint64(port), 10) + "." + portName + "." + gateway + "." + namespace + bindSuffix(bind)
}

func bindSuffix(bind string) string {
	if bind == "" {
		return ""
	}
	return "." + bind
}

// gatewayBlackholeVirtualHost names the virtual host of a gateway route
// configuration that no VirtualService fills: every request gets a 404.
func gatewayBlackholeVirtualHost(port uint32) string { return VirtualHostName("blackhole", port) }

// Secret names of Gateway credentials, as Istio's SDS names them.
const (
	kubernetesSecretPrefix  = certs.CredentialPrefix
	kubernetesGatewayPrefix = "kubernetes-gateway://"
	configMapSecretPrefix   = "configmap://"
	builtinSecretPrefix     = "builtin://"
	credentialCASuffix      = certs.CredentialCASuffix
)

// credentialSecretName is the SDS secret holding the key pair of a
// Gateway's credentialName: "kubernetes://NAME" unless the name already
// says where it lives. "builtin://" stands for the workload's own
// certificate.
func credentialSecretName(credential string) string {
	switch {
	case strings.HasPrefix(credential, builtinSecretPrefix):
		return certs.WorkloadSecretName
	case strings.HasPrefix(credential, kubernetesSecretPrefix),
		strings.HasPrefix(credential, kubernetesGatewayPrefix),
		strings.HasPrefix(credential, configMapSecretPrefix):
		return credential
	}
	return kubernetesSecretPrefix + credential
}

// credentialCASecretName is the SDS secret holding the CA certificates that
// client certificates are checked against: the key pair's name with
// "-cacert" appended, or the mesh roots for "builtin://".
func credentialCASecretName(credential string) string {
	if strings.HasPrefix(credential, builtinSecretPrefix) {
		return certs.RootSecretName
	}
	return credentialSecretName(credential) + credentialCASuffix
}
