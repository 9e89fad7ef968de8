package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd runs a single-member etcd from go.etcd.io/etcd/server/v3/embed.
// Its flags are the subset of etcd's own that a test cluster needs, with
// etcd's names, so Debian's etcd takes the same command line.
func runEtcd(args []string) int {
	cfg, err := etcdConfig(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		return 2
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd: start:", err)
		return 1
	}
	defer e.Close()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcd:", err)
		return 1
	case <-signals:
		return 0
	}
}

// etcdConfig parses etcd's flags into an embed.Config.
func etcdConfig(args []string) (*embed.Config, error) {
	cfg := embed.NewConfig()
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.StringVar(&cfg.Name, "name", cfg.Name, "member name")
	fs.StringVar(&cfg.Dir, "data-dir", "", "data directory")
	fs.BoolVar(&cfg.UnsafeNoFsync, "unsafe-no-fsync", false, "skip fsync (tests only)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn, error")
	fs.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes, "backend size quota")
	urls := map[string]*[]url.URL{
		"listen-client-urls":          &cfg.ListenClientUrls,
		"advertise-client-urls":       &cfg.AdvertiseClientUrls,
		"listen-peer-urls":            &cfg.ListenPeerUrls,
		"initial-advertise-peer-urls": &cfg.AdvertisePeerUrls,
		"listen-metrics-urls":         &cfg.ListenMetricsUrls,
	}
	for name, dst := range urls {
		fs.Func(name, "comma-separated URLs", func(v string) error { return parseURLs(v, dst) })
	}
	initialCluster := fs.String("initial-cluster", "", "NAME=PEER_URL,... (default: this member alone)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("--data-dir is required")
	}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if *initialCluster != "" {
		cfg.InitialCluster = *initialCluster
	}
	return cfg, nil
}

func parseURLs(list string, dst *[]url.URL) error {
	var out []url.URL
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		out = append(out, *u)
	}
	*dst = out
	return nil
}
