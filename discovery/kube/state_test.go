package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/discovery"
)

const webHost = "web.shop.svc.cluster.local"

var webKey = discovery.ServiceKey{Hostname: webHost, Namespace: "shop"}

// web is a Service with one selector-less EndpointSlice at addresses.
func web(addresses ...string) string {
	return fmt.Sprintf(`
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.3.3
  ports: [{name: http, port: 80, targetPort: 8080}]
---
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [%s]
`, endpointList(addresses))
}

func endpointList(addresses []string) string {
	var eps []string
	for _, a := range addresses {
		eps = append(eps, fmt.Sprintf("{addresses: [%s]}", a))
	}
	return strings.Join(eps, ", ")
}

// addressesOf lists the addresses of a service's endpoints.
func addressesOf(cat *discovery.Catalog, k discovery.ServiceKey) []string {
	var out []string
	for _, e := range cat.AllEndpoints(k) {
		out = append(out, e.Address)
	}
	return out
}

func hasAddresses(want ...string) func(*discovery.Catalog) bool {
	return func(cat *discovery.Catalog) bool { return slices.Equal(addressesOf(cat, webKey), want) }
}

// readStateFile decodes a state file; false when there is none or it does
// not decode.
// stateJSON is what package statefile writes.
type stateJSON struct {
	Cluster string             `json:"cluster"`
	Written time.Time          `json:"written"`
	Catalog *discovery.Catalog `json:"catalog"`
}

func readStateFile(path string) (stateJSON, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return stateJSON{}, false
	}
	var st stateJSON
	err = json.Unmarshal(data, &st)
	return st, err == nil && st.Catalog != nil
}

func stateHas(path string, want ...string) func() bool {
	return func() bool {
		st, ok := readStateFile(path)
		return ok && slices.Equal(addressesOf(st.Catalog, webKey), want)
	}
}

// A synced cluster's catalog is written to STATEDIR/ID.json (0600, the
// directory 0700), and rewritten when it changes. A registry made after a
// restart serves it at once, marked stale, while the API server is
// unreachable, and replaces it with the live catalog once it is listed.
func TestStateIsWrittenAndServedStaleAfterARestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "east.json")
	c := startCluster(t, Options{ClusterID: "east", StateDir: dir}, web("10.1.0.1"))
	eventually(t, "state file written after the first sync", stateHas(path, "10.1.0.1"))
	c.apply(web("10.1.0.1", "10.1.0.2"))
	eventually(t, "state file follows a change", stateHas(path, "10.1.0.1", "10.1.0.2"))
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, want)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	written := c.reg.Catalog()

	// Isthmus restarts while the API server is down.
	api := newFaultyAPI(t, web("10.1.0.3"))
	api.stop()
	var logs logBuffer
	reg, err := New(api, Options{ClusterID: "east", StateDir: dir, Logger: logs.logger(), Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Catalog().Equal(written) {
		t.Fatalf("before Run: catalog is not the state file's:\n%s", strings.Join(describe(reg.Catalog()), "\n"))
	}
	select {
	case <-reg.Changes():
	default:
		t.Error("no Changes signal for the catalog from the state file")
	}
	st := reg.Status()
	if !st.Stale || !st.FromState || st.Synced || st.LastSync.IsZero() || st.Since.IsZero() {
		t.Errorf("status from the state file: %+v; want stale, from state, not synced, with LastSync and Since", st)
	}
	runRegistry(t, reg)
	eventually(t, "registry sees the API server down", func() bool { return reg.Status().Error != "" })
	time.Sleep(100 * time.Millisecond)
	if !reg.Catalog().Equal(written) || reg.HasSynced() || !reg.Status().FromState {
		t.Fatalf("while unreachable: want the state file's catalog, still from state; status %+v", reg.Status())
	}

	api.restart()
	if err := reg.WaitForSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := addressesOf(reg.Catalog(), webKey); !slices.Equal(got, []string{"10.1.0.3"}) {
		t.Errorf("after the sync: endpoints %v, want the live cluster's", got)
	}
	if st := reg.Status(); st.Stale || st.FromState || !st.Synced || st.Error != "" || !st.Since.IsZero() {
		t.Errorf("status after the sync: %+v", st)
	}
	eventually(t, "state file replaced by the live catalog", stateHas(path, "10.1.0.3"))
	if got := logs.lines("level=INFO", "served from its state file", "cluster=east", "file="+path); len(got) != 1 {
		t.Errorf("want one line saying the state file is served, got %q\n%s", got, logs.String())
	}
}

// A corrupt state file is logged, naming the file, and ignored; the first
// sync writes a good one over it.
func TestCorruptStateFileIsLoggedAndIgnored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "east.json")
	cases := map[string][]byte{
		"truncated":     []byte(`{"cluster":"east","written":"2026-01-01T00:00:00Z","catalog":{"format":1,"serv`),
		"other cluster": []byte(`{"cluster":"west","written":"2026-01-01T00:00:00Z","catalog":{"format":1,"services":[],"endpoints":[],"gateways":null}}`),
		"other format":  []byte(`{"cluster":"east","written":"2026-01-01T00:00:00Z","catalog":{"format":9}}`),
		"no catalog":    []byte(`{"cluster":"east"}`),
		"garbage":       []byte("\x00\x01\x02"),
	}
	for name, data := range cases {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		reg, err := New(newFaultyAPI(t, ""), Options{ClusterID: "east", StateDir: dir, Logger: logs.logger()})
		if err != nil {
			t.Fatal(err)
		}
		if len(reg.Catalog().Services()) != 0 || reg.Status().Stale || reg.Status().FromState {
			t.Errorf("%s: state served: %+v", name, reg.Status())
		}
		if got := logs.lines("level=WARN", "state file ignored", "cluster=east", "file="+path); len(got) != 1 {
			t.Errorf("%s: want one WARN line naming the file, got:\n%s", name, logs.String())
		}
	}

	c := startCluster(t, Options{ClusterID: "east", StateDir: dir}, web("10.1.0.1"))
	eventually(t, "good state file written over the corrupt one", stateHas(path, "10.1.0.1"))
	if st, _ := readStateFile(path); st.Cluster != "east" || !st.Catalog.Equal(c.reg.Catalog()) {
		t.Errorf("state file holds cluster %q and another catalog than the registry's", st.Cluster)
	}
}
