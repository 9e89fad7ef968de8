package meshgen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/policy"
)

// decodeAll decodes every generated file and fails on any problem Istio
// would report: decoding, validation of each object, references between
// objects.
func decodeAll(t *testing.T, files []meshgen.File) []*policy.Object {
	t.Helper()
	var objs []*policy.Object
	for _, f := range files {
		o, errs := policy.Decode(f.Path, f.Data)
		for _, e := range errs {
			t.Errorf("decode: %s", e)
		}
		objs = append(objs, o...)
	}
	for _, o := range objs {
		for _, e := range policy.Validate(o) {
			t.Errorf("validate: %s", e)
		}
	}
	for _, e := range policy.CheckReferences(objs) {
		t.Errorf("references: %s", e)
	}
	return objs
}

func countKinds(objs []*policy.Object) map[policy.Kind]int {
	n := map[policy.Kind]int{}
	for _, o := range objs {
		n[o.Kind]++
	}
	return n
}

func TestGeneratedMeshDecodes(t *testing.T) {
	spec := meshgen.Spec{Services: 7, Namespaces: 3, EndpointsPerService: 4, Subsets: 3, Port: 8080,
		VirtualServicesPerNamespace: 2, Sidecars: true}
	files, err := spec.Files()
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, files)
	got := countKinds(objs)
	// ns-0 holds services 0,3,6; ns-1 1,4; ns-2 2,5: two VirtualServices
	// per namespace except where it has fewer services.
	want := map[policy.Kind]int{
		policy.KindServiceEntry: 7, policy.KindDestinationRule: 7,
		policy.KindVirtualService: 6, policy.KindSidecar: 3,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: got %d objects, want %d", k, got[k], n)
		}
	}
	cfg := policy.NewConfig(objs)
	se := cfg.Get(policy.Key{Kind: policy.KindServiceEntry, Namespace: "ns-1", Name: "svc-4"})
	if se == nil {
		t.Fatal("ServiceEntry ns-1/svc-4 missing")
	}
	spec4 := se.Spec.(*networking.ServiceEntry)
	if h := spec4.GetHosts(); len(h) != 1 || h[0] != "svc-4.ns-1.svc.cluster.local" {
		t.Errorf("hosts = %v", h)
	}
	if n := len(spec4.GetEndpoints()); n != 4 {
		t.Errorf("endpoints = %d, want 4", n)
	}
}

func TestVirtualServiceSplitsBetweenExistingSubsets(t *testing.T) {
	svc := meshgen.DefaultSpec().Service(1)
	cfg := policy.NewConfig(decodeAll(t, []meshgen.File{{Path: svc.File(), Data: svc.YAML()}}))
	dr := cfg.List(policy.KindDestinationRule)[0].Spec.(*networking.DestinationRule)
	subsets := map[string]bool{}
	for _, s := range dr.GetSubsets() {
		subsets[s.GetName()] = true
	}
	vs := cfg.List(policy.KindVirtualService)[0].Spec.(*networking.VirtualService)
	total := int32(0)
	for _, d := range vs.GetHttp()[0].GetRoute() {
		total += d.GetWeight()
		if !subsets[d.GetDestination().GetSubset()] {
			t.Errorf("route to subset %q, which the DestinationRule lacks", d.GetDestination().GetSubset())
		}
	}
	if total != 100 {
		t.Errorf("weights sum to %d", total)
	}
}

func TestWorkloadEntriesAreSelectedByTheirService(t *testing.T) {
	spec := meshgen.DefaultSpec()
	spec.WorkloadEntries = true
	svc := spec.Service(2)
	cfg := policy.NewConfig(decodeAll(t, []meshgen.File{{Path: svc.File(), Data: svc.YAML()}}))
	se := cfg.List(policy.KindServiceEntry)[0].Spec.(*networking.ServiceEntry)
	selector := se.GetWorkloadSelector().GetLabels()
	wes := cfg.List(policy.KindWorkloadEntry)
	if len(wes) != spec.EndpointsPerService {
		t.Fatalf("%d WorkloadEntries, want %d", len(wes), spec.EndpointsPerService)
	}
	for _, o := range wes {
		labels := o.Spec.(*networking.WorkloadEntry).GetLabels()
		for k, v := range selector {
			if labels[k] != v {
				t.Errorf("WorkloadEntry %s labels %v not selected by %v", o.Name, labels, selector)
			}
		}
	}
}

func TestEndpointGenerationReplacesOnlyTheLastEndpoint(t *testing.T) {
	svc := meshgen.DefaultSpec().Service(5)
	before := append([]meshgen.Endpoint(nil), svc.Endpoints...)
	svc.SetEndpointGeneration(1)
	last := len(before) - 1
	for p := range before {
		moved := svc.Endpoints[p].Address != before[p].Address
		if moved != (p == last) {
			t.Errorf("endpoint %d: %s -> %s", p, before[p].Address, svc.Endpoints[p].Address)
		}
		if svc.Endpoints[p].Version != before[p].Version {
			t.Errorf("endpoint %d changed version", p)
		}
	}
	for q := 0; q < last; q++ {
		if svc.Endpoints[q].Address == svc.Endpoints[last].Address {
			t.Errorf("replaced endpoint took the address of endpoint %d", q)
		}
	}
}

func TestMeshWidePeerAuthenticationDecodes(t *testing.T) {
	objs := decodeAll(t, []meshgen.File{{Path: meshgen.PeerAuthenticationFile, Data: meshgen.PeerAuthenticationYAML("default", "STRICT")}})
	if len(objs) != 1 || objs[0].Namespace != policy.RootNamespace {
		t.Fatalf("objects %v", objs)
	}
}

func TestGenerationIsDeterministic(t *testing.T) {
	a, err := meshgen.DefaultSpec().Files()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := meshgen.DefaultSpec().Files()
	for i := range a {
		if a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("file %d differs between two generations", i)
		}
	}
}

func TestWriteRecordsTheSpec(t *testing.T) {
	dir := t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	got, err := meshgen.ReadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != spec {
		t.Errorf("ReadSpec = %+v, want %+v", got, spec)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns-1", "svc-1.yaml")); err != nil {
		t.Errorf("service file: %v", err)
	}
}

func TestInvalidSpecIsRefused(t *testing.T) {
	spec := meshgen.DefaultSpec()
	spec.Subsets = 1
	if _, err := spec.Files(); err == nil {
		t.Error("80/20 VirtualServices with one subset accepted")
	}
}

func TestChangedServicesStillValidate(t *testing.T) {
	spec := meshgen.DefaultSpec()
	spec.WorkloadEntries = true
	svc := spec.Service(3)
	svc.SetEndpointGeneration(7)
	svc.SetWeights(33, 67)
	decodeAll(t, []meshgen.File{{Path: svc.File(), Data: svc.YAML()}})
	added := spec.Service(spec.Services + 4)
	decodeAll(t, []meshgen.File{{Path: added.File(), Data: added.YAML()}})
}
