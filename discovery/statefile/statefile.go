package statefile

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

// MaxSize bounds a state file: a larger catalog is not written, and a
// larger file is not read.
const MaxSize = 64 << 20

// WriteInterval spaces the writes of a busy source's state.
const WriteInterval = time.Second

// errTooLarge: the catalog's JSON is over MaxSize.
var errTooLarge = fmt.Errorf("larger than %d MiB", MaxSize>>20)

// stateJSON is a state file: one source's catalog and when it was written.
type stateJSON struct {
	Cluster string             `json:"cluster"`
	Written time.Time          `json:"written"`
	Catalog *discovery.Catalog `json:"catalog"`
}

// File keeps one source's last catalog on disk. Catalogs offered are
// written by Run, the latest first, at most once per WriteInterval, and
// only when they differ from the one last written. It is safe for
// concurrent use.
type File struct {
	path    string
	cluster string
	log     *slog.Logger
	signal  chan struct{}

	mu      sync.Mutex
	pending *discovery.Catalog
	written *discovery.Catalog
	tooBig  bool // logged already
}

// New returns the state file of the source named cluster (a Kubernetes
// cluster ID, a Consul datacenter's name) in dir: Path(dir, cluster). It
// logs to log, slog.Default() when nil.
func New(dir, cluster string, log *slog.Logger) *File {
	if log == nil {
		log = slog.Default()
	}
	return &File{path: Path(dir, cluster), cluster: cluster, log: log, signal: make(chan struct{}, 1)}
}

// Path is the file the state of cluster has in dir: DIR/CLUSTER.json, the
// name escaped as a URL path segment (and a leading dot escaped), so no
// name reaches outside dir.
func Path(dir, cluster string) string {
	name := url.PathEscape(cluster)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return filepath.Join(dir, name+".json")
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Load reads the state file, and when it was written: nil and no error
// when there is none. A file over MaxSize, that does not decode whole, or
// that holds another source's catalog is an error.
func (f *File) Load() (*discovery.Catalog, time.Time, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxSize+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(data) > MaxSize {
		return nil, time.Time{}, errTooLarge
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

// Offer hands Run a catalog to write. The catalog last written (the same
// pointer) needs no write, nor a wake-up of Run.
func (f *File) Offer(c *discovery.Catalog) {
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

// Run writes offered catalogs until ctx ends, then writes the last one.
func (f *File) Run(ctx context.Context) {
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
		case <-time.After(WriteInterval):
		}
	}
}

// flush writes the pending catalog if it differs from the one written.
func (f *File) flush() {
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
	case errors.Is(err, errTooLarge):
		if !f.tooBig {
			f.log.Error("discovery state not written: catalog too large; the file keeps an older one",
				"cluster", f.cluster, "file", f.path, "bytes", n, "limit", MaxSize)
		}
		f.tooBig = true
	case err != nil:
		f.log.Error("discovery state not written", "cluster", f.cluster, "file", f.path, "error", err)
	default:
		f.written, f.tooBig = c, false
		f.log.Debug("discovery state written", "cluster", f.cluster, "file", f.path, "bytes", n)
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
	if len(data) > MaxSize {
		return len(data), errTooLarge
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
