package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/golden"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Golden tests: each testdata/in/NAME.yaml holds Istio objects plus one
// "kind: TestProxy" document naming the proxy to translate for. The resources
// Translate gives are compared with testdata/out/NAME.KIND.yaml, one file per
// non-empty kind (clusters, endpoints, listeners, routes, secrets).
//
//	go test ./xds/translate -run TestGolden -update
//
// rewrites the outputs and deletes those no input produces any more.
var update = flag.Bool("update", false, "rewrite golden files under testdata/out")

const (
	goldenIn  = "testdata/in"
	goldenOut = "testdata/out"
)

// testProxy is the proxy document of a golden input:
//
//	kind: TestProxy
//	id: sidecar~10.0.0.5~client-1.default~default.svc.cluster.local
//	metadata: {NAMESPACE: default, LABELS: {app: client}}
//	locality: us-east-1/us-east-1a   # optional, node.locality
//	networkGateways: [{network: gcp, address: 192.0.2.1, port: 15443}]   # optional, in the catalog
type testProxy struct {
	Kind            string               `json:"kind"`
	ID              string               `json:"id"`
	Metadata        map[string]any       `json:"metadata"`
	Locality        string               `json:"locality"`
	NetworkGateways []testNetworkGateway `json:"networkGateways"`
	MeshConfig      map[string]any       `json:"meshConfig"`
}

// meshConfig reads the mesh config of a TestProxy document; nil for none.
func meshConfig(doc []byte) (*meshv1alpha1.MeshConfig, error) {
	var tp testProxy
	if err := yaml.Unmarshal(doc, &tp); err != nil || tp.MeshConfig == nil {
		return nil, err
	}
	js, err := json.Marshal(tp.MeshConfig)
	if err != nil {
		return nil, err
	}
	mc := &meshv1alpha1.MeshConfig{}
	return mc, protojson.Unmarshal(js, mc)
}

