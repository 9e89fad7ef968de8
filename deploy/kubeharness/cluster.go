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
	"slices"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/deploy/freeport"
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
	// ControlPlane adds kube-controller-manager and kube-scheduler, so
	// that Deployments make pods and pods are scheduled. Nodes imply it.
	ControlPlane bool
	// Nodes are the cluster's nodes, each with containerd, a kubelet and
	// kube-proxy in its own network namespace (see Node). With nodes, the
	// apiserver serves on the first node's HostIP instead of 127.0.0.1,
	// so that pods reach it.
	Nodes []NodeOptions
	// Images are container image tarballs (docker-archive or OCI) imported
	// into every node's containerd before its kubelet starts; the
	// harness's pause image is always imported.
	Images []string
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
	for i := range o.Nodes {
		if o.Nodes[i].Name == "" && i == 0 {
			o.Nodes[i].Name = o.Name
		} else if o.Nodes[i].Name == "" {
			o.Nodes[i].Name = o.Name + "-" + strconv.Itoa(i)
		}
	}
	o.ControlPlane = o.ControlPlane || len(o.Nodes) > 0
	return o
}

// Cluster is a running etcd and kube-apiserver on loopback.
type Cluster struct {
	// Name is Options.Name.
	Name string
	// Dir is the scratch directory: certificates, tokens, kubeconfigs,
	// etcd's data and every log. Close removes it.
	Dir string
	// Server is the apiserver's URL, https://127.0.0.1:PORT, or
	// https://HOSTIP:PORT with the first node's HostIP.
	Server string
	// Kubeconfig is the path of the admin's kubeconfig file.
	Kubeconfig string
	// Client is a clientset acting as the admin (group system:masters).
	Client kubernetes.Interface
	// Dynamic is a dynamic client acting as the admin (for custom
	// resources such as Istio's).
	Dynamic dynamic.Interface
	// Nodes are the cluster's nodes, as Options.Nodes lists them.
	Nodes []*Node

	config     *rest.Config
	caPEM      []byte
	log        *slog.Logger
	apiserver  *component
	components []*component // in start order
}

