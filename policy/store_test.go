package policy

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func gatewayYAML(name string, port int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %s, namespace: ns}
spec:
  servers: [{port: {number: %d, name: http, protocol: HTTP}, hosts: ['*']}]
`, name, port)
}

func gatewayPort(t *testing.T, cfg *Config, name string) int {
	t.Helper()
	o := cfg.Get(Key{KindGateway, "ns", name})
	if o == nil {
		return 0
	}
	return int(o.Spec.(*networking.Gateway).GetServers()[0].GetPort().GetNumber())
}

func newTestStore(dir string) (*Store, *bytes.Buffer) {
	var logs bytes.Buffer
	return NewStore(dir, slog.New(slog.NewTextHandler(&logs, nil)), Limits{}), &logs
}

// problemFields lists "file#doc field" for each problem, file relative to dir.
func problemAt(problems []*ConfigError, file, field string) bool {
	for _, p := range problems {
		if filepath.Base(p.Source.File) == file && p.Field == field {
			return true
		}
	}
	return false
}

func TestStoreLoadsTree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	writeFile(t, filepath.Join(dir, "sub", "deeper", "b.yml"), gatewayYAML("b", 81))
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), gatewayYAML("hidden", 82))
	writeFile(t, filepath.Join(dir, ".git", "c.yaml"), gatewayYAML("c", 83))
	writeFile(t, filepath.Join(dir, "notes.txt"), "not yaml")
	cfg, problems := NewStore(dir, nil, Limits{}).Load()
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	if cfg.Len() != 2 || gatewayPort(t, cfg, "a") != 80 || gatewayPort(t, cfg, "b") != 81 {
		t.Errorf("config %v", cfg.Objects())
	}
}

func TestStoreKeepsLastValidVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s, logs := newTestStore(dir)
	s.Load()
	writeFile(t, path, gatewayYAML("a", 0)) // port 0 is invalid
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 80 {
		t.Errorf("invalid update replaced the valid version: port %d", gatewayPort(t, cfg, "a"))
	}
	if !problemAt(problems, "gw.yaml", "spec.servers[0].port.number") {
		t.Errorf("problem not reported: %v", problems)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "spec.servers[0].port.number") ||
		!strings.Contains(logs.String(), "gw.yaml") || !strings.Contains(logs.String(), "Gateway ns/a") {
		t.Errorf("warning not logged with file, object and field:\n%s", logs.String())
	}
	writeFile(t, path, gatewayYAML("a", 8080))
	cfg, problems = s.Load()
	if gatewayPort(t, cfg, "a") != 8080 || len(problems) != 0 {
		t.Errorf("fixed version not picked up: port %d, problems %v", gatewayPort(t, cfg, "a"), problems)
	}
}

func TestStoreInvalidFirstVersionIsLeftOut(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gw.yaml"), gatewayYAML("a", 0))
	cfg, problems := NewStore(dir, nil, Limits{}).Load()
	if cfg.Len() != 0 || len(problems) != 1 {
		t.Errorf("config %v problems %v", cfg.Objects(), problems)
	}
}

func TestStoreDeletedFileRemovesObjects(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	writeFile(t, filepath.Join(dir, "b.yaml"), gatewayYAML("b", 81))
	s := NewStore(dir, nil, Limits{})
	s.Load()
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg, problems := s.Load()
	if cfg.Len() != 1 || gatewayPort(t, cfg, "b") != 81 || len(problems) != 0 {
		t.Errorf("config %v problems %v", cfg.Objects(), problems)
	}
}

func TestStoreRemovedDocumentRemovesObject(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gws.yaml")
	writeFile(t, path, gatewayYAML("a", 80)+"---\n"+gatewayYAML("b", 81))
	s := NewStore(dir, nil, Limits{})
	s.Load()
	writeFile(t, path, gatewayYAML("b", 81))
	if cfg, _ := s.Load(); cfg.Len() != 1 || cfg.Get(Key{KindGateway, "ns", "a"}) != nil {
		t.Errorf("config %v", cfg.Objects())
	}
}

func TestStoreBadDocumentKeepsGoodOnes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gws.yaml"), gatewayYAML("a", 80)+"---\n"+gatewayYAML("bad", 70000)+"---\n"+gatewayYAML("c", 82))
	cfg, problems := NewStore(dir, nil, Limits{}).Load()
	if cfg.Len() != 2 || gatewayPort(t, cfg, "a") != 80 || gatewayPort(t, cfg, "c") != 82 {
		t.Errorf("config %v", cfg.Objects())
	}
	if len(problems) != 1 || problems[0].Key.Name != "bad" || problems[0].Source.Doc != 2 {
		t.Errorf("problems %v", problems)
	}
}

func TestStoreMalformedFileKeepsItsObjects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gws.yaml")
	writeFile(t, path, gatewayYAML("a", 80)+"---\n"+gatewayYAML("b", 81))
	s := NewStore(dir, nil, Limits{})
	s.Load()
	// A syntax error in the first document: its object cannot be identified.
	writeFile(t, path, "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a\n---\n"+gatewayYAML("b", 91))
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 80 || gatewayPort(t, cfg, "b") != 91 {
		t.Errorf("ports a=%d b=%d, want the kept 80 and the new 91", gatewayPort(t, cfg, "a"), gatewayPort(t, cfg, "b"))
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Msg, "invalid YAML") {
		t.Errorf("problems %v", problems)
	}
	// Still broken at the next scan: the object is still kept.
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 80 {
		t.Error("object of the malformed file lost at the second scan")
	}
}

func TestStoreDuplicateKeyFirstPathWins(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.yaml"), gatewayYAML("a", 81))
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	cfg, problems := NewStore(dir, nil, Limits{}).Load()
	if gatewayPort(t, cfg, "a") != 80 {
		t.Errorf("port %d, want 80 from a.yaml", gatewayPort(t, cfg, "a"))
	}
	if len(problems) != 1 || filepath.Base(problems[0].Source.File) != "b.yaml" || !strings.Contains(problems[0].Msg, "a.yaml#1") {
		t.Errorf("problems %v", problems)
	}
}

func TestStoreDirectoryDisappearsAndReappears(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "config")
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	s.Load()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 80 {
		t.Error("config emptied when the directory disappeared")
	}
	if len(problems) != 1 || problems[0].Source.File != dir {
		t.Errorf("problems %v", problems)
	}
	writeFile(t, filepath.Join(dir, "b.yaml"), gatewayYAML("b", 81))
	cfg, problems = s.Load()
	if cfg.Len() != 1 || gatewayPort(t, cfg, "b") != 81 || len(problems) != 0 {
		t.Errorf("reappeared directory: config %v problems %v", cfg.Objects(), problems)
	}
}

// configMapMount lays out dir as the kubelet mounts a ConfigMap: files are
// links to ..data/NAME, ..data links to a timestamped directory.
func configMapMount(t *testing.T, dir, version string, files map[string]string) {
	t.Helper()
	real := filepath.Join(dir, "..2024_"+version)
	for name, content := range files {
		writeFile(t, filepath.Join(real, name), content)
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(real), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestStoreConfigMapMount(t *testing.T) {
	dir := t.TempDir()
	configMapMount(t, dir, "1", map[string]string{"gw.yaml": gatewayYAML("a", 80)})
	s := NewStore(dir, nil, Limits{})
	cfg, problems := s.Load()
	if cfg.Len() != 1 || gatewayPort(t, cfg, "a") != 80 || len(problems) != 0 {
		t.Fatalf("config %v problems %v", cfg.Objects(), problems)
	}
	if src := cfg.Get(Key{KindGateway, "ns", "a"}).Source.File; src != filepath.Join(dir, "gw.yaml") {
		t.Errorf("source %s, want the path users see", src)
	}
	configMapMount(t, dir, "2", map[string]string{"gw.yaml": gatewayYAML("a", 8080)})
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 8080 {
		t.Errorf("ConfigMap update not seen: port %d", gatewayPort(t, cfg, "a"))
	}
}

func TestStoreReadsLinkedFileOnce(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	if err := os.Symlink("a.yaml", filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}
	cfg, problems := NewStore(dir, nil, Limits{}).Load()
	if cfg.Len() != 1 || len(problems) != 0 {
		t.Errorf("config %v problems %v (a file reached twice must not be a duplicate)", cfg.Objects(), problems)
	}
}

const subsetRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ns}
spec: {host: reviews, subsets: [%s]}
`

