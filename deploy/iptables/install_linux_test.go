package iptables

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Install loads the rules into a real network namespace, where
// iptables-save lists them.
func TestInstallInANetworkNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("installing rules needs root (a network namespace of its own); run the test as root")
	}
	for _, bin := range []string{"ip", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install iproute2 and iptables (`make tools`)", bin)
		}
	}
	ns := fmt.Sprintf("isthmus-iptables-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })

	o := Options{ExcludeOutboundPorts: []int{5432}, ExcludeOutboundCIDRs: []string{"10.96.0.0/12"}}
	bin, err := Install(context.Background(), Rules(o), "ip", "netns", "exec", ns)
	if err != nil {
		t.Fatal(err)
	}
	save := strings.Replace(bin, "-restore", "-save", 1)
	out, err := exec.Command("ip", "netns", "exec", ns, save, "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", save, err, out)
	}
	for _, want := range []string{"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001", "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
		"--dport 5432 -j RETURN", "-d 10.96.0.0/12 -j RETURN", "--uid-owner 1337 -j RETURN"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s lacks %q:\n%s", save, want, out)
		}
	}
}
