package consul

import (
	"errors"
	"log/slog"
	"time"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// Defaults for Options.
const (
	DefaultSuffix      = "service.consul"
	DefaultNamespace   = "default"
	DefaultWaitTime    = 5 * time.Minute
	DefaultDebounce    = 20 * time.Millisecond
	DefaultDebounceMax = 200 * time.Millisecond
)

// Options configure a Registry. Zero values take the defaults, except
// Address, which is required.
type Options struct {
	// Address of the Consul agent's HTTP API: HOST:PORT, or a URL
	// (http://, https://, unix://). CONSUL_HTTP_* environment variables
	// (TLS, token) apply as for the consul CLI.
	Address string
	// Name is the cluster id of the services and endpoints, and the name
	// of the state file; the agent's datacenter when empty.
	Name string
	// Token is the ACL token; TokenFile, when set, is read for it instead
	// (else CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE).
	Token, TokenFile string
	// Suffix ends every host: NAME.SUFFIX; DefaultSuffix when empty.
	Suffix string
	// Namespace of every service, where a ServiceEntry for the same host
	// joins it; DefaultNamespace when empty.
	Namespace string
	// IncludeWarning admits instances whose worst check is warning.
	IncludeWarning bool
	// StateDir, when set, keeps the last catalog read from Consul in
	// STATEDIR/consul-NAME.json (NAME, else Address), served stale after a
	// restart until Consul answers.
	StateDir string
	// Logger receives the registry's logs; slog.Default() when nil.
	Logger *slog.Logger
	// WaitTime bounds each blocking query; DefaultWaitTime when zero.
	WaitTime time.Duration
	// Debounce and DebounceMax pace catalog rebuilds after Consul answers
	// with a change; DefaultDebounce and DefaultDebounceMax when zero.
	Debounce, DebounceMax time.Duration
	// RetryMin and RetryMax bound the wait before a failed query is sent
	// again, doubling from one to the other; 250 ms and 5 s when zero.
	RetryMin, RetryMax time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Address == "" {
		return o, errors.New("consul registry: Options.Address is required")
	}
	if o.Suffix == "" {
		o.Suffix = DefaultSuffix
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WaitTime <= 0 {
		o.WaitTime = DefaultWaitTime
	}
	o.RetryMin, o.RetryMax = debounce.Defaults(o.RetryMin, o.RetryMax, 250*time.Millisecond, 5*time.Second)
	o.Debounce, o.DebounceMax = debounce.Defaults(o.Debounce, o.DebounceMax, DefaultDebounce, DefaultDebounceMax)
	return o, nil
}

// stateName is the state file's source name: consul-NAME, else
// consul-ADDRESS, known before Consul answers.
func (o Options) stateName() string {
	if o.Name != "" {
		return "consul-" + o.Name
	}
	return "consul-" + o.Address
}
