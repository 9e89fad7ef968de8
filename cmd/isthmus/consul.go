package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery/consul"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
)

// consulFlag collects repeated --consul [NAME=]ADDR flags.
type consulFlag []consulSource

type consulSource struct{ name, address string }

func (f *consulFlag) String() string { return "" }

func (f *consulFlag) Set(s string) error {
	name, address, found := strings.Cut(s, "=")
	if !found {
		name, address = "", s
	}
	if address == "" || (found && name == "") {
		return fmt.Errorf("%q: want [NAME=]ADDR", s)
	}
	for _, c := range *f {
		if name != "" && c.name == name {
			return fmt.Errorf("consul name %q given twice", name)
		}
	}
	*f = append(*f, consulSource{name: name, address: address})
	return nil
}

// consulOptions are the flags shared by every --consul.
type consulOptions struct {
	sources        consulFlag
	configAddress  string // --config-consul
	configPrefix   string
	tokenFile      string
	suffix         string
	includeWarning bool
}

// startConsuls runs a registry for every --consul, each added to a. Each
// keeps its last catalog under --state-dir/clusters, served stale until
// Consul answers. A registry that cannot be made is logged, naming it, and
// left out.
func startConsuls(ctx context.Context, opts serveOptions, a *assemble.Assembler, logger *slog.Logger) []*consul.Registry {
	if len(opts.consul.sources) == 0 {
		return nil
	}
	stateDir := clusterState(opts, logger)
	var regs []*consul.Registry
	for _, src := range opts.consul.sources {
		reg, err := consul.New(consul.Options{Address: src.address, Name: src.name, TokenFile: opts.consul.tokenFile,
			Suffix: opts.consul.suffix, IncludeWarning: opts.consul.includeWarning, StateDir: stateDir, Logger: logger})
		if err != nil {
			logger.Error("consul left out; the other sources are served", "consul", src.address, "error", err)
			continue
		}
		go func() { _ = reg.Run(ctx) }()
		a.AddRegistry(reg)
		regs = append(regs, reg)
	}
	return regs
}

// startConsulKV adds the Istio YAML under --config-consul-prefix of
// --config-consul as a configuration source, after the others.
func startConsulKV(ctx context.Context, opts serveOptions, a *assemble.Assembler, logger *slog.Logger) {
	if opts.consul.configAddress == "" {
		return
	}
	src, err := consul.NewKVSource(consul.KVOptions{Address: opts.consul.configAddress, TokenFile: opts.consul.tokenFile,
		Prefix: opts.consul.configPrefix, Limits: opts.limits(), Logger: logger})
	if err != nil {
		logger.Error("consul kv configuration left out", "consul", opts.consul.configAddress, "error", err)
		return
	}
	go src.Run(ctx)
	a.AddSource(src)
}

// waitForConsuls waits until deadline for every Consul to be read, served
// from its last state or found unreachable: one that does not answer never
// holds the other sources back longer than its first failed query.
func waitForConsuls(ctx context.Context, regs []*consul.Registry, deadline time.Time, logger *slog.Logger) {
	for {
		var waiting []string
		for _, r := range regs {
			if st := r.Status(); !st.Synced && !st.FromState && st.Error == "" {
				waiting = append(waiting, r.Name())
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			logger.Warn("consul not read yet; serving without it until it answers", "consul", waiting)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sourceStatuses are the statuses of the Kubernetes clusters and the
// Consul datacenters, for the isthmus_cluster_* metrics.
func sourceStatuses(set func() *kube.ClusterSet, regs []*consul.Registry) func() []kube.Status {
	return func() []kube.Status {
		var out []kube.Status
		if s := set(); s != nil {
			out = s.Statuses()
		}
		for _, r := range regs {
			st := r.Status()
			out = append(out, kube.Status{Cluster: st.Cluster, Synced: st.Synced, Stale: st.Stale, FromState: st.FromState,
				LastSync: st.LastSync, Since: st.Since, Error: st.Error})
		}
		return out
	}
}
