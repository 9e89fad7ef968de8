package policy

import (
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
)

// kindInfo describes one Istio kind: its API group, the versions Istio serves
// for it, and a constructor for its spec message.
type kindInfo struct {
	group    string
	versions []string
	newSpec  func() proto.Message
}

var networkingVersions = []string{"v1", "v1beta1", "v1alpha3"}
var securityVersions = []string{"v1", "v1beta1"}
var telemetryVersions = []string{"v1", "v1alpha1"}

// kinds lists every kind Isthmus reads, with the versions Istio serves.
var kinds = map[Kind]kindInfo{
	KindVirtualService:        {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.VirtualService{} }},
	KindDestinationRule:       {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.DestinationRule{} }},
	KindGateway:               {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.Gateway{} }},
	KindServiceEntry:          {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.ServiceEntry{} }},
	KindWorkloadEntry:         {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.WorkloadEntry{} }},
	KindSidecar:               {"networking.istio.io", networkingVersions, func() proto.Message { return &networking.Sidecar{} }},
	KindPeerAuthentication:    {"security.istio.io", securityVersions, func() proto.Message { return &security.PeerAuthentication{} }},
	KindAuthorizationPolicy:   {"security.istio.io", securityVersions, func() proto.Message { return &security.AuthorizationPolicy{} }},
	KindRequestAuthentication: {"security.istio.io", securityVersions, func() proto.Message { return &security.RequestAuthentication{} }},
	KindTelemetry:             {"telemetry.istio.io", telemetryVersions, func() proto.Message { return &telemetry.Telemetry{} }},
}

// ignoredKinds are documents users keep beside mesh configuration that
// Isthmus skips silently, keyed by "apiVersion kind".
var ignoredKinds = map[string]bool{
	"install.istio.io/v1alpha1 IstioOperator": true,
}

// APIVersions returns the apiVersions ("group/version") Istio serves for kind,
// or nil for a kind Isthmus does not read.
func APIVersions(kind Kind) []string {
	info, ok := kinds[kind]
	if !ok {
		return nil
	}
	out := make([]string, len(info.versions))
	for i, v := range info.versions {
		out[i] = info.group + "/" + v
	}
	return out
}

// lookupKind finds the kind served at apiVersion, or reports ok=false.
func lookupKind(apiVersion string, kind Kind) (kindInfo, bool) {
	info, ok := kinds[kind]
	if !ok {
		return kindInfo{}, false
	}
	group, version, found := strings.Cut(apiVersion, "/")
	if !found || group != info.group {
		return kindInfo{}, false
	}
	for _, v := range info.versions {
		if v == version {
			return info, true
		}
	}
	return kindInfo{}, false
}
