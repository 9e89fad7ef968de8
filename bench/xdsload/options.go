package xdsload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// Options configure a run.
type Options struct {
	// Target is the ADS server, HOST:PORT on the loopback network.
	Target string
	// Delta selects incremental xDS instead of state of the world.
	Delta bool
	// Proxies is the number of simulated sidecars.
	Proxies int
	// Mesh is the shape of the mesh the server serves (see meshgen); proxy
	// identities and change scenarios derive from it.
	Mesh meshgen.Spec
	// Identities, when set, gives proxy k its identity instead of
	// IdentityFor(Mesh, k): for proxies spread over several clusters, or
	// at addresses of another scheme. It must return a new Identity per
	// call.
	Identities func(k int) *Identity
	// ConfigDir is the directory the server reads; change scenarios
	// rewrite files in it and restore them afterwards. Without it only the
	// connect storm runs.
	ConfigDir string
	// Scenarios to run after the connect storm (which always runs first).
	Scenarios []string
	// Changes is the number of changes each change scenario makes, at Rate
	// changes per second.
	Changes int
	Rate    float64
	// ConnectRate limits how many proxies connect per second; 0 connects
	// them all at once.
	ConnectRate float64
	// ConfigTimeout bounds the connect storm; SettleTimeout bounds the wait
	// for a scenario's last change to reach every proxy.
	ConfigTimeout time.Duration
	SettleTimeout time.Duration
	// PID is the control plane's process id; 0 finds the process listening
	// on the target's port, if it runs on this machine; negative measures
	// no cost (for a control plane inside the load generator's process).
	PID int
	// PprofURL, when set, is where the control plane serves /debug/pprof
	// (http://127.0.0.1:PORT); profiles go to ProfileDir.
	PprofURL       string
	ProfileDir     string
	ProfileSeconds time.Duration
	// MetricsURL, when set, is where the control plane serves its
	// Prometheus metrics (http://127.0.0.1:PORT/metrics): each scenario
	// reports what the series named MetricsPrefix... did during it.
	MetricsURL    string
	MetricsPrefix string
	// TLSCADir, when set, connects every proxy over TLS with a client
	// certificate of the identity it claims (its namespace and
	// SERVICE_ACCOUNT), issued by the mesh CA read from this directory in
	// Istio's cacerts layout (isthmus serve --ca-dir, or STATE_DIR/ca):
	// the way to load Isthmus's secure port (--secure-listen). The server's
	// certificate is checked against the CA's roots for TLSServerName
	// (DefaultTLSServerName when empty); identities are in TrustDomain
	// (certs.DefaultTrustDomain when empty).
	TLSCADir      string
	TLSServerName string
	TrustDomain   string
	// Tokens, with TLSCADir, has each proxy prove its identity with a
	// Kubernetes service-account token instead of a client certificate,
	// as istio-agent does: "authorization: Bearer TOKEN" on its stream,
	// the token of its namespace and SERVICE_ACCOUNT in the cluster of its
	// CLUSTER_ID (isthmus serve reviews it there). Called once per
	// identity.
	Tokens TokenSource
	// PerProxy adds each proxy's figures to the report.
	PerProxy bool
	// Progress receives progress output (nil for none); Terminal redraws
	// one line instead of printing plain lines.
	Progress io.Writer
	Terminal bool
	Logger   *slog.Logger
}

// TokenSource gives the service-account token of identity id.
type TokenSource func(ctx context.Context, id *Identity) (string, error)

// DefaultOptions is a small run: 20 proxies over the default mesh.
func DefaultOptions() Options {
	return Options{
		Target:         "127.0.0.1:15010",
		Proxies:        20,
		Mesh:           meshgen.DefaultSpec(),
		Scenarios:      slices.Clone(ChangeScenarios),
		Changes:        5,
		Rate:           2,
		ConfigTimeout:  60 * time.Second,
		SettleTimeout:  30 * time.Second,
		ProfileDir:     "profiles",
		ProfileSeconds: 30 * time.Second,
		MetricsPrefix:  "isthmus_",
	}
}

// validate reports options that cannot run.
func (o *Options) validate() error {
	var errs []error
	if err := checkLoopback(o.Target); err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	if o.Proxies < 1 {
		errs = append(errs, fmt.Errorf("proxies %d: want at least 1", o.Proxies))
	}
	if err := o.Mesh.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(ChangeScenarios, s) && s != ScenarioConnectStorm {
			errs = append(errs, fmt.Errorf("unknown scenario %q (want %v)", s, ChangeScenarios))
		}
	}
	if o.hasChanges() && o.ConfigDir == "" {
		errs = append(errs, errors.New("change scenarios rewrite the server's config directory: give --config-dir, or run only "+ScenarioConnectStorm))
	}
	if o.hasChanges() && (o.Changes < 1 || o.Rate <= 0) {
		errs = append(errs, fmt.Errorf("changes %d at %g/s: want at least one change at a positive rate", o.Changes, o.Rate))
	}
	return errors.Join(errs...)
}

func (o *Options) hasChanges() bool {
	for _, s := range o.Scenarios {
		if s != ScenarioConnectStorm {
			return true
		}
	}
	return false
}

// checkLoopback accepts HOST:PORT only when HOST is "localhost" or a
// loopback address: the load generator never targets another machine.
// To measure a remote control plane, forward its port to localhost (for
// istiod: kubectl port-forward -n istio-system svc/istiod 15010).
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT", hostport)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; forward the remote port to 127.0.0.1", host)
	}
	return nil
}
