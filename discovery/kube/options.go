package kube

import (
	"errors"
	"log/slog"
	"time"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// Defaults for Options.
const (
	DefaultDomainSuffix = "cluster.local"
	DefaultDebounce     = 100 * time.Millisecond
	DefaultDebounceMax  = time.Second
)

// Options configure a Registry. Zero values take the defaults, except
// ClusterID, which is required.
type Options struct {
	// ClusterID names the cluster: it is the registry's Name, every
	// service's Registry and every endpoint's Cluster.
	ClusterID string
	// DomainSuffix ends every service hostname (NAME.NAMESPACE.svc.SUFFIX);
	// DefaultDomainSuffix when empty.
	DomainSuffix string
	// Network is the network of endpoints whose pod and namespace carry no
	// topology.istio.io/network label. Empty means the default network.
	Network string
	// Logger receives the registry's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Debounce is the quiet period after the last cluster event before the
	// catalog is rebuilt; DefaultDebounce when zero.
	Debounce time.Duration
	// DebounceMax bounds how long a stream of events can delay a rebuild;
	// DefaultDebounceMax when zero, never less than Debounce.
	DebounceMax time.Duration
	// KubeContext is the kubeconfig context NewFromKubeconfig uses; the
	// kubeconfig's current context when empty.
	KubeContext string
	// StateDir, when set, keeps the cluster's last catalog built from a
	// live listing in STATEDIR/CLUSTER_ID.json, so a restarted Isthmus
	// serves it (stale) until the cluster is listed again.
	StateDir string
}

func (o Options) withDefaults() (Options, error) {
	if o.ClusterID == "" {
		return o, errors.New("kube registry: Options.ClusterID is required")
	}
	if o.DomainSuffix == "" {
		o.DomainSuffix = DefaultDomainSuffix
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Debounce, o.DebounceMax = debounce.Defaults(o.Debounce, o.DebounceMax, DefaultDebounce, DefaultDebounceMax)
	return o, nil
}
