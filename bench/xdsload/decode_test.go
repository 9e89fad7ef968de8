package xdsload

import (
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestListenerReferencesItsRouteConfiguration(t *testing.T) {
	d, err := newDecodeCache().decode(typeLDS, mustAny(t, listener(false)))
	if err != nil {
		t.Fatal(err)
	}
	if d.name != "0.0.0.0_8080" || len(d.refs) != 1 || d.refs[0] != "8080" {
		t.Errorf("decoded %q with references %v", d.name, d.refs)
	}
}

func TestClusterReferencesItsEDSServiceName(t *testing.T) {
	f := &fakeControlPlane{}
	c := f.cluster("outbound|8080||a.ns.svc.cluster.local")
	c.EdsClusterConfig.ServiceName = "eds-name"
	d, err := newDecodeCache().decode(typeCDS, mustAny(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.refs) != 1 || d.refs[0] != "eds-name" {
		t.Errorf("references %v, want [eds-name]", d.refs)
	}
}

// An invalid typed config nested in a listener is caught, as Envoy would
// reject it, and the reason names the field.
func TestInvalidNestedTypedConfigIsRejected(t *testing.T) {
	l := listener(false)
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	hcm.StatPrefix = ""
	l.FilterChains[0].Filters[0].GetTypedConfig().Value, _ = proto.Marshal(hcm)
	_, err := newDecodeCache().decode(typeLDS, mustAny(t, l))
	if err == nil || !strings.Contains(err.Error(), "filter_chains[0].filters[0].typed_config") || !strings.Contains(err.Error(), "StatPrefix") {
		t.Errorf("error = %v, want the nested StatPrefix failure", err)
	}
}

func TestResourceOfAnotherTypeIsRejected(t *testing.T) {
	if _, err := newDecodeCache().decode(typeCDS, mustAny(t, listener(false))); err == nil {
		t.Error("a listener in a CDS response was accepted")
	}
}
