// Command demo runs the bundled example mesh (deploy/examples) through a real
// Envoy: it starts the workloads the example declares on 127.0.0.1, serves
// the folder with `isthmus serve`, starts one Envoy sidecar bootstrapped by
// `isthmus bootstrap`, sends traffic through it and prints where the
// requests landed. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// requests is how many requests the demo sends to reviews.
const requests = 1000

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	_, err := runDemo(ctx, out)
	return err
}

// outcome is who answered the requests of one demo step.
type outcome struct {
	host   string
	header http.Header
	counts map[string]int // upstream name → replies
}

// runDemo runs the demo, printing to out, and returns what it observed.
func runDemo(ctx context.Context, out io.Writer) ([]outcome, error) {
	root, err := localmesh.RepoRoot()
	if err != nil {
		return nil, err
	}
	example, err := readExample(filepath.Join(root, "deploy", "examples"))
	if err != nil {
		return nil, err
	}
	workDir, err := os.MkdirTemp("", "isthmus-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)
	d := &demo{example: example, workDir: workDir, out: out}
	defer d.close()
	if err := d.start(ctx); err != nil {
		return nil, err
	}
	return d.sendTraffic(ctx)
}

// demo holds what the demo started, to stop it at the end.
type demo struct {
	example   *example
	workDir   string
	out       io.Writer
	upstreams []*localmesh.Upstream
	isthmus   *localmesh.Isthmus
	envoy     *localmesh.Envoy
	client    *localmesh.Client
}

func (d *demo) start(ctx context.Context) error {
	bin, err := localmesh.BuildIsthmus(d.workDir)
	if err != nil {
		return err
	}
	if err := d.startWorkloads(); err != nil {
		return err
	}
	d.isthmus, err = localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: bin, ConfigDir: d.example.dir, LogDir: d.workDir})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "isthmus serve --config-dir %s   (xDS on %s)\n", d.example.dir, d.isthmus.XDSAddr)
	return d.startEnvoy(ctx)
}

func (d *demo) startWorkloads() error {
	for _, w := range d.example.workloads {
		u, err := localmesh.StartUpstream(w.name, w.addr)
		if err != nil {
			return fmt.Errorf("start workload %s (deploy/examples says %s; is the port in use?): %w", w.name, w.addr, err)
		}
		d.upstreams = append(d.upstreams, u)
		fmt.Fprintf(d.out, "workload %-11s on %s\n", w.name, w.addr)
	}
	return nil
}

func (d *demo) startEnvoy(ctx context.Context) error {
	c := d.example.client
	node := localmesh.SidecarNode(c.name, c.namespace, c.bindIP, c.labels, false)
	var err error
	if d.envoy, err = localmesh.StartSidecar(ctx, d.isthmus, c.name, node, d.workDir); err != nil {
		return fmt.Errorf("%w\nisthmus log:\n%s", err, d.isthmus.LogTail(20))
	}
	if err := d.envoy.WaitListener(ctx, c.listenAddr()); err != nil {
		return fmt.Errorf("%w\nenvoy log:\n%s\nisthmus log:\n%s", err, d.envoy.LogTail(20), d.isthmus.LogTail(20))
	}
	fmt.Fprintf(d.out, "envoy sidecar %s, admin on %s, listening on %s\n\n", c.name, d.envoy.AdminAddr, c.listenAddr())
	d.client, err = localmesh.NewClient(c.listenAddr())
	return err
}

func (d *demo) sendTraffic(ctx context.Context) ([]outcome, error) {
	const reviews = "reviews.default.svc.cluster.local"
	if err := d.waitServed(ctx, reviews); err != nil {
		return nil, err
	}
	steps := []struct {
		n      int
		host   string
		header http.Header
		expect string
	}{
		{requests, reviews, nil, "VirtualService reviews: 80% to v1, 20% to v2"},
		{10, reviews, http.Header{"End-User": {"jason"}}, "VirtualService reviews: end-user jason goes to v3"},
		{10, "ratings", nil, "short name of a service in the client's namespace"},
		{10, "details", nil, "short name of a service in the client's namespace"},
	}
	var outcomes []outcome
	for _, st := range steps {
		counts, err := d.report(ctx, st.n, st.host, st.header, st.expect)
		if err != nil {
			return nil, err
		}
		outcomes = append(outcomes, outcome{host: st.host, header: st.header, counts: counts})
	}
	return outcomes, nil
}

// waitServed waits until host is routed to a workload (Envoy has its routes).
func (d *demo) waitServed(ctx context.Context, host string) error {
	for {
		r, err := d.client.Get(ctx, host, "/", nil)
		if err == nil && r.Upstream != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never routed (last reply %d, %v)\nenvoy log:\n%s\nisthmus log:\n%s",
				host, r.Status, err, d.envoy.LogTail(20), d.isthmus.LogTail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// report sends n requests for host and prints who answered them.
func (d *demo) report(ctx context.Context, n int, host string, hdr http.Header, expect string) (map[string]int, error) {
	counts, err := d.client.Tally(ctx, n, host, "/", hdr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(d.out, "%d x GET http://%s/%s  (%s)\n", n, host, headerText(hdr), expect)
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(d.out, "  %-12s %5d  %5.1f%%\n", name, counts[name], 100*float64(counts[name])/float64(n))
	}
	fmt.Fprintln(d.out)
	return counts, nil
}

func headerText(hdr http.Header) string {
	var parts []string
	for k, vs := range hdr {
		parts = append(parts, fmt.Sprintf("-H '%s: %s'", strings.ToLower(k), strings.Join(vs, ",")))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

func (d *demo) close() {
	if d.client != nil {
		d.client.Close()
	}
	if d.envoy != nil {
		d.envoy.Close()
	}
	if d.isthmus != nil {
		d.isthmus.Close()
	}
	for _, u := range d.upstreams {
		u.Close()
	}
}
