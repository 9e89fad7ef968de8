package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/configdiff"
	"github.com/isthmus-mesh/isthmus/proxystatus"
)

const proxyStatusUsage = `Usage: isthmus proxy-status [--server URL]... [--envoy-admin URL] [PROXY]

Without PROXY: one row per proxy connected to any of the replicas, with the
state of each xDS type: SYNCED, NOT SENT, STALE (the version served is not
acknowledged yet) or NACKED (the proxy's message follows the table).

With PROXY (a node id, or a part of one such as POD.NAMESPACE): its rows,
then the difference between what Isthmus serves it now and what its Envoy
holds (from Envoy's admin /config_dump), resource by resource.
`

// defaultMonitoringURL is where proxy-status looks for a replica when no
// --server is given: serve's default --monitoring-listen.
const defaultMonitoringURL = "http://127.0.0.1:15014"

// proxyStatusTimeout bounds the whole command.
const proxyStatusTimeout = 30 * time.Second

type proxyStatusOptions struct {
	servers    listFlag
	envoyAdmin string
	proxy      string
}

func runProxyStatus(args []string, stdout, stderr io.Writer) int {
	opts, err := parseProxyStatusFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus proxy-status: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), proxyStatusTimeout)
	defer cancel()
	if err := proxyStatus(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "isthmus proxy-status: %v\n", err)
		return 1
	}
	return 0
}

func parseProxyStatusFlags(args []string, stderr io.Writer) (proxyStatusOptions, error) {
	var opts proxyStatusOptions
	fs := flag.NewFlagSet("proxy-status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&opts.servers, "server", "monitoring `URL` of an Isthmus replica (its --monitoring-listen), repeatable or comma-separated (default "+defaultMonitoringURL+")")
	fs.StringVar(&opts.envoyAdmin, "envoy-admin", "", "admin `URL` of the proxy's Envoy, for the diff with PROXY (default http://IP:15000, IP the proxy's first address)")
	positional, err := parseInterleaved(fs, args) // flags may follow PROXY
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, proxyStatusUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	if err != nil {
		return opts, err
	}
	switch len(positional) {
	case 0:
	case 1:
		opts.proxy = positional[0]
	default:
		return opts, fmt.Errorf("at most one PROXY, got %q", positional)
	}
	if len(opts.servers) == 0 {
		opts.servers = listFlag{defaultMonitoringURL}
	}
	return opts, nil
}

func proxyStatus(ctx context.Context, opts proxyStatusOptions, stdout, stderr io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	rows, errs := proxystatus.Gather(ctx, client, opts.servers)
	for _, err := range errs {
		fmt.Fprintf(stderr, "isthmus proxy-status: replica not read: %v\n", err)
	}
	if len(errs) == len(opts.servers) {
		return errors.New("no replica could be read")
	}
	if opts.proxy == "" {
		return proxystatus.WriteTable(stdout, rows)
	}
	rows = proxystatus.Find(rows, opts.proxy)
	if len(rows) == 0 {
		return fmt.Errorf("proxy %q is connected to none of the replicas", opts.proxy)
	}
	if err := proxystatus.WriteTable(stdout, rows); err != nil {
		return err
	}
	if rows[0].ID != rows[len(rows)-1].ID {
		return fmt.Errorf("%q matches several proxies: name one", opts.proxy)
	}
	return diffWithEnvoy(ctx, client, rows[0], opts.envoyAdmin, stdout)
}

// diffWithEnvoy prints the difference between what the replica of row
// serves its proxy and what the proxy's Envoy reports.
func diffWithEnvoy(ctx context.Context, client *http.Client, row proxystatus.Row, admin string, stdout io.Writer) error {
	if admin == "" {
		admin = derivedAdmin(row)
	}
	if admin == "" {
		return errors.New("no --envoy-admin given and the proxy has no address to derive it from")
	}
	served, err := proxystatus.Get(ctx, client,
		strings.TrimSuffix(row.Server, "/")+"/debug/envoy_config_dump?proxy="+url.QueryEscape(row.ID))
	if err != nil {
		return fmt.Errorf("what the replica serves: %w", err)
	}
	envoy, err := proxystatus.Get(ctx, client, strings.TrimSuffix(admin, "/")+"/config_dump?include_eds")
	if err != nil {
		return fmt.Errorf("Envoy's config dump (--envoy-admin): %w", err)
	}
	res, err := configdiff.Compare(served, envoy)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nIsthmus (%s) vs Envoy (%s):\n", row.Replica, admin)
	return configdiff.Write(stdout, res)
}

// derivedAdmin is Envoy's admin at the proxy's first address, on
// istio-proxy's admin port.
func derivedAdmin(row proxystatus.Row) string {
	if len(row.IPs) == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(row.IPs[0], "15000")
}
