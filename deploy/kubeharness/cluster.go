package kubeharness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configure a cluster. The zero value is a cluster named "kube"
// with Services in 10.96.0.0/16.
type Options struct {
	// Name names the cluster: its kubeconfig context, CA and etcd member.
	Name string
	// ServiceCIDR is the apiserver's --service-cluster-ip-range. Clusters
	// meant to look distinct to Isthmus should have distinct ranges, e.g.
	// 10.96.0.0/16 and 10.97.0.0/16.
	ServiceCIDR string
	// Dir is where the scratch directory is made (default os.TempDir()).
	Dir string
	// StartTimeout bounds start-up when ctx has no earlier deadline
	// (default 2 minutes: a loaded 2-core machine is slow).
	StartTimeout time.Duration
	// APIServerArgs are appended to the harness's kube-apiserver flags
	// (a repeated flag's last value wins).
	APIServerArgs []string
	// Logger receives start and stop events (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "kube"
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/16"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Cluster is a running etcd and kube-apiserver on loopback.
type Cluster struct {
	// Name is Options.Name.
	Name string
	// Dir is the scratch directory: certificates, tokens, kubeconfigs,
	// etcd's data and every log. Close removes it.
	Dir string
	// Server is the apiserver's URL, https://127.0.0.1:PORT.
	Server string
	// Kubeconfig is the path of the admin's kubeconfig file.
	Kubeconfig string
	// Client is a clientset acting as the admin (group system:masters).
	Client kubernetes.Interface
	// Dynamic is a dynamic client acting as the admin (for custom
	// resources such as Istio's).
	Dynamic dynamic.Interface

	config     *rest.Config
	caPEM      []byte
	log        *slog.Logger
	apiserver  *component
	components []*component // in start order
}

// startAttempts bounds how often Start tries again when a port it picked
// was taken before its process could bind it.
const startAttempts = 3

// Start runs a cluster as opts say and returns once it serves requests.
// ctx bounds start-up only: the cluster runs until Close.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	bin, err := BinaryPath()
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParsePrefix(opts.ServiceCIDR); err != nil {
		return nil, fmt.Errorf("cluster %s: service CIDR: %w", opts.Name, err)
	}
	for attempt := 1; ; attempt++ {
		c, err := startOnce(ctx, bin, opts)
		if err == nil || attempt == startAttempts || !errors.Is(err, errPortTaken) {
			return c, err
		}
		opts.Logger.Warn("a port was taken, starting again", "cluster", opts.Name, "err", err)
	}
}

// startOnce makes a scratch directory and starts the cluster in it.
func startOnce(ctx context.Context, bin string, opts Options) (*Cluster, error) {
	dir, err := os.MkdirTemp(opts.Dir, "kubeharness-"+opts.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("cluster %s: scratch directory: %w", opts.Name, err)
	}
	c := &Cluster{Name: opts.Name, Dir: dir, log: opts.Logger.With("cluster", opts.Name)}
	if err := c.start(ctx, bin, opts); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	return c, nil
}

// start prepares the files, runs the components and waits for readiness.
func (c *Cluster) start(ctx context.Context, bin string, opts Options) error {
	began := time.Now()
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	c.Server = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	adminToken, err := c.writeSecrets(opts.ServiceCIDR)
	if err != nil {
		return err
	}
	if err := c.connect(adminToken); err != nil {
		return err
	}
	etcd := newComponent(bin, c.Dir, "etcd", etcdArgs(c.Name, c.Dir, etcdClient, etcdPeer)...)
	apiArgs := append(apiserverArgs(c.Dir, apiPort, etcdClient, opts.ServiceCIDR), opts.APIServerArgs...)
	c.apiserver = newComponent(bin, c.Dir, "kube-apiserver", apiArgs...)
	c.components = []*component{etcd, c.apiserver}
	for _, comp := range c.components {
		if err := comp.start(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.log.Info("kubernetes cluster started", "server", c.Server, "dir", c.Dir, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// PIDs are the process ids of the cluster's running components (etcd,
// kube-apiserver).
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, comp := range c.components {
		if pid := comp.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Config returns a copy of the admin's client configuration.
func (c *Cluster) Config() *rest.Config {
	return rest.CopyConfig(c.config)
}

// Stop ends the apiserver, keeping etcd and its data: clients see the
// cluster go away. Restart brings it back.
func (c *Cluster) Stop() {
	c.apiserver.stop()
	c.log.Info("kube-apiserver stopped")
}

// Restart (re)starts the apiserver on the same port and data, and waits
// until it is ready. The cluster's clients keep working across it.
func (c *Cluster) Restart(ctx context.Context) error {
	c.apiserver.stop()
	if err := c.apiserver.start(); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if err := c.waitReady(ctx); err != nil {
		return fmt.Errorf("cluster %s: restart: %w", c.Name, err)
	}
	c.log.Info("kube-apiserver restarted")
	return nil
}

// Close ends every process, last started first, and removes the scratch
// directory. It is safe to call more than once.
func (c *Cluster) Close() error {
	for i := len(c.components) - 1; i >= 0; i-- {
		c.components[i].stop()
	}
	if c.Dir == "" {
		return nil
	}
	err := os.RemoveAll(c.Dir)
	c.Dir = ""
	if err != nil {
		return fmt.Errorf("cluster %s: remove scratch directory: %w", c.Name, err)
	}
	return nil
}

// Logs returns the tail (n lines) of every component's log.
func (c *Cluster) Logs(n int) string {
	var out []byte
	for _, comp := range c.components {
		out = fmt.Appendf(out, "%s\n", comp.logTail(n))
	}
	return string(out)
}

// failed reports the first component that has exited, if any.
func (c *Cluster) failed() error {
	var errs []error
	for _, comp := range c.components {
		errs = append(errs, comp.failed())
	}
	return errors.Join(errs...)
}

// path is the absolute path of name in the scratch directory.
func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }
