package rbac

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/golden"
)

// Golden tests: each testdata/in/NAME.yaml holds AuthorizationPolicies and
// RequestAuthentications, and a first comment line naming the workload to
// translate for:
//
//	# workload: namespace=foo labels=app=httpbin,version=v1 trustDomain=example.org
//
// testdata/out/NAME.yaml holds the selected policies, the JWT filter and
// JWKS clusters (when RequestAuthentications apply), and the HTTP and TCP
// RBAC filters.
//
//	go test ./xds/translate/rbac -run TestGolden -update
//
// rewrites the outputs and deletes those no input produces any more.
var update = flag.Bool("update", false, "rewrite golden files under testdata/out")

const (
	goldenIn  = "testdata/in"
	goldenOut = "testdata/out"
)

// workload is what a golden input translates for.
type workload struct {
	namespace   string
	labels      map[string]string
	trustDomain string
}

// goldenCase is a golden input, loaded and validated.
type goldenCase struct {
	name     string
	workload workload
	config   *policy.Config
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	want := map[string]bool{}
	for _, c := range cases {
		want[c.name+".yaml"] = true
		t.Run(c.name, func(t *testing.T) {
			compareGolden(t, filepath.Join(goldenOut, c.name+".yaml"), renderCase(t, c))
		})
	}
	removeOrphans(t, want)
}

// TestGoldenOutputsValidate checks every generated filter against Envoy's
// proto constraints.
func TestGoldenOutputsValidate(t *testing.T) {
	for _, c := range goldenCases(t) {
		selected := For(c.config, c.workload.namespace, c.workload.labels)
		authns := RequestAuthenticationsFor(c.config, c.workload.namespace, c.workload.labels)
		if f := JWTFilter(authns); f != nil {
			validateFilter(t, c.name, f.GetTypedConfig())
		}
		for _, cl := range JWKSClusters(authns) {
			if err := cl.Validate(); err != nil {
				t.Errorf("%s: JWKS cluster %s is invalid: %v", c.name, cl.GetName(), err)
			}
		}
		for _, f := range HTTPFilters(selected, c.workload.trustDomain) {
			validateFilter(t, c.name, f.GetTypedConfig())
		}
		for _, f := range NetworkFilters(selected, c.workload.trustDomain) {
			validateFilter(t, c.name, f.GetTypedConfig())
		}
	}
}

func validateFilter(t *testing.T, name string, typed interface{ UnmarshalNew() (proto.Message, error) }) {
	t.Helper()
	msg, err := typed.UnmarshalNew()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := msg.(interface{ Validate() error }).Validate(); err != nil {
		t.Errorf("%s: generated %T is invalid: %v", name, msg, err)
	}
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (err %v)", goldenIn, err)
	}
	var out []goldenCase
	for _, in := range inputs {
		out = append(out, goldenCase{
			name:     strings.TrimSuffix(filepath.Base(in), ".yaml"),
			workload: readWorkload(t, in),
			config:   loadConfig(t, in),
		})
	}
	return out
}

// loadConfig reads and validates Istio files as `isthmus validate` does.
func loadConfig(t *testing.T, paths ...string) *policy.Config {
	t.Helper()
	cfg, problems := policy.LoadPaths(paths)
	for _, p := range problems {
		t.Errorf("invalid test input: %v", p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	return cfg
}

// readWorkload parses the "# workload:" line of an input.
func readWorkload(t *testing.T, path string) workload {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	spec, ok := strings.CutPrefix(strings.TrimSpace(line), "# workload:")
	if !ok {
		t.Fatalf("%s: first line must be \"# workload: namespace=NS labels=K=V,... [trustDomain=TD]\"", path)
	}
	w := workload{labels: map[string]string{}, trustDomain: "cluster.local"}
	for _, kv := range strings.Fields(spec) {
		key, value, _ := strings.Cut(kv, "=")
		switch key {
		case "namespace":
			w.namespace = value
		case "trustDomain":
			w.trustDomain = value
		case "labels":
			for _, l := range strings.Split(value, ",") {
				k, v, _ := strings.Cut(l, "=")
				w.labels[k] = v
			}
		default:
			t.Fatalf("%s: unknown workload setting %q", path, key)
		}
	}
	return w
}

// goldenOutput is the YAML layout of an output file.
type goldenOutput struct {
	Selected               []string `json:"selected"`
	RequestAuthentications []string `json:"requestAuthentications,omitempty"`
	JWT                    any      `json:"jwt,omitempty"`
	JWKSClusters           []any    `json:"jwksClusters,omitempty"`
	HTTP                   []any    `json:"http"`
	TCP                    []any    `json:"tcp"`
}

func renderCase(t *testing.T, c goldenCase) []byte {
	t.Helper()
	selected := For(c.config, c.workload.namespace, c.workload.labels)
	out := goldenOutput{Selected: []string{}, HTTP: []any{}, TCP: []any{}}
	for _, o := range selected {
		out.Selected = append(out.Selected, o.Namespace+"/"+o.Name)
	}
	renderJWT(t, c, &out)
	for _, f := range HTTPFilters(selected, c.workload.trustDomain) {
		out.HTTP = append(out.HTTP, protoValue(t, f))
	}
	for _, f := range NetworkFilters(selected, c.workload.trustDomain) {
		out.TCP = append(out.TCP, protoValue(t, f))
	}
	data, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// renderJWT adds the RequestAuthentications' filter and clusters.
func renderJWT(t *testing.T, c goldenCase, out *goldenOutput) {
	t.Helper()
	authns := RequestAuthenticationsFor(c.config, c.workload.namespace, c.workload.labels)
	for _, o := range authns {
		out.RequestAuthentications = append(out.RequestAuthentications, o.Namespace+"/"+o.Name)
	}
	if f := JWTFilter(authns); f != nil {
		out.JWT = protoValue(t, f)
	}
	for _, cl := range JWKSClusters(authns) {
		out.JWKSClusters = append(out.JWKSClusters, protoValue(t, cl))
	}
}

// protoValue is m as generic JSON data, for YAML rendering.
func protoValue(t *testing.T, m proto.Message) any {
	t.Helper()
	js, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	golden.Compare(t, file, got, *update)
}

func removeOrphans(t *testing.T, want map[string]bool) {
	t.Helper()
	outputs, _ := filepath.Glob(filepath.Join(goldenOut, "*.yaml"))
	for _, out := range outputs {
		if want[filepath.Base(out)] {
			continue
		}
		if !*update {
			t.Errorf("%s has no input (run with -update to delete it)", out)
			continue
		}
		if err := os.Remove(out); err != nil {
			t.Fatal(err)
		}
	}
}
