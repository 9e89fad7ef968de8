package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

// isthmus capture --print shows the rules it would install, narrowed by its
// flags; a bad port names its flag.
func TestCapturePrintsRules(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"capture", "--print"}, &stdout, &stderr); code != 0 || stdout.String() != iptables.Rules(iptables.Options{}) {
		t.Fatalf("exit %d, printed:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	code := run([]string{"capture", "--print", "--inbound-ports=8080", "--exclude-outbound-ports=5432",
		"--exclude-outbound-ip-ranges=10.96.0.0/12"}, &stdout, &stderr)
	for _, want := range []string{"--dport 8080 -j ISTIO_IN_REDIRECT", "--dport 5432 -j RETURN", "-d 10.96.0.0/12 -j RETURN"} {
		if code != 0 || !strings.Contains(stdout.String(), want) {
			t.Errorf("exit %d, printed no %q:\n%s", code, want, stdout.String())
		}
	}
	stderr.Reset()
	if code := run([]string{"capture", "--print", "--exclude-outbound-ports=http"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `--exclude-outbound-ports: port "http"`) {
		t.Errorf("bad port: exit %d, stderr %s", code, stderr.String())
	}
}
