package localmesh

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/isthmus-mesh/isthmus/deploy/freeport"
)

// requireLoopback fails unless addr ("host:port" or a bare IP) is an IPv4
// loopback address, or one the loopback interface holds (see
// AddLoopbackAddress), so the harness never reaches beyond the machine.
func requireLoopback(addr string) error {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !(ip.IsLoopback() || onLoopbackInterface(ip)) {
		return fmt.Errorf("address %q is neither in 127.0.0.0/8 nor on the loopback interface", addr)
	}
	return nil
}

// onLoopbackInterface reports whether the loopback interface holds ip.
func onLoopbackInterface(ip net.IP) bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagLoopback == 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}

// FreePort returns a TCP port that was free on ip a moment ago.
func FreePort(ip string) (int, error) {
	if err := requireLoopback(ip); err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr returns "127.0.0.1:PORT" with a port that was free a moment
// ago, below the kernel's ephemeral range (freeport), so that no
// connection's source port takes it before the process given it binds it.
func FreeAddr() (string, error) {
	ports, err := freeport.Pick(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}

// RandomLoopbackIP picks an address in 127.0.0.0/8 other than 127.0.0.1 on
// which port is free, so that listeners of concurrent runs do not collide.
func RandomLoopbackIP(port int) (string, error) {
	for range 50 {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(250), rand.IntN(256), 2+rand.IntN(250))
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return ip, nil
	}
	return "", fmt.Errorf("no loopback address with port %d free", port)
}
