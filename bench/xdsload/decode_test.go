package xdsload

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
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

// raw is a as a response carries it.
func raw(a *anypb.Any) rawAny {
	return rawAny{present: true, typeURL: []byte(a.GetTypeUrl()), value: a.GetValue()}
}

func TestListenerReferencesItsRouteConfiguration(t *testing.T) {
	d, err := newDecodeCache().decode(typeLDS, raw(mustAny(t, listener(false))))
	if err != nil {
		t.Fatal(err)
	}
	if d.name != "0.0.0.0_8080" || len(d.refs) != 1 || !slices.Equal(d.refs[typeRDS], []string{"8080"}) {
		t.Errorf("decoded %q with references %v", d.name, d.refs)
	}
}

func TestClusterReferencesItsEDSServiceName(t *testing.T) {
	f := &fakeControlPlane{}
	c := f.cluster("outbound|8080||a.ns.svc.cluster.local")
	c.EdsClusterConfig.ServiceName = "eds-name"
	d, err := newDecodeCache().decode(typeCDS, raw(mustAny(t, c)))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.refs) != 1 || !slices.Equal(d.refs[typeEDS], []string{"eds-name"}) {
		t.Errorf("references %v, want EDS [eds-name]", d.refs)
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
	_, err := newDecodeCache().decode(typeLDS, raw(mustAny(t, l)))
	if err == nil || !strings.Contains(err.Error(), "filter_chains[0].filters[0].typed_config") || !strings.Contains(err.Error(), "StatPrefix") {
		t.Errorf("error = %v, want the nested StatPrefix failure", err)
	}
}

func TestResourceOfAnotherTypeIsRejected(t *testing.T) {
	if _, err := newDecodeCache().decode(typeCDS, raw(mustAny(t, listener(false)))); err == nil {
		t.Error("a listener in a CDS response was accepted")
	}
}

// A cluster with Istio's mTLS transport socket matches references the
// workload certificate and the root of trust (combined validation
// context); a listener with a downstream TLS context references them too
// (plain validation context), beside its route configuration.
func TestTLSContextsReferenceTheirSecrets(t *testing.T) {
	f := &fakeControlPlane{}
	c := f.cluster("outbound|8080||a.ns.svc.cluster.local")
	c.TransportSocketMatches = istioMutualMatches("a.ns.svc.cluster.local")
	for _, tc := range []struct {
		typeURL string
		msg     proto.Message
		want    map[string][]string
	}{
		{typeCDS, c, map[string][]string{typeEDS: {c.Name}, typeSDS: {rootSecret, certSecret}}},
		{typeLDS, listener(true), map[string][]string{typeRDS: {"8080"}, typeSDS: {rootSecret, certSecret}}},
	} {
		d, err := newDecodeCache().decode(tc.typeURL, raw(mustAny(t, tc.msg)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for typ, names := range d.refs {
			got[typ] = slices.Sorted(slices.Values(names))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s references %v, want %v", typeNames[tc.typeURL], got, tc.want)
		}
	}
}

// Secrets istio-agent serves (SDS over its own socket) or the bootstrap
// holds are not fetched from the control plane.
func TestSecretsFromAnotherSourceAreNotSubscribed(t *testing.T) {
	l := listener(true)
	tls := &tlsv3.DownstreamTlsContext{}
	if err := l.FilterChains[0].TransportSocket.GetTypedConfig().UnmarshalTo(tls); err != nil {
		t.Fatal(err)
	}
	agent := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
		ApiType:             corev3.ApiConfigSource_GRPC,
		TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "sds-grpc"},
		}}},
	}}}
	tls.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].SdsConfig = agent
	tls.CommonTlsContext.GetValidationContextSdsSecretConfig().SdsConfig = nil // static
	l.FilterChains[0].TransportSocket.GetTypedConfig().Value, _ = proto.Marshal(tls)
	d, err := newDecodeCache().decode(typeLDS, raw(mustAny(t, l)))
	if err != nil {
		t.Fatal(err)
	}
	if names := d.refs[typeSDS]; len(names) != 0 {
		t.Errorf("subscribes to secrets %v", names)
	}
}

