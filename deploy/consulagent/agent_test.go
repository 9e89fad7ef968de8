package consulagent

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/freeport"
)

// A missing binary is an error telling how to build it.
func TestBinaryPathMissing(t *testing.T) {
	t.Setenv(BinaryEnv, filepath.Join(t.TempDir(), "consul"))
	if _, err := BinaryPath(); err == nil || !strings.Contains(err.Error(), "make consul-bin") {
		t.Errorf("BinaryPath with a missing binary: %v, want an error naming make consul-bin", err)
	}
	if _, err := Start(Options{LogDir: t.TempDir()}); err == nil {
		t.Error("Start with a missing binary did not fail")
	}
}

// An agent answers on 127.0.0.1 at a port other than Consul's default,
// in the datacenter asked for, and is gone after Stop.
func TestAgentRunsOnLoopbackAndStops(t *testing.T) {
	a := StartT(t, Options{Datacenter: "east"})
	if !strings.HasPrefix(a.Addr, "127.0.0.1:") || strings.HasSuffix(a.Addr, ":8500") {
		t.Errorf("address %s, want 127.0.0.1 on a port other than 8500", a.Addr)
	}
	body, err := get(t.Context(), "http://"+a.Addr+"/v1/agent/self")
	if err != nil || !strings.Contains(body, `"Datacenter": "east"`) {
		t.Fatalf("/v1/agent/self: %v %.200s", err, body)
	}
	a.Stop()
	if _, err := http.Get("http://" + a.Addr + "/v1/status/leader"); err == nil {
		t.Error("the agent still answers after Stop")
	}
}

// A port taken between being picked and being bound makes the agent exit;
// Start tries again on other ports.
func TestAgentStartsWhenAPortIsTakenMeanwhile(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	pickPorts = func(n int) ([]int, error) {
		picks++
		ports, err := freeport.Pick(n)
		if picks == 1 && err == nil {
			ports[0] = takenPort
		}
		return ports, err
	}
	defer func() { pickPorts = freeport.Pick }()
	a := StartT(t, Options{})
	if picks != 2 || strings.HasSuffix(a.Addr, fmt.Sprintf(":%d", takenPort)) {
		t.Errorf("agent on %s after %d picks of ports, want a second pick away from the taken port %d", a.Addr, picks, takenPort)
	}
}
