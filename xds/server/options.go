package server

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// Default debounce timings.
const (
	DefaultDebounce    = 100 * time.Millisecond
	DefaultDebounceMax = time.Second
)

// DefaultSystemNamespace is the default Options.SystemNamespace.
const DefaultSystemNamespace = "istio-system"

// stopTimeout bounds how long Stop waits for gRPC streams to end before
// closing their connections.
const stopTimeout = 5 * time.Second

// TranslateFunc computes the resources of one proxy from a snapshot's index.
type TranslateFunc func(*translate.Index, *model.Proxy) (*translate.Resources, error)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// Debounce is the quiet period after the last Update before a push.
	Debounce time.Duration
	// DebounceMax bounds how long a stream of Updates can delay a push.
	DebounceMax time.Duration
	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Translate computes each proxy's resources. When nil, a
	// translate.Translator per push computes them, building what proxies
	// share once.
	Translate TranslateFunc
	// Secrets gives proxies the SDS secrets their resources reference.
	// Without it, no secret is served and a proxy whose resources
	// reference one keeps its previous resources.
	Secrets SecretSource
	// Authenticator proves who a proxy connecting through ServeTLS is;
	// without one, such streams are refused.
	Authenticator Authenticator
	// TLS is the server side of ServeTLS (its certificate, and client
	// certificates requested and verified against the mesh roots when
	// presented); nil when Isthmus serves no TLS port.
	TLS *tls.Config
	// TLSServices are registered on ServeTLS's gRPC server beside xDS (the
	// CA API, say); they may use the server's codec, which decodes any
	// message but discovery requests as the proto codec does.
	TLSServices []func(grpc.ServiceRegistrar)
	// InsecureIdentities serves the private keys of the identities proxies
	// claim to proxies that proved none (those connecting through Serve):
	// for development only. Without it they get no private key.
	InsecureIdentities bool
	// Name names this replica in /debug/proxies and in the control plane
	// identifier of its responses (istioctl's ISTIOD column); the host
	// name when empty.
	Name string
	// Version is the Isthmus version reported with Name.
	Version string
	// SystemNamespace is the namespace whose proven identities may read
	// the debug xDS types on ServeTLS (see debugxds.go); "istio-system"
	// when empty.
	SystemNamespace string
	// Tracer receives the spans of pushes; none are made when nil.
	Tracer trace.Tracer
}

func (o Options) withDefaults() Options {
	o.Debounce, o.DebounceMax = debounce.Defaults(o.Debounce, o.DebounceMax, DefaultDebounce, DefaultDebounceMax)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if o.SystemNamespace == "" {
		o.SystemNamespace = DefaultSystemNamespace
	}
	return o
}