func TestSecretsAreValidated(t *testing.T) {
	f := &fakeControlPlane{}
	secrets, err := f.secrets()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		d, err := newDecodeCache().decode(typeSDS, raw(mustAny(t, s)))
		if err != nil || d.name != s.(*tlsv3.Secret).GetName() {
			t.Errorf("secret %v: decoded %+v, %v", s.(*tlsv3.Secret).GetName(), d, err)
		}
	}
	bad := &tlsv3.Secret{Name: certSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: ""}},
	}}}
	if _, err := newDecodeCache().decode(typeSDS, raw(mustAny(t, bad))); err == nil || !strings.Contains(err.Error(), "Filename") {
		t.Errorf("error = %v, want the empty file name rejected", err)
	}
}

// A cache hit gives what a fresh decode gives, rejections included, and
// the resource is decoded once.
func TestCacheHitsEqualFreshDecodes(t *testing.T) {
	good := mustAny(t, listener(true))
	broken := (&fakeControlPlane{corrupt: true}).cluster("outbound|8080||a.ns.svc.cluster.local")
	bad := mustAny(t, broken)
	c := newDecodeCache()
	for _, tc := range []struct {
		typeURL string
		a       *anypb.Any
	}{{typeLDS, good}, {typeCDS, bad}} {
		fresh, freshErr := decodeResource(tc.typeURL, tc.a)
		for i := 0; i < 3; i++ {
			copied := proto.Clone(tc.a).(*anypb.Any) // same bytes, another message
			got, err := c.decode(tc.typeURL, raw(copied))
			if !reflect.DeepEqual(got, fresh) || fmt.Sprint(err) != fmt.Sprint(freshErr) {
				t.Errorf("%s decode %d = %+v, %v; fresh %+v, %v", typeNames[tc.typeURL], i, got, err, fresh, freshErr)
			}
		}
	}
	if n := c.decodes.Load(); n != 2 {
		t.Errorf("%d decodes for 2 distinct resources", n)
	}
}

// Proxies receiving the same resource at once wait for one decode.
func TestCacheDecodesConcurrentDuplicatesOnce(t *testing.T) {
	c := newDecodeCache()
	a := mustAny(t, listener(true))
	results := make([]*decoded, 64)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = c.decode(typeLDS, raw(proto.Clone(a).(*anypb.Any)))
		}()
	}
	wg.Wait()
	if n := c.decodes.Load(); n != 1 {
		t.Errorf("%d decodes of one resource", n)
	}
	for i, r := range results {
		if r == nil || r != results[0] {
			t.Fatalf("result %d differs: %+v", i, r)
		}
	}
}

// The cache never holds more than maxCacheEntries, and what was used last
// is still there.
func TestCacheStaysBounded(t *testing.T) {
	c := newDecodeCache()
	secret := func(i int) *anypb.Any {
		return mustAny(t, &tlsv3.Secret{Name: fmt.Sprint("s", i)})
	}
	for i := 0; i < 2*maxCacheEntries; i++ {
		if _, err := c.decode(typeSDS, raw(secret(i))); err != nil {
			t.Fatal(err)
		}
		if i%4096 == 0 && c.len() > maxCacheEntries {
			t.Fatalf("%d entries after %d resources", c.len(), i+1)
		}
	}
	if n := c.len(); n > maxCacheEntries || n < maxCacheEntries/2 {
		t.Errorf("%d entries, want between %d and %d", n, maxCacheEntries/2, maxCacheEntries)
	}
	before := c.decodes.Load()
	for i := 2*maxCacheEntries - 100; i < 2*maxCacheEntries; i++ {
		c.decode(typeSDS, raw(secret(i)))
	}
	if n := c.decodes.Load() - before; n != 0 {
		t.Errorf("%d of the 100 latest resources decoded again", n)
	}
}

// An empty message encodes to no bytes whatever its type: the type is part
// of the key.
func TestSameBytesOfAnotherTypeAreNotConfused(t *testing.T) {
	c := newDecodeCache()
	if _, err := c.decode(typeSDS, raw(mustAny(t, &tlsv3.Secret{}))); err != nil {
		t.Fatal(err)
	}
	empty := mustAny(t, &clusterv3.Cluster{})
	got, err := c.decode(typeCDS, raw(empty))
	want, wantErr := decodeResource(typeCDS, empty)
	if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("empty cluster after empty secret: %+v, %v; fresh %+v, %v", got, err, want, wantErr)
	}
}