const subsetRoute = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ns}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: %s}}]}]}
`

func TestStoreReferenceProblems(t *testing.T) {
	dir := t.TempDir()
	rule, route := filepath.Join(dir, "dr.yaml"), filepath.Join(dir, "vs.yaml")
	vsKey := Key{KindVirtualService, "ns", "reviews"}
	writeFile(t, rule, fmt.Sprintf(subsetRule, "{name: v1}"))
	writeFile(t, route, fmt.Sprintf(subsetRoute, "v2"))
	s := NewStore(dir, nil, Limits{})
	cfg, problems := s.Load()
	if cfg.Get(vsKey) != nil || !problemAt(problems, "vs.yaml", "spec.http[0].route[0].destination.subset") {
		t.Fatalf("VirtualService naming a missing subset was served: %v", problems)
	}
	writeFile(t, rule, fmt.Sprintf(subsetRule, "{name: v1}, {name: v2}"))
	if cfg, problems = s.Load(); cfg.Get(vsKey) == nil || len(problems) != 0 {
		t.Fatalf("VirtualService not served once its subset exists: %v", problems)
	}
	writeFile(t, route, fmt.Sprintf(subsetRoute, "v3"))
	cfg, problems = s.Load()
	if got := cfg.Get(vsKey); got == nil || got.Spec.(*networking.VirtualService).GetHttp()[0].GetRoute()[0].GetDestination().GetSubset() != "v2" {
		t.Errorf("VirtualService did not keep its last valid version: %v", got)
	}
	if !problemAt(problems, "vs.yaml", "spec.http[0].route[0].destination.subset") {
		t.Errorf("problems %v", problems)
	}
}

func TestStoreUnreadableFileKeepsItsObjects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	s.Load()
	// Replace the file by a dangling link: it is listed but cannot be read.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("missing.yaml", path); err != nil {
		t.Fatal(err)
	}
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 80 || len(problems) != 1 || !strings.Contains(problems[0].Msg, "cannot read") {
		t.Errorf("config %v problems %v", cfg.Objects(), problems)
	}
}

func TestStoreUnchangedConfigIsTheSameValue(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	first, _ := s.Load()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80)) // rewritten, same content
	if second, _ := s.Load(); second != first {
		t.Error("rescanning unchanged files produced a new Config")
	}
}
