package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/deploy/consulagent"
)

// --consul takes [NAME=]ADDR, repeatable, each name once; the other
// Consul flags apply to all.
func TestConsulFlags(t *testing.T) {
	opts, _, err := parseServeFlags([]string{"--config-dir", ".", "--consul", "127.0.0.1:8500", "--consul", "east=https://consul.east:8501",
		"--consul-token-file", "/run/token", "--consul-suffix", "consul.local", "--consul-include-warning"})
	if err != nil {
		t.Fatal(err)
	}
	want := consulFlag{{address: "127.0.0.1:8500"}, {name: "east", address: "https://consul.east:8501"}}
	if !slices.Equal(opts.consul.sources, want) || opts.consul.tokenFile != "/run/token" || opts.consul.suffix != "consul.local" || !opts.consul.includeWarning {
		t.Errorf("parsed %+v", opts.consul)
	}
	if _, _, err := parseServeFlags([]string{"--config-consul", "127.0.0.1:8500"}); err != nil {
		t.Errorf("--config-consul alone: %v", err)
	}
	for _, args := range [][]string{
		{"--consul", "east=127.0.0.1:1", "--consul", "east=127.0.0.1:2"},
		{"--consul", "=127.0.0.1:1"},
		{"--consul", "east="},
	} {
		if _, _, err := parseServeFlags(append([]string{"--config-dir", "."}, args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// A Consul that accepts connections and never answers holds serve back
// for at most its first unanswered query: the files are served, changes to
// them are pushed, and the Consul is reported not synced.
func TestSilentConsulDoesNotHoldBackTheFiles(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go acceptAndHold(silent)
	dir := t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	var logs serveLogBuffer
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond,
		consul: consulOptions{sources: consulFlag{{address: silent.Addr().String()}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 2)
	started := time.Now()
	go func() {
		_ = serve(ctx, opts, slog.New(slog.NewTextHandler(&logs, nil)), func(xds, monitoring net.Addr) { addrs <- xds; addrs <- monitoring })
	}()
	<-addrs
	base := "http://" + (<-addrs).String()
	waitForServeTest(t, "/readyz to return 200", func() bool { code, _ := getServeTestURL(t, base+"/readyz"); return code == 200 })
	if took := time.Since(started); took > 15*time.Second {
		t.Errorf("serving took %v with a silent Consul, want its first query's timeout at most", took.Round(time.Millisecond))
	}
	writeServeTestFile(t, filepath.Join(dir, "broken.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\nspec: {hosts: 7}\n")
	waitForServeTest(t, "the file change to be served", func() bool {
		_, metrics := getServeTestURL(t, base+"/metrics")
		return strings.Contains(metrics, "isthmus_config_errors 1")
	})
	_, metrics := getServeTestURL(t, base+"/metrics")
	if want := fmt.Sprintf("isthmus_cluster_synced{cluster=%q} 0", silent.Addr().String()); !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
	if !strings.Contains(logs.String(), "consul unreachable") {
		t.Errorf("no WARN line for the silent Consul:\n%s", logs.String())
	}
}

// acceptAndHold accepts connections and never answers them.
func acceptAndHold(l net.Listener) {
	var held []net.Conn
	for {
		c, err := l.Accept()
		if err != nil {
			for _, c := range held {
				c.Close()
			}
			return
		}
		held = append(held, c)
	}
}

// --config-consul alone is a configuration source: Istio YAML under the
// prefix is served, and a bad key is counted as a configuration error.
func TestServeReadsConsulKV(t *testing.T) {
	agent := consulagent.StartT(t, consulagent.Options{})
	client, err := api.NewClient(&api.Config{Address: agent.Addr})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, value string) {
		t.Helper()
		if _, err := client.KV().Put(&api.KVPair{Key: "mesh/" + key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("reviews.yaml", reviewsServiceEntry)
	opts, _, err := parseServeFlags([]string{"--config-consul", agent.Addr, "--config-consul-prefix", "mesh/"})
	if err != nil {
		t.Fatal(err)
	}
	opts.xdsListen, opts.secureListen, opts.monitoringListen, opts.webhookListen = "127.0.0.1:0", "", "127.0.0.1:0", ""
	opts.stateDir, opts.ephemeralCA = "", true
	var logs serveLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 2)
	go func() {
		_ = serve(ctx, opts, slog.New(slog.NewTextHandler(&logs, nil)), func(xds, monitoring net.Addr) { addrs <- xds; addrs <- monitoring })
	}()
	<-addrs
	base := "http://" + (<-addrs).String()
	waitForServeTest(t, "the ServiceEntry from Consul KV", func() bool {
		_, metrics := getServeTestURL(t, base+"/metrics")
		return strings.Contains(metrics, "isthmus_config_errors 0") && !strings.Contains(metrics, "isthmus_snapshot_version 0")
	})
	put("broken.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\nspec: {hosts: 7}\n")
	waitForServeTest(t, "the bad key counted", func() bool {
		_, metrics := getServeTestURL(t, base+"/metrics")
		return strings.Contains(metrics, "isthmus_config_errors 1")
	})
}
