package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowestPort is the lowest port Pick picks.
const lowestPort = 10000

// Pick returns n distinct ports of 127.0.0.1 that are free now. They are
// picked at random below the kernel's ephemeral range
// (ip_local_port_range), where no outgoing connection can take one before
// the process given it binds it, or while a stopped process is away from
// its port. Without room below that range it asks the kernel (port 0).
func Pick(n int) ([]int, error) {
	var ports []int
	var held []net.Listener // kept open until all are picked, so they differ
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	high := ephemeralLow()
	for tries := 0; len(ports) < n; tries++ {
		port := 0
		if high-lowestPort > 1000 && tries < 100*n {
			port = lowestPort + rand.IntN(high-lowestPort)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if port == 0 {
				return nil, fmt.Errorf("free port: %w", err)
			}
			continue
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	data, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if fields := strings.Fields(string(data)); len(fields) == 2 {
		if low, err := strconv.Atoi(fields[0]); err == nil {
			return low
		}
	}
	return 32768
}
