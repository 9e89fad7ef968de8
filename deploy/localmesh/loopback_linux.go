package localmesh

import (
	"fmt"
	"net"
	"os/exec"
)

// AddLoopbackAddress puts ip (IPv4, outside 127.0.0.0/8) on the loopback
// interface, for workloads that need an address a Kubernetes API server
// accepts in an EndpointSlice (it refuses 127.0.0.0/8): traffic to it never
// leaves the machine. It needs root (ip from iproute2). remove takes it
// away again.
func AddLoopbackAddress(ip string) (remove func() error, err error) {
	if parsed := net.ParseIP(ip); parsed == nil || parsed.To4() == nil || parsed.IsLoopback() {
		return nil, fmt.Errorf("loopback address %q: want an IPv4 address outside 127.0.0.0/8", ip)
	}
	if out, err := exec.Command("ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("add %s to lo (needs root and iproute2): %v: %s", ip, err, out)
	}
	return func() error {
		if out, err := exec.Command("ip", "addr", "del", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
			return fmt.Errorf("remove %s from lo: %v: %s", ip, err, out)
		}
		return nil
	}, nil
}
