package kubeharness

import (
	"errors"
	"fmt"
	"strings"
)

// LinkNodes joins two nodes (usually of two clusters, two networks) the
// way east-west gateways join networks: a veth pair between their
// namespaces routes each node's address (its NodePorts and hostPorts,
// where a gateway listens) to the other, and what the pods of one send
// over it leaves with their node's address (SNAT). Pod ranges and
// ClusterIPs stay unrouted between them. The returned unlink removes the
// pair (closing either node removes it too).
func LinkNodes(a, b *Node) (unlink func() error, err error) {
	devA, devB := linkDev(b), linkDev(a) // each end named after its peer
	if err := runIP("link", "add", "name", devA, "netns", a.NetNS, "type", "veth", "peer", "name", devB, "netns", b.NetNS); err != nil {
		return nil, fmt.Errorf("link nodes %s and %s: %w", a.Name, b.Name, err)
	}
	unlink = func() error {
		if err := runIP("-n", a.NetNS, "link", "delete", devA); err != nil {
			return fmt.Errorf("unlink nodes %s and %s: %w", a.Name, b.Name, err)
		}
		return errors.Join(snat(a, devA, "-D"), snat(b, devB, "-D"))
	}
	if err := errors.Join(linkEnd(a, devA, b), linkEnd(b, devB, a)); err != nil {
		_ = unlink()
		return nil, fmt.Errorf("link nodes %s and %s: %w", a.Name, b.Name, err)
	}
	return unlink, nil
}

// linkDev names the end of a link that leads to peer: "to" and its slot.
func linkDev(peer *Node) string {
	return "to" + strings.TrimPrefix(peer.key, keyPrefix(peer.key)+"-")
}

// linkEnd brings n's end dev up, routes peer's address through it from
// n's address, and rewrites n's pods' packets leaving by it to n's address.
func linkEnd(n *Node, dev string, peer *Node) error {
	steps := [][]string{
		{"-n", n.NetNS, "link", "set", dev, "up"},
		{"-n", n.NetNS, "route", "add", peer.IP.String() + "/32", "dev", dev, "src", n.IP.String()},
	}
	for _, args := range steps {
		if err := runIP(args...); err != nil {
			return err
		}
	}
	return snat(n, dev, "-A")
}

// snat adds (-A) or deletes (-D) the rule giving packets leaving n by dev
// n's address.
func snat(n *Node, dev, op string) error {
	return runInNetns(n.net, "iptables", "-w", "-t", "nat", op, "POSTROUTING", "-o", dev, "-j", "SNAT", "--to-source", n.IP.String())
}
