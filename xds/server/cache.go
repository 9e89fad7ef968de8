package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
)

// resourceCache holds what each proxy is served and answers the xDS streams
// from it. It is the seam where a cache that serializes each distinct
// resource once can replace go-control-plane's SnapshotCache.
// Implementations must be safe for concurrent use.
type resourceCache interface {
	// Cache is what the go-control-plane server reads.
	cache.Cache
	// set replaces the resources served to the proxy with node id nodeID and
	// answers its open watches whose version is now out of date.
	set(ctx context.Context, nodeID string, r *proxyResources) error
	// clear forgets a proxy that has no stream left.
	clear(nodeID string)
}

// snapshotCache is a resourceCache over go-control-plane's SnapshotCache in
// ADS mode, keyed by node id.
type snapshotCache struct {
	cache.SnapshotCache
}

func newSnapshotCache(logger *slog.Logger) *snapshotCache {
	return &snapshotCache{cache.NewSnapshotCache(true, cache.IDHash{}, libraryLogger(logger))}
}

func (c *snapshotCache) set(ctx context.Context, nodeID string, r *proxyResources) error {
	if err := c.SetSnapshot(ctx, nodeID, r.snapshot); err != nil {
		return fmt.Errorf("set snapshot of %s: %w", nodeID, err)
	}
	return nil
}

func (c *snapshotCache) clear(nodeID string) { c.ClearSnapshot(nodeID) }

// libraryLogger sends go-control-plane's logs to slog at debug level; its
// errors become warnings.
func libraryLogger(logger *slog.Logger) log.Logger {
	logger = logger.With("component", "go-control-plane")
	debug := func(format string, args ...any) {
		if logger.Enabled(context.Background(), slog.LevelDebug) {
			logger.Debug(fmt.Sprintf(format, args...))
		}
	}
	return log.LoggerFuncs{
		DebugFunc: debug,
		InfoFunc:  debug,
		WarnFunc:  debug,
		ErrorFunc: func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) },
	}
}
