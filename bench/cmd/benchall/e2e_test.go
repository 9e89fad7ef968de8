package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMinimalRunWritesEveryTable runs every step at its smallest size
// (a few Go benchmarks once each, among them one with real streams, 5 sidecars over a 10-service mesh in both
// protocols, 1 s of data-plane load) into a results file with a history,
// and checks the file has the section with every table and the history
// untouched. It needs Envoy and fails without it (`make tools`).
func TestMinimalRunWritesEveryTable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "RESULTS.md")
	const hist = "# Results\n\nIntro.\n\n## History (by hand)\n\nold figures\n"
	if err := os.WriteFile(out, []byte(hist), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	code := run([]string{
		"--out", out,
		"--go-bench", "NewIndex|Translate|EndpointChange", "--go-benchtime", "1x",
		"--proxies", "5", "--services", "10", "--namespaces", "2",
		"--changes", "1", "--rate", "10", "--settle-timeout", "2s", "--config-timeout", "30s",
		"--dataplane-duration", "1s", "--dataplane-warmup", "200ms", "--dataplane-qps", "200",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	doc := string(mustRead(t, out))
	begin, end := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if begin < 0 || end < begin {
		t.Fatalf("no marked section:\n%s", doc)
	}
	if !strings.HasPrefix(doc, "# Results\n\nIntro.\n\n"+sectionHeader+"\n\n") || !strings.HasSuffix(doc, "## History (by hand)\n\nold figures\n") {
		t.Errorf("text outside the section changed:\n%s", doc)
	}
	checkSection(t, doc[begin:end])
}

// checkSection asserts what a user reads in the section: the machine, the
// commit, each step done, and the rows of every table.
func checkSection(t *testing.T, s string) {
	t.Helper()
	for _, want := range []string{
		"commit `", "`nproc` = ", "Envoy ",
		"| Go benchmarks | done |", "| xDS load | done |", "| data-plane latency | done |",
		"| target | State of the world, 5 sidecars | Delta, 5 sidecars |",
		"not the 5,000-sidecar target",
		"| BenchmarkNewIndex1000Services | 1 |", "| BenchmarkTranslate1000Services/unscoped | 1 |",
		"| BenchmarkEndpointChange/sotw | 1 |", "| BenchmarkEndpointChange/delta | 1 |",
		"#### State of the world", "#### Delta", "| connect-storm | – | 5/5 | 0 |", "| endpoint-churn | 1 |", "| mesh-wide-change | 1 |",
		"| isthmus | client → sidecar → sidecar → server", "| static |", "| direct |",
		"Data plane (two Isthmus sidecars",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("section:\n%s", s)
	}
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
