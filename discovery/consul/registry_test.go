package consul

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/deploy/consulagent"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/statefile"
)

// leaveWithin is how soon an instance deregistered or failing its check
// must leave the catalog.
const leaveWithin = time.Second

var webKey = discovery.ServiceKey{Hostname: "web.service.consul", Namespace: DefaultNamespace}

// testConsul is a dev agent and a client of it.
type testConsul struct {
	agent  *consulagent.Agent
	client *api.Client
}

func startConsul(t *testing.T) *testConsul {
	t.Helper()
	a := consulagent.StartT(t, consulagent.Options{})
	client, err := api.NewClient(&api.Config{Address: a.Addr})
	if err != nil {
		t.Fatal(err)
	}
	return &testConsul{agent: a, client: client}
}

// register adds an instance of service name with a passing TTL check
// (service:ID).
func (c *testConsul) register(t *testing.T, name, id, address string, port int, tags []string, meta map[string]string) {
	t.Helper()
	err := c.client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: name, Address: address, Port: port, Tags: tags, Meta: meta,
		Check: &api.AgentServiceCheck{CheckID: "service:" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
}

// logBuffer collects a registry's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) lines(substrs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if containsAll(line, substrs) {
			out = append(out, line)
		}
	}
	return out
}

func containsAll(s string, substrs []string) bool {
	for _, sub := range substrs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// runRegistry makes and runs a registry of c until the test ends.
func runRegistry(t *testing.T, opts Options, logs *logBuffer) *Registry {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.RetryMin, opts.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func addressesOf(c *discovery.Catalog, k discovery.ServiceKey) []string {
	var out []string
	for _, e := range c.AllEndpoints(k) {
		out = append(out, e.Address)
	}
	return out
}

// waitAddresses waits until the registry's catalog has exactly want as
// web's endpoints, and returns how long that took.
func waitAddresses(t *testing.T, r *Registry, within time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		got := addressesOf(r.Catalog(), webKey)
		if slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("web's endpoints %v after %v, want %v", got, within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The registry follows Consul: instances registered, deregistered, failing
// and passing their check again, a new service, a service gone.
func TestRegistryFollowsConsul(t *testing.T) {
	c := startConsul(t)
	c.register(t, "web", "web-1", "10.1.0.1", 8080, []string{"version=v1"}, map[string]string{"protocol": "http"})
	c.register(t, "web", "web-2", "10.1.0.2", 8080, []string{"version=v2"}, nil)
	var logs logBuffer
	r := runRegistry(t, Options{Address: c.agent.Addr}, &logs)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Name() != "dc1" {
		t.Errorf("name %q, want the datacenter dc1", r.Name())
	}
	waitAddresses(t, r, 0, "10.1.0.1", "10.1.0.2")
	if svc := r.Catalog().Service(webKey); svc == nil || svc.Ports[0].Protocol != discovery.ProtocolHTTP || svc.Registry != "dc1" {
		t.Fatalf("web: %+v", svc)
	}
	if len(r.Catalog().Services()) != 1 {
		t.Errorf("services %d, want web only (not consul itself)", len(r.Catalog().Services()))
	}

	if err := c.client.Agent().ServiceDeregister("web-2"); err != nil {
		t.Fatal(err)
	}
	took := waitAddresses(t, r, leaveWithin, "10.1.0.1")
	t.Logf("deregistered instance left the catalog in %v", took.Round(time.Millisecond))

	c.register(t, "web", "web-3", "10.1.0.3", 8080, nil, nil)
	waitAddresses(t, r, leaveWithin, "10.1.0.1", "10.1.0.3")
	if err := c.client.Agent().UpdateTTL("service:web-3", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	took = waitAddresses(t, r, leaveWithin, "10.1.0.1")
	t.Logf("instance failing its check left the catalog in %v", took.Round(time.Millisecond))
	if err := c.client.Agent().UpdateTTL("service:web-3", "up", api.HealthPassing); err != nil {
		t.Fatal(err)
	}
	waitAddresses(t, r, leaveWithin, "10.1.0.1", "10.1.0.3")

	c.register(t, "db", "db-1", "10.1.0.9", 5432, nil, nil)
	dbKey := discovery.ServiceKey{Hostname: "db.service.consul", Namespace: DefaultNamespace}
	waitFor(t, "db in the catalog", func() bool { return r.Catalog().Service(dbKey) != nil })
	if err := c.client.Agent().ServiceDeregister("db-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db gone from the catalog", func() bool { return r.Catalog().Service(dbKey) == nil })
	if st := r.Status(); !st.Synced || st.Stale || st.Error != "" {
		t.Errorf("status %+v, want synced and current", st)
	}
}

// A bad instance is logged, naming the datacenter, service, instance and
// field; the service's other instances are served.
func TestBadInstanceIsReportedAndTheRestServed(t *testing.T) {
	c := startConsul(t)
	c.register(t, "web", "web-1", "10.1.0.1", 8080, nil, nil)
	c.register(t, "web", "web-bad", "10.1.0.2", 8080, nil, map[string]string{"protocol": "htp"})
	var logs logBuffer
	r := runRegistry(t, Options{Address: c.agent.Addr}, &logs)
	waitAddresses(t, r, 10*time.Second, "10.1.0.1")
	waitFor(t, "the bad instance logged", func() bool {
		return len(logs.lines("level=ERROR", "datacenter dc1: service web: instance web-bad", `Service.Meta.protocol \"htp\"`)) == 1
	})
}

// While Consul is down the last catalog is served, marked stale with one
// WARN line; a registry made meanwhile serves the state file's catalog.
func TestConsulDownKeepsTheLastCatalog(t *testing.T) {
	c := startConsul(t)
	c.register(t, "web", "web-1", "10.1.0.1", 8080, []string{"version=v1"}, nil)
	c.register(t, "web", "web-2", "10.1.0.2", 8080, []string{"version=v1"}, nil)
	dir := t.TempDir()
	var logs logBuffer
	r := runRegistry(t, Options{Address: c.agent.Addr, Name: "east", StateDir: dir}, &logs)
	waitAddresses(t, r, 10*time.Second, "10.1.0.1", "10.1.0.2")
	if err := c.client.Agent().ServiceDeregister("web-2"); err != nil {
		t.Fatal(err)
	}
	waitAddresses(t, r, leaveWithin, "10.1.0.1")
	before := r.Catalog()
	waitFor(t, "the state file holding the last catalog", func() bool {
		cat, err := readState(dir, "consul-east")
		return err == nil && slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1"})
	})

	c.agent.Stop()
	waitFor(t, "the registry stale", func() bool { return r.Status().Stale })
	time.Sleep(300 * time.Millisecond) // several failed retries
	if !r.Catalog().Equal(before) {
		t.Error("the catalog changed while Consul was down")
	}
	if st := r.Status(); st.Error == "" || st.Since.IsZero() || !st.Synced {
		t.Errorf("status while down: %+v", st)
	}
	time.Sleep(1500 * time.Millisecond) // a state write pending would be done
	if cat, err := readState(dir, "consul-east"); err != nil || !cat.Equal(before) {
		t.Errorf("state file after Consul stopped: %v; want the last catalog", err)
	}
	if got := logs.lines("level=WARN", "consul unreachable", "consul=east"); len(got) != 1 {
		t.Errorf("want one WARN line for the outage, got %d:\n%s", len(got), strings.Join(got, "\n"))
	}

	var logs2 logBuffer
	restarted := runRegistry(t, Options{Address: c.agent.Addr, Name: "east", StateDir: dir}, &logs2)
	if !restarted.Catalog().Equal(before) {
		t.Error("a registry made while Consul is down does not serve the state file's catalog")
	}
	if st := restarted.Status(); !st.FromState || !st.Stale || st.Synced {
		t.Errorf("status from the state file: %+v", st)
	}
}

func readState(dir, name string) (*discovery.Catalog, error) {
	cat, _, err := statefile.New(dir, name, nil).Load()
	if err == nil && cat == nil {
		err = context.DeadlineExceeded
	}
	return cat, err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
