package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
)

// MaxStateSize bounds a state file: a larger catalog is not written, and a
// larger file is not read.
const MaxStateSize = 64 << 20

// stateWriteInterval spaces the writes of a busy cluster's state.
const stateWriteInterval = time.Second

// errStateTooLarge: the catalog's JSON is over MaxStateSize.
var errStateTooLarge = fmt.Errorf("larger than %d MiB", MaxStateSize>>20)

// stateJSON is a state file: one cluster's catalog and when it was written.
type stateJSON struct {
	Cluster string             `json:"cluster"`
	Written time.Time          `json:"written"`
	Catalog *discovery.Catalog `json:"catalog"`
}

// stateFile keeps one cluster's last catalog on disk. Catalogs offered are
// written by run, the latest first, at most once per stateWriteInterval,
// and only when they differ from the one last written.
type stateFile struct {
	path    string
	cluster string
	log     *slog.Logger
	signal  chan struct{}

	mu      sync.Mutex
	pending *discovery.Catalog
	written *discovery.Catalog
	tooBig  bool // logged already
}

func newStateFile(dir, cluster string, log *slog.Logger) *stateFile {
	return &stateFile{path: statePath(dir, cluster), cluster: cluster, log: log, signal: make(chan struct{}, 1)}
}

// statePath is DIR/CLUSTER_ID.json, the cluster ID escaped as a URL path
// segment (and a leading dot escaped), so no ID reaches outside dir.
func statePath(dir, cluster string) string {
	name := url.PathEscape(cluster)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return filepath.Join(dir, name+".json")
}

// load reads the state file: nil and no error when there is none.
func (f *stateFile) load() (*discovery.Catalog, time.Time, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxStateSize+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(data) > MaxStateSize {
		return nil, time.Time{}, errStateTooLarge
	}
	var st stateJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, time.Time{}, err
	}
	switch {
	case st.Cluster != f.cluster:
		return nil, time.Time{}, fmt.Errorf("holds cluster %q", st.Cluster)
	case st.Catalog == nil:
		return nil, time.Time{}, errors.New("holds no catalog")
	}
	f.mu.Lock()
	f.written = st.Catalog
	f.mu.Unlock()
	return st.Catalog, st.Written, nil
}

// offer hands run a catalog to write. The catalog last written (the same
// pointer) needs no write, nor a wake-up of run.
func (f *stateFile) offer(c *discovery.Catalog) {
	f.mu.Lock()
	if c == f.written {
		f.pending = nil // the latest is on disk already
		f.mu.Unlock()
		return
	}
	f.pending = c
	f.mu.Unlock()
	debounce.Signal(f.signal)
}

// run writes offered catalogs until ctx ends, then writes the last one.
func (f *stateFile) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			f.flush()
			return
		case <-f.signal:
		}
		f.flush()
		select {
		case <-ctx.Done():
			f.flush()
			return
		case <-time.After(stateWriteInterval):
		}
	}
}

// flush writes the pending catalog if it differs from the one written.
func (f *stateFile) flush() {
	f.mu.Lock()
	c, written := f.pending, f.written
	f.pending = nil
	f.mu.Unlock()
	if c == nil || c == written || (written != nil && written.Equal(c)) {
		return
	}
	n, err := writeState(f.path, stateJSON{Cluster: f.cluster, Written: time.Now(), Catalog: c})
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case errors.Is(err, errStateTooLarge):
		if !f.tooBig {
			f.log.Error("kubernetes state not written: catalog too large; the file keeps an older one",
				"cluster", f.cluster, "file", f.path, "bytes", n, "limit", MaxStateSize)
		}
		f.tooBig = true
	case err != nil:
		f.log.Error("kubernetes state not written", "cluster", f.cluster, "file", f.path, "error", err)
	default:
		f.written, f.tooBig = c, false
		f.log.Debug("kubernetes state written", "cluster", f.cluster, "file", f.path, "bytes", n)
	}
}

// writeState replaces the file at path with st, atomically: a temporary
// file (mode 0600) in the same directory (made 0700 if missing), synced,
// then renamed. It returns the size of the encoded state.
func writeState(path string, st stateJSON) (int, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	if len(data) > MaxStateSize {
		return len(data), errStateTooLarge
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return len(data), err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return len(data), err
	}
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return len(data), err
	}
	syncDir(dir)
	return len(data), nil
}

// syncDir makes a rename in dir durable, where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
