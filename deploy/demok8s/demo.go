package demok8s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Options configure Run.
type Options struct {
	// Out receives what the demo observed, as it goes.
	Out io.Writer
	// Logger receives the harness's progress (default: discard).
	Logger *slog.Logger
	// TwoNetworks declares the clouds two networks joined only through
	// east-west gateways, instead of joining their pod networks into one.
	TwoNetworks bool
	// Hold keeps the clusters this long after a failure (after every run
	// with HoldAlways) before tearing them down, to look at them (their
	// kubeconfigs are printed).
	Hold       time.Duration
	HoldAlways bool
}

// Run brings the two clouds up, installs Isthmus, deploys and exercises
// the mesh, prints what it saw to Out and tears everything down, whatever
// happened. The Report holds the observations and the cost.
func Run(ctx context.Context, opts Options) (rep *Report, err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &demo{opts: opts, report: &Report{}, began: time.Now()}
	defer func() { err = errors.Join(err, d.tearDown()) }()
	err = d.run(ctx)
	if (err != nil || opts.HoldAlways) && opts.Hold > 0 {
		d.hold(ctx, err)
	}
	return d.report, err
}

// demo is one run's state.
type demo struct {
	opts   Options
	report *Report
	began  time.Time
	dir    string
	clouds map[string]*cloud
	unlink func() error
	pods   pods
}

// printf prints one observation line.
func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.opts.Out, "   "+format+"\n", args...)
}

// step runs one stage, timing it and printing its name.
func (d *demo) step(name string, f func() error) error {
	began := time.Now()
	fmt.Fprintf(d.opts.Out, "== %s\n", name)
	err := f()
	d.report.Steps = append(d.report.Steps, Step{Name: name, Took: time.Since(began)})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (d *demo) run(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "demok8s-"); err != nil {
		return err
	}
	var im images
	steps := []struct {
		name string
		f    func() error
	}{
		{"build the isthmus, sidecar and demo app images", func() (err error) { im, err = buildImages(ctx, d.dir); return err }},
		{"start clusters aws and gcp, each with a node holding the images", func() (err error) {
			d.clouds, err = startClouds(ctx, d.opts.Logger, im.all())
			return err
		}},
		{d.joinStepName(), func() (err error) {
			d.unlink, err = joinPodNetworks(d.clouds[AWS], d.clouds[GCP], !d.opts.TwoNetworks)
			return err
		}},
		{"helm install isthmus into aws (2 replicas, gcp remote) and wait for Ready pods", func() error {
			return installIsthmus(ctx, d.dir, d.clouds[AWS], d.clouds[GCP], d.networkOf(AWS))
		}},
		{"label namespaces istio-injection=enabled and deploy frontend, client, service-b (aws and gcp)", func() error { return d.deployMesh(ctx) }},
		{"apply the mesh configuration (STRICT mTLS, service-auth, 80/20 split, cross-cluster Gateway)", func() error { return d.configure(ctx) }},
		{"the 80/20 split across clouds", func() error { return d.observeSplit(ctx) }},
		{"the AuthorizationPolicy and the caller's identity", func() error { return d.observeAuthz(ctx) }},
		{"failover: delete aws's service-b pod under traffic", func() error { return d.observeFailover(ctx) }},
		{"replicas: delete the Isthmus pod holding the frontend's proxy under traffic", func() error { return d.observeReplicas(ctx) }},
	}
	for _, s := range steps {
		if err := d.step(s.name, s.f); err != nil {
			return err
		}
	}
	d.report.Memory = measureMemory(d.clouds)
	fmt.Fprintln(d.opts.Out, d.report.Memory)
	fmt.Fprintln(d.opts.Out, d.report.StepTimes())
	return nil
}

func (d *demo) joinStepName() string {
	if d.opts.TwoNetworks {
		return "link the nodes: two networks, node addresses only (east-west gateways)"
	}
	return "join the two pod networks (one network)"
}

// hold prints the failure and the kubeconfigs, then waits
// Options.Hold.
func (d *demo) hold(ctx context.Context, err error) {
	fmt.Fprintf(d.opts.Out, "== result: %v\n   holding the clusters for %s:", err, d.opts.Hold)
	for name, c := range d.clouds {
		fmt.Fprintf(d.opts.Out, " %s KUBECONFIG=%s", name, c.Kubeconfig)
	}
	fmt.Fprintln(d.opts.Out)
	select {
	case <-ctx.Done():
	case <-time.After(d.opts.Hold):
	}
}

// tearDown closes the clusters and removes the scratch directory.
func (d *demo) tearDown() error {
	var errs []error
	if d.unlink != nil {
		errs = append(errs, d.unlink())
	}
	if d.clouds != nil {
		errs = append(errs, closeClouds(d.clouds))
	}
	if d.dir != "" {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	d.report.Total = time.Since(d.began)
	fmt.Fprintf(d.opts.Out, "== done in %s\n", d.report.Total.Round(time.Second))
	return errors.Join(errs...)
}
