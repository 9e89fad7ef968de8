package iptables

import (
	"strings"
	"testing"
)

// istio-iptables' default nat table for REDIRECT mode.
const defaultRules = `*nat
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -p tcp -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15000 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
`

func TestDefaultRules(t *testing.T) {
	if got := Rules(Options{}); got != defaultRules {
		t.Fatalf("default rules:\n%s\nwant:\n%s", got, defaultRules)
	}
}

// The traffic.sidecar.istio.io annotations narrow capture as istio-iptables'
// -b, -d, -o and -x do.
func TestAnnotationsNarrowCapture(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		want        []string // lines that must be there
		absent      []string // lines that must not
	}{
		{"inbound ports listed", map[string]string{AnnotationIncludeInboundPorts: "8080, 9090"},
			[]string{"-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT", "-A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -j ISTIO_IN_REDIRECT"},
			[]string{"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"}},
		{"no inbound capture", map[string]string{AnnotationIncludeInboundPorts: ""},
			[]string{"-A ISTIO_OUTPUT -j ISTIO_REDIRECT"}, []string{"-A ISTIO_INBOUND"}},
		{"inbound port excluded", map[string]string{AnnotationExcludeInboundPorts: "3306"},
			[]string{"-A ISTIO_INBOUND -p tcp -m tcp --dport 3306 -j RETURN", "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"}, nil},
		{"outbound ports and ranges excluded", map[string]string{AnnotationExcludeOutboundPorts: "5432", AnnotationExcludeOutboundIPRanges: "10.96.0.0/12,169.254.169.254/32"},
			[]string{"-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN", "-A ISTIO_OUTPUT -d 10.96.0.0/12 -j RETURN", "-A ISTIO_OUTPUT -d 169.254.169.254/32 -j RETURN"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := FromAnnotations(c.annotations)
			if err != nil {
				t.Fatal(err)
			}
			rules := Rules(o)
			lines := strings.Split(rules, "\n")
			for _, w := range c.want {
				if !contains(lines, w) {
					t.Errorf("missing %q in\n%s", w, rules)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(rules, a) {
					t.Errorf("unexpected %q in\n%s", a, rules)
				}
			}
			// Exclusions come before the redirect that would catch them.
			if redirect := strings.Index(rules, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"); redirect < strings.LastIndex(rules, "-A ISTIO_OUTPUT -d") {
				t.Errorf("an exclusion follows the outbound redirect:\n%s", rules)
			}
		})
	}
}

func TestBadAnnotationsNamed(t *testing.T) {
	for annotation, value := range map[string]string{
		AnnotationIncludeInboundPorts:     "80,http",
		AnnotationExcludeInboundPorts:     "0",
		AnnotationExcludeOutboundPorts:    "70000",
		AnnotationExcludeOutboundIPRanges: "10.0.0.0",
	} {
		_, err := FromAnnotations(map[string]string{annotation: value})
		if err == nil || !strings.Contains(err.Error(), annotation) {
			t.Errorf("%s=%q: error %v, want one naming the annotation", annotation, value, err)
		}
	}
}

func contains(lines []string, line string) bool {
	for _, l := range lines {
		if l == line {
			return true
		}
	}
	return false
}
