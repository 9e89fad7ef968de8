package kubebench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// bench is one run's state.
type bench struct {
	opts     Options
	spec     meshgen.Spec
	log      *slog.Logger
	clusters []*cluster
	isthmus  *localmesh.Isthmus
	fleet    *xdsload.Fleet
	kube     *cpuMeter // the clusters' etcd and kube-apiserver processes
	report   *Report
}

// Run starts the clusters, populates them, starts Isthmus on them,
// connects the sidecars, churns endpoints and edits VirtualServices, and
// returns what it measured. Everything it started is stopped before it
// returns. A report is returned with the error when a phase ran.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	b := &bench{opts: opts, spec: opts.Spec(), log: opts.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.report = b.newReport()
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	b.report.Churn.Result, b.report.Churn.Writes = b.churn(ctx)
	b.report.Churn.KubeCPUSeconds = b.kube.lap()
	if opts.VSEdits > 0 && ctx.Err() == nil {
		vs := &PhaseReport{}
		vs.Result, vs.Writes = b.editVirtualServices(ctx)
		vs.KubeCPUSeconds = b.kube.lap()
		b.report.VirtualServices = vs
	}
	b.report.Load = b.fleet.Report(ctx)
	b.report.KubePeakRSSBytes = b.kube.peakRSS()
	b.report.LoadEnd = xdsload.LoadAverage()
	return b.report, ctx.Err()
}

func (b *bench) newReport() *Report {
	return &Report{
		Started:        time.Now().UTC(),
		Machine:        xdsload.DescribeMachine(),
		LoadStart:      xdsload.LoadAverage(),
		Mesh:           b.spec,
		PodsPerCluster: b.spec.Services * b.spec.EndpointsPerService,
		Proxies:        b.opts.Proxies,
		Delta:          b.opts.Delta,
		Auth:           cmp.Or(b.opts.Auth, AuthPlaintext),
		Churn:          PhaseReport{},
	}
}

// setup starts and populates the clusters, starts Isthmus and connects
// the sidecars, timing each step.
func (b *bench) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.SetupTimeout)
	defer cancel()
	steps := []xdsload.Step{
		{Name: "start two API servers", Took: &b.report.Setup.Clusters, Do: b.startClusters},
		{Name: fmt.Sprintf("populate each with %d pods in %d services", b.report.PodsPerCluster, b.spec.Services), Took: &b.report.Setup.Populate, Do: b.populate},
		{Name: "start isthmus", Took: &b.report.Setup.Isthmus, Do: b.startIsthmus},
	}
	if err := xdsload.RunSteps(ctx, b.progress, steps); err != nil {
		return err
	}
	b.kube = newCPUMeter(b.kubePIDs())
	b.progress("connect %d sidecars…", b.opts.Proxies)
	fleet, storm, err := xdsload.Connect(ctx, b.loadOptions())
	if err != nil {
		return fmt.Errorf("connect %d sidecars: %w", b.opts.Proxies, err)
	}
	b.fleet = fleet
	b.report.Setup.ConnectKubeCPUSeconds = b.kube.lap()
	b.progress("connected: p99 %s to full config", xdsload.FormatMs(storm.Latency.P99))
	return nil
}

func (b *bench) progress(format string, args ...any) {
	if b.opts.Progress != nil {
		fmt.Fprintf(b.opts.Progress, "kubebench: "+format+"\n", args...)
	}
}

