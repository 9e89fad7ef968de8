package main

import (
	"context"
	"log/slog"
	"sync"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/serviceentry"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

// watchConfig loads the configuration directory once, then on every change
// and every SIGHUP, handing each result to pub. It returns when ctx ends.
func watchConfig(ctx context.Context, opts serveOptions, pub *snapshotPublisher, logger *slog.Logger) {
	store := policy.NewStore(opts.configDir, logger, opts.limits())
	stop := reloadOnSignal(ctx, store, logger)
	defer stop()
	pub.setConfig(store.Load())
	if err := store.Run(ctx, pub.setConfig); err != nil && ctx.Err() == nil {
		logger.Error("configuration watch stopped; serving the last configuration", "dir", opts.configDir, "error", err)
	}
}

// limits are the size caps --max-file-size and --max-document-size give.
func (o serveOptions) limits() policy.Limits {
	return policy.Limits{MaxFileBytes: int64(o.maxFileSize), MaxDocumentBytes: int64(o.maxDocumentSize)}
}

// snapshotPublisher turns the latest configuration and the catalogs of the
// discovery registries into snapshots for the server: a new snapshot when
// either changes. Safe for concurrent use.
type snapshotPublisher struct {
	srv         snapshotSink
	logger      *slog.Logger
	trustDomain string
	// networkGateways are the east-west gateways given by flag.
	networkGateways []discovery.NetworkGateway
	// mesh is the mesh configuration given by flag; nil for Istio's defaults.
	mesh *meshv1alpha1.MeshConfig

	mu         sync.Mutex
	version    uint64
	cfg        *policy.Config
	files      *discovery.Catalog   // ServiceEntry/WorkloadEntry of cfg
	registries []discovery.Registry // Kubernetes clusters, in flag order
}

// snapshotSink receives snapshots: the xDS server.
type snapshotSink interface {
	Update(*model.Snapshot)
	SetConfigErrors(n int)
}

var _ snapshotSink = (*server.Server)(nil)

func newSnapshotPublisher(srv snapshotSink, trustDomain string, logger *slog.Logger) *snapshotPublisher {
	return &snapshotPublisher{srv: srv, logger: logger, trustDomain: trustDomain}
}

// addRegistry adds a source of services and endpoints and publishes
// whenever it changes, until ctx ends. Registries must be added before the
// first configuration is set.
func (p *snapshotPublisher) addRegistry(ctx context.Context, r discovery.Registry) {
	p.mu.Lock()
	p.registries = append(p.registries, r)
	p.mu.Unlock()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.Changes():
				p.publish("registry " + r.Name())
			}
		}
	}()
}

// setConfig takes a newly loaded configuration.
func (p *snapshotPublisher) setConfig(cfg *policy.Config, problems []*policy.ConfigError) {
	p.srv.SetConfigErrors(len(problems))
	files := serviceentry.Build(cfg).WithGateways(p.networkGateways)
	p.mu.Lock()
	p.cfg, p.files = cfg, files
	p.mu.Unlock()
	p.publish("configuration")
}

// publish builds and hands over one snapshot. A failure to build it (a bug
// reached by unusual input) is logged and the previous snapshot stays in
// place: bad input never stops the server.
func (p *snapshotPublisher) publish(cause string) {
	defer func() {
		if r := recover(); r != nil {
			p.logger.Error("snapshot not built; serving the previous one", "cause", cause, "panic", r)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg == nil {
		return // no configuration yet
	}
	catalogs := []*discovery.Catalog{p.files}
	for _, r := range p.registries {
		catalogs = append(catalogs, r.Catalog())
	}
	p.version++
	snap := &model.Snapshot{Version: p.version, Config: p.cfg, Catalog: discovery.Merge(catalogs...), TrustDomain: p.trustDomain, Mesh: p.mesh}
	p.srv.Update(snap)
	p.logger.Info("snapshot published", "cause", cause, "version", snap.Version, "objects", p.cfg.Len(),
		"services", len(snap.Catalog.Services()))
}
