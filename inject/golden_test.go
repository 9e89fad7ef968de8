package inject

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/xds/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCase is one testdata/*.in.yaml: the injector's settings, the
// namespace the pod is created in, and the pod.
type goldenCase struct {
	Config    Config     `json:"config"`
	Namespace string     `json:"namespace"`
	Pod       corev1.Pod `json:"pod"`
}

// The pod the API server stores once it applied the webhook's patch, for
// each testdata/*.in.yaml, is testdata/*.out.yaml.
func TestInjectedPodsGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.in.yaml (%v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			c := readCase(t, in)
			injected, err := Pod(&c.Pod, c.Namespace, c.Config)
			if err != nil {
				t.Fatal(err)
			}
			patch, err := Patch(&c.Pod, injected)
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, filepath.Join("testdata", name+".out.yaml"), applyPatch(t, &c.Pod, patch), *update)
		})
	}
}

func readCase(t testing.TB, path string) goldenCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// applyPatch applies a JSON patch to pod as the API server does and
// returns the result as YAML.
func applyPatch(t *testing.T, pod *corev1.Pod, patch []byte) []byte {
	t.Helper()
	original, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	patched, err := p.Apply(original)
	if err != nil {
		t.Fatalf("applying %s: %v", patch, err)
	}
	out, err := yaml.JSONToYAML(patched)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
