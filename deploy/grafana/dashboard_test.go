// Package grafana holds the Grafana dashboard of Isthmus's metrics; its
// test checks the dashboard against the metrics the code registers.
package grafana

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`isthmus_[a-z_]+`)

// Every metric a panel queries is one the Go code registers (histograms by
// their base name), and every isthmus_xds_* metric has a panel.
func TestDashboardQueriesRegisteredMetrics(t *testing.T) {
	queried := dashboardMetrics(t)
	registered := registeredMetrics(t, "../..")
	for m := range queried {
		base := strings.TrimSuffix(m, "_bucket")
		if !registered[base] {
			t.Errorf("the dashboard queries %s, which no Go code registers", m)
		}
	}
	for m := range registered {
		if strings.HasPrefix(m, "isthmus_xds_") && !queried[m] && !queried[m+"_bucket"] {
			t.Errorf("no panel charts %s", m)
		}
	}
}

func dashboardMetrics(t *testing.T) map[string]bool {
	b, err := os.ReadFile("isthmus-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			for _, m := range metricName.FindAllString(target.Expr, -1) {
				out[m] = true
			}
		}
	}
	return out
}

// registeredMetrics are the quoted isthmus_* names in the repository's
// non-test Go files.
func registeredMetrics(t *testing.T, root string) map[string]bool {
	quoted := regexp.MustCompile(`"(isthmus_[a-z_]+)"`)
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".tools" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
