package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/proxystatus"
	"github.com/isthmus-mesh/isthmus/xds/server"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

const explainUsage = `Usage: isthmus explain [--server URL]... PROXY [RESOURCE] [--host HOST --port PORT [--path PATH] [--method METHOD]] [--json]

For each listener, route configuration, cluster and endpoint set PROXY (a
node id, or a part of one such as POD.NAMESPACE) is served: the Istio
objects (kind, namespace/name, and the file or cluster and resourceVersion
they came from) and the services (and their registry) that produced it;
for each virtual host, the VirtualServices for its host in precedence order
and the one whose routes it has. RESOURCE keeps the resources whose name
contains it.

With --host and --port: where a request for HOST on PORT (and PATH) would
go through what the proxy is served: route configuration, virtual host,
route, clusters and weights, and the VirtualService the route came from.
`

type explainOptions struct {
	servers                  listFlag
	proxy, resource          string
	host, path, method, port string
	json                     bool
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	opts, err := parseExplainFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus explain: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), proxyStatusTimeout)
	defer cancel()
	if err := explain(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "isthmus explain: %v\n", err)
		return 1
	}
	return 0
}

func parseExplainFlags(args []string, stderr io.Writer) (explainOptions, error) {
	var opts explainOptions
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&opts.servers, "server", "monitoring `URL` of an Isthmus replica, repeatable or comma-separated (default "+defaultMonitoringURL+")")
	fs.StringVar(&opts.host, "host", "", "`HOST` (authority) of a request to follow")
	fs.StringVar(&opts.port, "port", "", "`PORT` the request is sent to")
	fs.StringVar(&opts.path, "path", "/", "`PATH` of the request")
	fs.StringVar(&opts.method, "method", "GET", "`METHOD` of the request")
	fs.BoolVar(&opts.json, "json", false, "print the answer as JSON")
	positional, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, explainUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	if err != nil {
		return opts, err
	}
	switch len(positional) {
	case 1:
		opts.proxy = positional[0]
	case 2:
		opts.proxy, opts.resource = positional[0], positional[1]
	default:
		return opts, fmt.Errorf("want PROXY [RESOURCE], got %q", positional)
	}
	if (opts.host == "") != (opts.port == "") {
		return opts, errors.New("--host and --port go together")
	}
	if len(opts.servers) == 0 {
		opts.servers = listFlag{defaultMonitoringURL}
	}
	return opts, nil
}

// parseInterleaved parses args whose flags may come before or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func explain(ctx context.Context, opts explainOptions, stdout, stderr io.Writer) error {
	client := &http.Client{Timeout: 20 * time.Second}
	rows, errs := proxystatus.Gather(ctx, client, opts.servers)
	for _, err := range errs {
		fmt.Fprintf(stderr, "isthmus explain: replica not read: %v\n", err)
	}
	rows = proxystatus.Find(rows, opts.proxy)
	switch {
	case len(rows) == 0:
		return fmt.Errorf("proxy %q is connected to none of the replicas", opts.proxy)
	case rows[0].ID != rows[len(rows)-1].ID:
		return fmt.Errorf("%q matches several proxies: name one", opts.proxy)
	}
	body, err := proxystatus.Get(ctx, client, explainURL(rows[0], opts))
	if err != nil {
		return err
	}
	if opts.json {
		_, err := stdout.Write(body)
		return err
	}
	var e server.Explained
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Errorf("answer of %s: %w", rows[0].Server, err)
	}
	return writeExplanation(stdout, &e, opts.resource)
}

func explainURL(row proxystatus.Row, opts explainOptions) string {
	q := url.Values{"proxy": {row.ID}}
	if opts.host != "" {
		q.Set("host", opts.host)
		q.Set("port", opts.port)
		q.Set("path", opts.path)
		q.Set("method", opts.method)
	}
	return strings.TrimSuffix(row.Server, "/") + "/debug/explain?" + q.Encode()
}

