package helm

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// The arguments the Deployment gives isthmus serve are flags the real
// binary defines, with values it parses: each value set's arguments, then
// -h, make it print its usage and exit 0 (an unknown flag or a bad value
// exits 2 first), webhook and injection flags included.
func TestRenderedArgumentsParseInIsthmus(t *testing.T) {
	bin, err := localmesh.BuildIsthmus(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := filepath.Glob("testdata/*.values.yaml")
	for _, path := range cases {
		t.Run(filepath.Base(path), func(t *testing.T) {
			values := readValues(t, filepath.Base(path))
			args := deploymentArgs(t, renderObjects(t, chartSource, values))
			out, err := exec.Command(bin, append(args, "-h")...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Usage: isthmus serve") {
				t.Errorf("isthmus %s -h: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func deploymentArgs(t *testing.T, objects []*unstructured.Unstructured) []string {
	t.Helper()
	deployment := findObject(t, objects, "Deployment", "isthmus")
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	var args []string
	for _, a := range containers[0].(map[string]any)["args"].([]any) {
		args = append(args, a.(string))
	}
	return args
}
