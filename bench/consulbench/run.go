package consulbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/consulagent"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// PhaseInstanceChurn names the churn phase in the report.
const PhaseInstanceChurn = "consul-instance-churn"

// servicePort is every instance's port.
const servicePort = 8080

// bench is one run's state.
type bench struct {
	opts    Options
	log     *slog.Logger
	consul  *consulagent.Agent
	client  *api.Client
	isthmus *localmesh.Isthmus
	fleet   *xdsload.Fleet
	report  *Report
	moves   []*moves // by service
}

// moves records where each move of a service's last instance put it.
type moves struct {
	write sync.Mutex // held across a move's registration
	mu    sync.Mutex
	gen   int
	at    map[string]int // address → generation
}

// Run starts Consul, registers the services, starts Isthmus on it,
// connects the sidecars and churns instances; it returns what it
// measured, with the error when a phase ran. Everything it started is
// stopped before it returns.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	b := &bench{opts: opts, log: opts.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.report = &Report{Started: time.Now().UTC(), Machine: xdsload.DescribeMachine(), LoadStart: xdsload.LoadAverage(),
		Services: opts.Services, Instances: opts.Instances, Proxies: opts.Proxies, Delta: opts.Delta}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	consulCPU := newConsulMeter(b.consul.PID())
	b.report.Churn, b.report.Writes = b.churn(ctx)
	b.report.ConsulCPUSeconds = consulCPU.lap()
	b.report.Load = b.fleet.Report(ctx)
	b.report.ConsulPeakRSSBytes, _ = xdsload.ProcessPeakRSS(b.consul.PID())
	b.report.LoadEnd = xdsload.LoadAverage()
	return b.report, ctx.Err()
}

// setup starts Consul, registers the services, starts Isthmus and
// connects the sidecars, timing each step.
func (b *bench) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.SetupTimeout)
	defer cancel()
	steps := []xdsload.Step{
		{Name: "start consul", Took: &b.report.Setup.Consul, Do: b.startConsul},
		{Name: fmt.Sprintf("register %d services × %d instances", b.opts.Services, b.opts.Instances), Took: &b.report.Setup.Register, Do: b.register},
		{Name: "start isthmus", Took: &b.report.Setup.Isthmus, Do: b.startIsthmus},
	}
	if err := xdsload.RunSteps(ctx, b.progress, steps); err != nil {
		return err
	}
	b.progress("connect %d sidecars…", b.opts.Proxies)
	fleet, storm, err := xdsload.Connect(ctx, b.loadOptions())
	if err != nil {
		return fmt.Errorf("connect %d sidecars: %w", b.opts.Proxies, err)
	}
	b.fleet = fleet
	b.progress("connected: p99 %s to full config", xdsload.FormatMs(storm.Latency.P99))
	return nil
}

func (b *bench) progress(format string, args ...any) {
	if b.opts.Progress != nil {
		fmt.Fprintf(b.opts.Progress, "consulbench: "+format+"\n", args...)
	}
}

// startConsul runs the agent, admitting one blocking query per service.
func (b *bench) startConsul(context.Context) error {
	a, err := consulagent.Start(consulagent.Options{MaxConnsPerClient: b.opts.Services + b.opts.Writers + 100, LogDir: b.opts.WorkDir})
	if err != nil {
		return err
	}
	b.consul = a
	b.client, err = api.NewClient(&api.Config{Address: a.Addr})
	return err
}

// register adds every instance, Writers at a time.
func (b *bench) register(ctx context.Context) error {
	b.moves = make([]*moves, b.opts.Services)
	jobs := make(chan [2]int)
	errs := make(chan error, b.opts.Writers)
	var wg sync.WaitGroup
	for range b.opts.Writers {
		wg.Go(func() {
			for job := range jobs {
				if err := b.registerInstance(job[0], job[1], instanceAddress(job[0], job[1])); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range b.opts.Services {
		b.moves[i] = &moves{at: map[string]int{}}
		for j := range b.opts.Instances {
			select {
			case jobs <- [2]int{i, j}:
			case err := <-errs:
				close(jobs)
				wg.Wait()
				return err
			case <-ctx.Done():
				close(jobs)
				wg.Wait()
				return ctx.Err()
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func serviceName(i int) string { return fmt.Sprintf("svc-%d", i) }

// ServiceHost is the mesh host of service i.
func ServiceHost(i int) string { return serviceName(i) + ".service.consul" }

func instanceAddress(i, j int) string { return fmt.Sprintf("10.%d.%d.%d", i>>8, i&255, j+1) }

func movedAddress(i, gen int) string {
	return fmt.Sprintf("10.%d.%d.%d", 128+(i>>8), i&255, 10+gen%240)
}

// registerInstance registers instance j of service i at address: the
// measured write of a change.
func (b *bench) registerInstance(i, j int, address string) error {
	return b.client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: fmt.Sprintf("%s-%d", serviceName(i), j), Name: serviceName(i), Address: address, Port: servicePort,
		Tags: []string{fmt.Sprintf("version=v%d", j+1)}, Meta: map[string]string{"protocol": "http"},
	})
}

// startIsthmus runs `isthmus serve --consul` on an empty config directory
// and a state directory of the run's own.
func (b *bench) startIsthmus(ctx context.Context) error {
	configDir := filepath.Join(b.opts.WorkDir, "config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return err
	}
	args := append([]string{"--consul", b.consul.Addr, "--ephemeral-ca",
		"--state-dir", filepath.Join(b.opts.WorkDir, "isthmus-state"), "--log-level", "warn"}, b.opts.IsthmusArgs...)
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: b.opts.IsthmusBin, ConfigDir: configDir, LogDir: b.opts.WorkDir, ExtraArgs: args})
	if err != nil {
		return err
	}
	b.isthmus = is
	b.report.IsthmusLog = is.LogPath()
	return nil
}

// loadOptions are the sidecars': identities of a small meshgen mesh (no
// Sidecar resource is served, so each holds every Consul service).
func (b *bench) loadOptions() xdsload.Options {
	opts := xdsload.DefaultOptions()
	opts.Target, opts.Delta, opts.Proxies = b.isthmus.XDSAddr, b.opts.Delta, b.opts.Proxies
	opts.Mesh = meshgen.DefaultSpec()
	opts.ConnectRate = b.opts.ConnectRate
	opts.ConfigTimeout, opts.SettleTimeout = b.opts.ConfigTimeout, b.opts.SettleTimeout
	opts.MetricsURL = "http://" + b.isthmus.MonitoringAddr + "/metrics"
	opts.Progress = b.opts.Progress
	opts.Logger = b.log
	return opts
}

// close stops the sidecars, Isthmus and Consul.
func (b *bench) close() {
	if b.fleet != nil {
		b.fleet.Close()
	}
	if b.isthmus != nil {
		b.isthmus.Close()
	}
	if b.consul != nil {
		b.consul.Stop()
	}
}