// writeExplanation prints e: every resource whose name contains filter,
// then the simulated request.
func writeExplanation(w io.Writer, e *server.Explained, filter string) error {
	fmt.Fprintf(w, "proxy %s\n", e.Proxy)
	keep := func(name string) bool { return strings.Contains(name, filter) }
	writeResources(w, "listeners", e.Listeners, keep)
	writeRoutes(w, e.Routes, keep)
	writeResources(w, "clusters", e.Clusters, keep)
	writeResources(w, "endpoints", e.Endpoints, keep)
	if e.Request != nil {
		writeSimulation(w, e)
	}
	return nil
}

func writeResources(w io.Writer, title string, list []translate.ExplainedResource, keep func(string) bool) {
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, r := range list {
		if keep(r.Name) {
			fmt.Fprintf(w, "  %s\n", r.Name)
			writeOrigin(w, "    ", r.Origin)
		}
	}
}

func writeRoutes(w io.Writer, routes []translate.ExplainedRoute, keep func(string) bool) {
	fmt.Fprintf(w, "\nroutes:\n")
	for _, rc := range routes {
		if !keep(rc.Name) && !anyVirtualHostKept(rc, keep) {
			continue
		}
		fmt.Fprintf(w, "  %s\n", rc.Name)
		for _, vh := range rc.VirtualHosts {
			fmt.Fprintf(w, "    virtual host %s\n", vh.Name)
			for i, vs := range vh.VirtualServices {
				mark := ""
				if vs.Namespace+"/"+vs.Name == vh.Winner {
					mark = "  <- its routes"
				}
				fmt.Fprintf(w, "      %d. %s%s\n", i+1, vs, mark)
			}
			if vh.Winner == "" && len(vh.Services) > 0 {
				fmt.Fprintf(w, "      default route (no VirtualService with routes for the port)\n")
			}
			writeOrigin(w, "      ", vh.Origin)
		}
	}
}

func anyVirtualHostKept(rc translate.ExplainedRoute, keep func(string) bool) bool {
	for _, vh := range rc.VirtualHosts {
		if keep(vh.Name) {
			return true
		}
	}
	return false
}

func writeOrigin(w io.Writer, indent string, o translate.Origin) {
	for _, s := range o.Services {
		fmt.Fprintf(w, "%sservice %s\n", indent, s)
	}
	for _, obj := range o.Objects {
		fmt.Fprintf(w, "%s%s\n", indent, obj)
	}
}

func writeSimulation(w io.Writer, e *server.Explained) {
	r := e.Request
	fmt.Fprintf(w, "\nrequest %s %s (port %d) %s:\n", methodOrGet(r.Method), r.Host, r.Port, r.Path)
	if e.SimulationError != "" {
		fmt.Fprintf(w, "  no route: %s (Envoy answers 404)\n", e.SimulationError)
		return
	}
	s := e.Simulation
	fmt.Fprintf(w, "  route configuration %s, virtual host %s, route %s\n", s.RouteConfig, s.VirtualHost, orDefault(s.Route, "(unnamed)"))
	if s.VirtualService != "" {
		fmt.Fprintf(w, "  from VirtualService %s\n", s.VirtualService)
	}
	for _, c := range s.Clusters {
		fmt.Fprintf(w, "  -> %s  weight %s\n", c.Name, strconv.FormatUint(uint64(c.Weight), 10))
	}
	if s.DirectResponse != 0 {
		fmt.Fprintf(w, "  -> answered by the proxy: %d\n", s.DirectResponse)
	}
	if s.Redirect != "" {
		fmt.Fprintf(w, "  -> redirect to %s\n", s.Redirect)
	}
	for _, skipped := range s.Skipped {
		fmt.Fprintf(w, "  (route %s not simulated)\n", skipped)
	}
}

func methodOrGet(m string) string { return orDefault(m, "GET") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
