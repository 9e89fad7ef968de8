package helm

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the rendering goldens under testdata")

// chartSource is the chart as the repository holds it.
const chartSource = "isthmus"

// Test release and namespace, as Isthmus would be installed in place of
// istiod.
const (
	testRelease   = "isthmus"
	testNamespace = "istio-system"
)

// stagedChart is the chart with Istio's CRDs added, staged once per test
// binary.
func stagedChart(t *testing.T) string {
	t.Helper()
	stageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "isthmus-chart-test-")
		if err == nil {
			stageDir, stageErr = filepath.Join(dir, "isthmus"), Stage(chartSource, filepath.Join(dir, "isthmus"))
		} else {
			stageErr = err
		}
	})
	if stageErr != nil {
		t.Fatal(stageErr)
	}
	return stageDir
}

func loadChart(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	ch, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// readValues reads a values file of testdata.
func readValues(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return values
}

// generatedCA matches the PEM data of the CA the chart generates, which
// differs on every render.
var generatedCA = regexp.MustCompile(`(?m)^(  (ca-cert|ca-key|root-cert)\.pem: ).+$`)

// Each testdata/NAME.values.yaml renders as testdata/NAME.golden.yaml
// (-update rewrites them); the generated CA's PEM data is masked.
func TestRenderGoldens(t *testing.T) {
	ch := loadChart(t, chartSource)
	cases, err := filepath.Glob("testdata/*.values.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no testdata/*.values.yaml (%v)", err)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".values.yaml")
		t.Run(name, func(t *testing.T) {
			manifest, err := Render(ch, testRelease, testNamespace, readValues(t, filepath.Base(path)))
			if err != nil {
				t.Fatal(err)
			}
			got := generatedCA.ReplaceAllString(manifest, "${1}GENERATED")
			compareGolden(t, filepath.Join("testdata", name+".golden.yaml"), []byte(got))
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (run with -update to accept):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only one side has, in order; enough to see
// what changed in a rendering.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i >= len(w) || !slices.Contains(w[i:], g[j])):
			out.WriteString("+ " + g[j] + "\n")
			j++
		default:
			out.WriteString("- " + w[i] + "\n")
			i++
		}
	}
	return out.String()
}

var (
	stageOnce sync.Once
	stageDir  string
	stageErr  error
)

// TestMain removes the staged chart after the tests.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if stageDir != "" {
		os.RemoveAll(filepath.Dir(stageDir))
	}
	os.Exit(code)
}
