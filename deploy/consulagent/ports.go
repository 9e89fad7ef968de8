package consulagent

import (
	"fmt"
	"net"
)

// pickPorts picks the agent's ports (freePorts; tests replace it).
var pickPorts = freePorts

// freePorts returns n distinct free ports of 127.0.0.1, held open until
// all are picked so they differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