// scratchPrefix begins the name of every cluster's scratch directory.
const scratchPrefix = "kubeharness-"

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
	dir, err := os.MkdirTemp(opts.Dir, scratchPrefix+opts.Name+"-")
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
	if err := c.makeNodes(opts.Nodes); err != nil {
		return err
	}
	ports, err := freeport.Pick(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	host := c.apiHost()
	c.Server = "https://" + net.JoinHostPort(host.String(), strconv.Itoa(apiPort))
	if err := c.writeIdentities(opts); err != nil {
		return err
	}
	c.components = c.controlPlane(bin, opts, host, apiPort, etcdClient, etcdPeer)
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	// etcd and the apiserver first: the controller-manager gives up on an
	// apiserver not healthy within 10 s, which a loaded machine exceeds.
	storeAndAPI, others := c.components[:2], c.components[2:]
	if err := startAll(storeAndAPI); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if err := startAll(others); err != nil {
		return err
	}
	if err := c.startNodes(ctx, bin, opts.Images); err != nil {
		return err
	}
	c.log.Info("kubernetes cluster started", "server", c.Server, "nodes", len(c.Nodes), "dir", c.Dir, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

func startAll(components []*component) error {
	for _, comp := range components {
		if err := comp.start(); err != nil {
			return err
		}
	}
	return nil
}

// controlPlane lists the cluster's components in start order: etcd, the
// apiserver serving on host:apiPort, and the controller-manager and
// scheduler when asked for.
func (c *Cluster) controlPlane(bin string, opts Options, host netip.Addr, apiPort, etcdClient, etcdPeer int) []*component {
	etcd := newComponent(bin, c.Dir, "etcd", etcdArgs(c.Name, c.Dir, etcdClient, etcdPeer)...)
	apiArgs := append(apiserverArgs(c.Dir, host, apiPort, etcdClient, opts.ServiceCIDR), opts.APIServerArgs...)
	c.apiserver = newComponent(bin, c.Dir, "kube-apiserver", apiArgs...)
	components := []*component{etcd, c.apiserver}
	if opts.ControlPlane {
		components = append(components,
			newComponent(bin, c.Dir, "kube-controller-manager", controllerManagerArgs(c)...),
			newComponent(bin, c.Dir, "kube-scheduler", schedulerArgs(c)...))
	}
	return components
}

// apiHost is the address the apiserver serves on: the first node's
// HostIP, reachable from every node's namespace and pod, else 127.0.0.1.
func (c *Cluster) apiHost() netip.Addr {
	if len(c.Nodes) > 0 {
		return c.Nodes[0].HostIP
	}
	return netip.MustParseAddr("127.0.0.1")
}

// writeIdentities writes the CA, keys and tokens, connects the admin's
// clients and writes each component's kubeconfig.
func (c *Cluster) writeIdentities(opts Options) error {
	var ids []identity
	if opts.ControlPlane {
		ids = append(ids,
			newIdentity(controllerManagerUser, c.path(controllerManagerKubeconfig)),
			newIdentity(schedulerUser, c.path(schedulerKubeconfig)))
	}
	for _, n := range c.Nodes {
		ids = append(ids,
			newIdentity("system:node:"+n.Name, n.paths.kubeletKubeconfig(), "system:nodes"),
			newIdentity(proxyUser, n.paths.proxyKubeconfig()))
	}
	tokens := make([]staticToken, len(ids))
	for i, id := range ids {
		tokens[i] = id.staticToken
	}
	adminToken, err := c.writeSecrets(opts.ServiceCIDR, net.IP(c.apiHost().AsSlice()), tokens)
	if err != nil {
		return err
	}
	if err := c.connect(adminToken); err != nil {
		return err
	}
	for _, id := range ids {
		if err := c.writeKubeconfig(id.kubeconfig, id.user, id.token); err != nil {
			return err
		}
	}
	return nil
}

// PIDs are the process ids of the cluster's running components (etcd,
// kube-apiserver, controller-manager, scheduler) and of its nodes'
// containerd, kubelet and kube-proxy.
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, comp := range c.components {
		if pid := comp.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	for _, n := range c.Nodes {
		pids = append(pids, n.PIDs()...)
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

// closeGrace is how long Close lets a process exit after SIGTERM: the
// cluster's data goes with it, so a graceful apiserver shutdown (which can
// take 10 s) buys nothing.
const closeGrace = 2 * time.Second

// Close stops and cleans every node (see Node), ends every process, last
// started first, and removes the scratch directory. It is safe to call
// more than once.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		if err := n.close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: node %s: %w", c.Name, n.Name, err))
		}
	}
	c.Nodes = nil
	for i := len(c.components) - 1; i >= 0; i-- {
		c.components[i].stopWithin(closeGrace)
	}
	if c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: remove scratch directory: %w", c.Name, err))
		}
		c.Dir = ""
	}
	return errors.Join(errs...)
}

// Logs returns the tail (n lines) of every component's log, nodes'
// included.
func (c *Cluster) Logs(n int) string {
	var out []byte
	for _, comp := range c.allComponents() {
		out = fmt.Appendf(out, "%s\n", comp.logTail(n))
	}
	return string(out)
}

// failed reports the components that have exited, if any.
func (c *Cluster) failed() error {
	var errs []error
	for _, comp := range c.allComponents() {
		errs = append(errs, comp.failed())
	}
	return errors.Join(errs...)
}

// allComponents are the control plane's components and the nodes'.
func (c *Cluster) allComponents() []*component {
	all := slices.Clone(c.components)
	for _, n := range c.Nodes {
		all = append(all, n.components()...)
	}
	return all
}

// path is the absolute path of name in the scratch directory.
func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }
