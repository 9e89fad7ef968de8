package xdsload

import (
	"context"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// writeStrictMesh writes the default mesh with a mesh-wide STRICT
// PeerAuthentication: the fake control plane then serves TLS clusters and
// listeners and their secrets.
func writeStrictMesh(t *testing.T) (string, meshgen.Spec) {
	t.Helper()
	dir := t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	pa := meshgen.File{Path: meshgen.PeerAuthenticationFile, Data: meshgen.PeerAuthenticationYAML("default", "STRICT")}
	if err := meshgen.WriteFile(dir, pa); err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

// Every proxy subscribes to the secrets its clusters and listener
// reference, gets its full configuration with them, and sees a rotated
// certificate as a change.
func TestFleetSubscribesToSecretsAndSeesRotation(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			dir, spec := writeStrictMesh(t)
			cp := startFake(t, &fakeControlPlane{dir: dir})
			opts := smallRun(cp.Addr, dir, spec, delta)
			fleet, storm, err := Connect(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer fleet.Close()
			if storm.Observed != opts.Proxies || storm.NACKs != 0 {
				t.Errorf("connect storm: %d of %d configured, %d NACKs", storm.Observed, opts.Proxies, storm.NACKs)
			}
			for _, name := range []string{certSecret, rootSecret} {
				if n := cp.secretStreams(name); n != opts.Proxies {
					t.Errorf("%d of %d proxies subscribed to secret %q", n, opts.Proxies, name)
				}
			}
			for _, p := range fleet.r.proxies {
				p.mu.Lock()
				held := slices.Sorted(slices.Values(p.state.resources[typeSDS].names()))
				p.mu.Unlock()
				if !slices.Equal(held, []string{rootSecret, certSecret}) {
					t.Errorf("%s holds secrets %v", p.ID.NodeID(), held)
				}
			}
			rotate := func() error { return cp.rotateSecrets(context.Background()) }
			res, err := fleet.Change(context.Background(), "rotate certificates", DetectAnyChange(), rotate, 15*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Affected != opts.Proxies || res.Observed != res.Affected || res.NACKs != 0 {
				t.Errorf("rotation: %d of %d proxies saw it, %d NACKs (%v)", res.Observed, res.Affected, res.NACKs, fleet.NACKs())
			}
		})
	}
}

// A proxy that has all but one of the secrets it references does not have
// its full configuration.
func TestProxyMissingASecretIsNotConfigured(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			dir, spec := writeStrictMesh(t)
			cp := startFake(t, &fakeControlPlane{dir: dir, omitSecret: rootSecret})
			opts := smallRun(cp.Addr, dir, spec, delta)
			opts.Proxies, opts.Scenarios, opts.ConfigTimeout = 2, nil, time.Second
			r := newRunner(opts)
			defer r.close()
			if err := r.connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, p := range r.proxies {
				waitFor(t, func() bool {
					p.mu.Lock()
					defer p.mu.Unlock()
					return p.state.get(typeSDS, certSecret) != nil
				})
				if _, ok := p.timeToConfig(); ok {
					t.Errorf("%s counted configured without secret %q", p.ID.NodeID(), rootSecret)
				}
			}
			if n := cp.secretStreams(rootSecret); n != opts.Proxies {
				t.Errorf("%d of %d proxies subscribed to the missing secret", n, opts.Proxies)
			}
			if storm := r.report.Scenarios[0]; storm.Observed != 0 || storm.NACKs != 0 {
				t.Errorf("connect storm: %d configured, %d NACKs; want none", storm.Observed, storm.NACKs)
			}
		})
	}
}

// waitFor polls cond until it holds, failing after 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 30s")
		}
	}
}

// decodeFor decodes a fake resource for the state tests.
func decodeFor(t *testing.T, typeURL string, m proto.Message) *decoded {
	t.Helper()
	d, err := newDecodeCache().decode(typeURL, raw(mustAny(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The full configuration needs every referenced secret; secrets nothing
// references any more are forgotten, and then none is needed.
func TestFullConfigurationNeedsEveryReferencedSecret(t *testing.T) {
	f := &fakeControlPlane{}
	name := "outbound|8080||a.ns.svc.cluster.local"
	plain := f.cluster(name)
	tls := proto.Clone(plain).(*clusterv3.Cluster)
	tls.TransportSocketMatches = istioMutualMatches("a.ns.svc.cluster.local")
	secrets, err := f.secrets()
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{host: "a.ns.svc.cluster.local", endpoints: map[string]string{"10.0.0.1": "v1"}}

	s := newConfigState()
	apply := func(typeURL string, list ...*decoded) {
		s.update(typeURL, list, nil)
		s.forgetUnwanted(typeURL)
	}
	apply(typeCDS, decodeFor(t, typeCDS, tls))
	apply(typeLDS, decodeFor(t, typeLDS, listener(false)))
	apply(typeEDS, decodeFor(t, typeEDS, assignment(name, svc, "")))
	apply(typeRDS, decodeFor(t, typeRDS, &routev3.RouteConfiguration{Name: "8080"}))
	if !slices.Equal(s.wanted(typeSDS), []string{rootSecret, certSecret}) {
		t.Fatalf("wanted secrets %v", s.wanted(typeSDS))
	}
	apply(typeSDS, decodeFor(t, typeSDS, secrets[0]))
	if s.complete() || s.secretsWarm() {
		t.Error("complete with one of two secrets")
	}
	apply(typeSDS, decodeFor(t, typeSDS, secrets[1]))
	if !s.complete() || !s.secretsWarm() {
		t.Error("not complete with both secrets")
	}
	apply(typeCDS, decodeFor(t, typeCDS, plain))
	if len(s.wanted(typeSDS)) != 0 || s.resources[typeSDS].len() != 0 || !s.complete() {
		t.Errorf("after TLS was removed: wanted %v, held %d secrets, complete %v", s.wanted(typeSDS), s.resources[typeSDS].len(), s.complete())
	}
}
