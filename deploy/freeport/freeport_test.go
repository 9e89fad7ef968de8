package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Picked ports differ, lie below the kernel's ephemeral range (where no
// connection's source port can take them) and can be bound.
func TestPickedPortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	ports, err := Pick(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range ports {
		if seen[port] || port < lowestPort || port >= ephemeralLow() {
			t.Errorf("port %d of %v: repeated, or outside [%d, %d)", port, ports, lowestPort, ephemeralLow())
		}
		seen[port] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Errorf("port %d: %v", port, err)
			continue
		}
		l.Close()
	}
}