// startClusters starts aws and gcp at once, then makes meshgen's VIPs
// valid in both and installs Istio's CRDs in aws.
func (b *bench) startClusters(ctx context.Context) error {
	b.clusters = make([]*cluster, len(clusterNames))
	errs := make([]error, len(clusterNames))
	var wg sync.WaitGroup
	for c, name := range clusterNames {
		wg.Go(func() {
			kc, err := kubeharness.Start(ctx, kubeharness.Options{Name: name, ServiceCIDR: serviceCIDRs[c], Dir: b.opts.WorkDir, Logger: b.log})
			if err != nil {
				errs[c] = err
				return
			}
			b.clusters[c], errs[c] = b.newCluster(c, kc)
			if errs[c] == nil {
				errs[c] = b.clusters[c].prepare(ctx)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newCluster makes the benchmark's clients of a cluster, faster than the
// harness's.
func (b *bench) newCluster(c int, kc *kubeharness.Cluster) (*cluster, error) {
	cfg := kc.Config()
	cfg.QPS, cfg.Burst = b.opts.KubeQPS, b.opts.KubeBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		kc.Close()
		return nil, err
	}
	cl := &cluster{index: c, name: clusterNames[c], kc: kc, client: client}
	kopts := meshgen.KubeOptions{Workers: b.opts.Writers, Logger: b.log}
	if c == 0 {
		if cl.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
			kc.Close()
			return nil, err
		}
		kopts.Istio = cl.dynamic
	}
	cl.km = meshgen.NewKubeMesh(client, kopts)
	return cl, nil
}

// populate writes both clusters' meshes at once.
func (b *bench) populate(ctx context.Context) error {
	errs := make([]error, len(b.clusters))
	var wg sync.WaitGroup
	for c, cl := range b.clusters {
		wg.Go(func() { errs[c] = cl.populate(ctx, b.spec, b.opts.Writers) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startIsthmus runs `isthmus serve` on both clusters, aws being the config
// cluster, as a multi-cluster Istio reads them. Its state directory (where
// it keeps each cluster's last catalog) is the run's own: never the user's
// default, whose catalogs of an earlier run it would serve until it has
// listed the clusters.
func (b *bench) startIsthmus(ctx context.Context) error {
	aws, gcp := b.clusters[0].kc, b.clusters[1].kc
	args := append([]string{
		"--config-kubeconfig", aws.Kubeconfig,
		"--kubeconfig", "aws=" + aws.Kubeconfig, "--kubeconfig", "gcp=" + gcp.Kubeconfig,
		"--ca-dir", b.caDir(), "--state-dir", filepath.Join(b.opts.WorkDir, "isthmus-state"), "--log-level", "warn",
	}, b.opts.IsthmusArgs...)
	if b.opts.Auth == AuthPlaintext || b.opts.Auth == "" {
		args = append(args, "--insecure-identities")
	}
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: b.opts.IsthmusBin, LogDir: b.opts.WorkDir, ExtraArgs: args})
	if err != nil {
		return err
	}
	b.isthmus = is
	b.report.IsthmusLog = is.LogPath()
	return nil
}

// caDir is Isthmus's mesh CA, which the sidecars' TLS trusts (and, with
// AuthCerts, issues their certificates).
func (b *bench) caDir() string { return filepath.Join(b.opts.WorkDir, "isthmus-ca") }

// serviceAccountToken asks the API server of id's cluster for a token of
// id's service account, for Istio's CA audience, as the kubelet projects
// one into istio-agent's pod.
func (b *bench) serviceAccountToken(ctx context.Context, id *xdsload.Identity) (string, error) {
	c := b.clusters[slices.Index(clusterNames[:], id.ClusterID)]
	expiry := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}, ExpirationSeconds: &expiry}}
	tok, err := c.client.CoreV1().ServiceAccounts(id.Namespace).CreateToken(ctx, id.Service.ServiceAccount(), req, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tok.Status.Token, nil
}

// kubePIDs are the processes of both clusters (etcd, kube-apiserver).
func (b *bench) kubePIDs() []int {
	var pids []int
	for _, c := range b.clusters {
		pids = append(pids, c.kc.PIDs()...)
	}
	if len(pids) != 2*len(b.clusters) {
		b.log.Warn("not every etcd and kube-apiserver process found: their cost is partial", "found", len(pids))
	}
	b.log.Info("measuring the clusters' etcd and kube-apiserver", "pids", pids)
	return pids
}

// loadOptions are the sidecars': the mesh's namespaces and both clusters,
// Isthmus found by its port, its metrics read per phase.
func (b *bench) loadOptions() xdsload.Options {
	opts := xdsload.DefaultOptions()
	opts.Target, opts.Delta, opts.Proxies = b.isthmus.XDSAddr, b.opts.Delta, b.opts.Proxies
	if b.opts.Auth == AuthCerts || b.opts.Auth == AuthTokens {
		opts.Target, opts.TLSCADir = b.isthmus.SecureAddr, b.caDir()
	}
	if b.opts.Auth == AuthTokens {
		opts.Tokens = b.serviceAccountToken
	}
	opts.Mesh = b.spec
	opts.Identities = func(k int) *xdsload.Identity { return ProxyIdentity(b.spec, k) }
	opts.ConnectRate = b.opts.ConnectRate
	opts.ConfigTimeout, opts.SettleTimeout = b.opts.ConfigTimeout, b.opts.SettleTimeout
	opts.MetricsURL = "http://" + b.isthmus.MonitoringAddr + "/metrics"
	if b.opts.ProfileDir != "" {
		opts.PprofURL, opts.ProfileDir = "http://"+b.isthmus.MonitoringAddr, b.opts.ProfileDir
		opts.ProfileSeconds = time.Second // the connect storm's, over before the churn starts
	}
	opts.Progress = b.opts.Progress
	opts.Logger = b.log
	return opts
}

// close stops the sidecars, Isthmus and the clusters.
func (b *bench) close() {
	if b.fleet != nil {
		b.fleet.Close()
	}
	if b.isthmus != nil {
		b.isthmus.Close()
	}
	for _, c := range b.clusters {
		if c != nil {
			if err := c.kc.Close(); err != nil {
				b.log.Warn("cluster not cleaned up", "cluster", c.name, "err", err)
			}
		}
	}
}
