package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// networkGatewayFlag collects repeated --network-gateway NETWORK=HOST:PORT.
type networkGatewayFlag []discovery.NetworkGateway

func (f *networkGatewayFlag) String() string { return "" }

func (f *networkGatewayFlag) Set(s string) error {
	network, hostPort, ok := strings.Cut(s, "=")
	host, portText, err := net.SplitHostPort(hostPort)
	if !ok || network == "" || err != nil || host == "" {
		return fmt.Errorf("%q: want NETWORK=HOST:PORT", s)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return fmt.Errorf("%q: port %q is not a port number", s, portText)
	}
	*f = append(*f, discovery.NetworkGateway{Network: network, Address: host, Port: uint32(port), Cluster: "flag"})
	return nil
}
