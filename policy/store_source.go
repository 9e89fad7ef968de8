package policy

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// FileSource is a directory of files as a ConfigSource: a Store that Start
// loads once and then watches.
type FileSource struct {
	*Store
	changes chan struct{}
	synced  atomic.Bool
}

var _ ConfigSource = (*FileSource)(nil)

// NewFileSource returns the source of the files under dir, read within
// limits. Nothing is read until Start.
func NewFileSource(dir string, logger *slog.Logger, limits Limits) *FileSource {
	return &FileSource{Store: NewStore(dir, logger, limits), changes: make(chan struct{}, 1)}
}

// Name is "files DIR".
func (f *FileSource) Name() string { return "files " + f.dir }

// Changes receives a value after Definitions changed.
func (f *FileSource) Changes() <-chan struct{} { return f.changes }

// Synced reports whether the directory has been read once.
func (f *FileSource) Synced() bool { return f.synced.Load() }

// Start reads the directory, then watches it in the background until ctx
// ends (see Store.Run).
func (f *FileSource) Start(ctx context.Context) {
	f.Load()
	f.synced.Store(true)
	debounce.Signal(f.changes)
	go func() {
		err := f.Run(ctx, func(*Config, []*ConfigError) { debounce.Signal(f.changes) })
		if err != nil && ctx.Err() == nil {
			f.logger.Error("configuration watch stopped; serving the last configuration", "dir", f.dir, "error", err)
		}
	}()
}