type testNetworkGateway struct {
	Network string `json:"network"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// networkGateways reads the network gateways of a TestProxy document.
func networkGateways(doc []byte) ([]discovery.NetworkGateway, error) {
	var tp testProxy
	if err := yaml.Unmarshal(doc, &tp); err != nil {
		return nil, err
	}
	var out []discovery.NetworkGateway
	for _, g := range tp.NetworkGateways {
		out = append(out, discovery.NetworkGateway{Network: g.Network, Address: g.Address, Port: g.Port})
	}
	return out, nil
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (err %v)", goldenIn, err)
	}
	cases := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		cases[name] = true
		t.Run(name, func(t *testing.T) { runGoldenCase(t, in, name) })
	}
	checkOrphans(t, cases)
}

// runGoldenCase translates one input and compares (or rewrites) each kind's
// output.
func runGoldenCase(t *testing.T, path, name string) {
	t.Helper()
	res := translateGoldenInput(t, path)
	for _, kind := range resourceKinds(res) {
		file := filepath.Join(goldenOut, name+"."+kind.name+".yaml")
		if len(kind.list) == 0 {
			expectAbsent(t, file)
			continue
		}
		compareGolden(t, file, renderYAML(t, kind.list))
	}
}

type resourceKind struct {
	name string
	list []proto.Message
}

func resourceKinds(r *Resources) []resourceKind {
	return []resourceKind{
		{"clusters", messages(r.Clusters)},
		{"endpoints", messages(r.Endpoints)},
		{"listeners", messages(r.Listeners)},
		{"routes", messages(r.Routes)},
		{"secrets", messages(r.Secrets)},
	}
}

func messages[T proto.Message](list []T) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

// translateGoldenInput loads an input file and translates it for its proxy.
func translateGoldenInput(t *testing.T, path string) *Resources {
	t.Helper()
	idx, proxy := loadGoldenInput(t, path)
	res, err := Translate(idx, proxy)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return res
}

// loadGoldenInput reads an input file: the index of its objects (with the
// TestProxy document's network gateways and mesh config) and its proxy.
// Invalid objects fail the test.
func loadGoldenInput(t *testing.T, path string) (*Index, *model.Proxy) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	proxyDoc, rest, err := splitTestProxy(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	proxy, err := parseTestProxy(proxyDoc)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	objs, errs := policy.Decode(path, rest)
	for _, o := range objs {
		errs = append(errs, policy.Validate(o)...)
	}
	for _, e := range errs {
		t.Errorf("invalid input: %v", e)
	}
	if t.Failed() {
		t.FailNow()
	}
	cfg := policy.NewConfig(objs)
	gateways, err := networkGateways(proxyDoc)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mesh, err := meshConfig(proxyDoc)
	if err != nil {
		t.Fatalf("%s: meshConfig: %v", path, err)
	}
	return NewIndex(assemble.Build(1, cfg, assemble.Settings{Mesh: mesh, NetworkGateways: gateways})), proxy
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitTestProxy takes the TestProxy document out of a multi-document YAML
// file and returns it and the remaining documents. Removed documents are
// replaced by empty ones so the document numbers of errors stay right.
func splitTestProxy(data []byte) (proxyDoc, rest []byte, err error) {
	docs := docSeparator.Split(string(data), -1)
	for i, doc := range docs {
		var probe struct {
			Kind string `json:"kind"`
		}
		if yaml.Unmarshal([]byte(doc), &probe) != nil || probe.Kind != "TestProxy" {
			continue
		}
		if proxyDoc != nil {
			return nil, nil, errors.New("more than one TestProxy document")
		}
		proxyDoc = []byte(doc)
		docs[i] = "\n"
	}
	if proxyDoc == nil {
		return nil, nil, errors.New("no TestProxy document")
	}
	return proxyDoc, []byte(strings.Join(docs, "---")), nil
}

// parseTestProxy builds the proxy as ParseNode would from a real node.
func parseTestProxy(doc []byte) (*model.Proxy, error) {
	var tp testProxy
	if err := yaml.UnmarshalStrict(doc, &tp); err != nil {
		return nil, fmt.Errorf("TestProxy: %w", err)
	}
	md, err := structpb.NewStruct(tp.Metadata)
	if err != nil {
		return nil, fmt.Errorf("TestProxy metadata: %w", err)
	}
	locality, err := model.ParseLocality(tp.Locality)
	if err != nil {
		return nil, err
	}
	return model.ParseNode(&corev3.Node{Id: tp.ID, Metadata: md, Locality: locality})
}

// renderYAML writes resources as a YAML list: protojson (Any types spelled
// out by URL) turned into YAML with sorted keys, so output is stable.
func renderYAML(t *testing.T, list []proto.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, m := range list {
		if i > 0 {
			buf.WriteByte(',')
		}
		js, err := protojson.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %T: %v", m, err)
		}
		buf.Write(js)
	}
	buf.WriteByte(']')
	out, err := yaml.JSONToYAML(buf.Bytes())
	if err != nil {
		t.Fatalf("to YAML: %v", err)
	}
	return out
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	golden.Compare(t, file, got, *update)
}

// expectAbsent checks (or, with -update, ensures) that a kind with no
// resources has no output file.
func expectAbsent(t *testing.T, file string) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		return
	}
	if *update {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s exists but the case produces no such resources (run with -update)", file)
}

// checkOrphans finds output files (NAME.KIND.yaml) whose input is gone.
func checkOrphans(t *testing.T, cases map[string]bool) {
	outputs, err := filepath.Glob(filepath.Join(goldenOut, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range outputs {
		kindAndName := strings.TrimSuffix(filepath.Base(out), ".yaml")
		if cases[strings.TrimSuffix(kindAndName, filepath.Ext(kindAndName))] {
			continue
		}
		if *update {
			if err := os.Remove(out); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("orphaned golden file %s (run with -update to delete it)", out)
	}
}
