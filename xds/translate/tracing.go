package translate

import (
	"net"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tracingv3 "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// Istio's defaults for tracing.
const (
	defaultTraceSampling = 1.0 // percent
	zipkinSpansPath      = "/api/v2/spans"
)

// tracingSettings is what the Telemetry resources and the mesh config say
// of a workload's tracing in one direction.
type tracingSettings struct {
	providers []string
	sampling  *float64
	tags      map[string]*telemetry.Tracing_CustomTag
	disabled  bool
}

// tracingFor is the tracing of a workload's HTTP connection managers in one
// direction (CLIENT for outbound, SERVER for inbound): the Telemetry
// resources of the root namespace, the workload's namespace and those
// selecting it, the more specific setting each field, then the mesh
// config's default providers and sampling. Nil when no provider of the mesh
// config is named, span reporting is off, or the provider's collector is not
// a service in scope (Envoy would reject a tracer without its cluster).
func (idx *Index) tracingFor(ns string, labels map[string]string, scope *Scope, mode telemetry.WorkloadMode) *hcmv3.HttpConnectionManager_Tracing {
	mesh := idx.meshConfig()
	s := idx.tracingSettings(ns, labels, mode)
	if len(s.providers) == 0 {
		s.providers = mesh.GetDefaultProviders().GetTracing()
	}
	if s.disabled {
		return nil
	}
	tracer, host, port := tracerFor(mesh, s.providers)
	if tracer == nil || !scopeHasPort(scope, host, port) {
		return nil
	}
	return &hcmv3.HttpConnectionManager_Tracing{
		Provider:       tracer,
		RandomSampling: &typev3.Percent{Value: samplingOf(mesh, s.sampling)},
		CustomTags:     customTags(s.tags),
	}
}

func (idx *Index) tracingSettings(ns string, labels map[string]string, mode telemetry.WorkloadMode) tracingSettings {
	s := tracingSettings{tags: map[string]*telemetry.Tracing_CustomTag{}}
	for _, o := range telemetriesFor(idx.namespaceConfig(policy.KindTelemetry, ns), ns, labels) {
		for _, tr := range o.Spec.(*telemetry.Telemetry).GetTracing() {
			if m := tr.GetMatch().GetMode(); m != telemetry.WorkloadMode_CLIENT_AND_SERVER && m != mode {
				continue
			}
			if len(tr.GetProviders()) > 0 {
				s.providers = s.providers[:0]
				for _, p := range tr.GetProviders() {
					s.providers = append(s.providers, p.GetName())
				}
			}
			if v := tr.GetRandomSamplingPercentage(); v != nil {
				pct := v.GetValue()
				s.sampling = &pct
			}
			if v := tr.GetDisableSpanReporting(); v != nil {
				s.disabled = v.GetValue()
			}
			for k, v := range tr.GetCustomTags() {
				s.tags[k] = v
			}
		}
	}
	return s
}

// telemetriesFor lists the Telemetry resources of a workload, least
// specific first: the root namespace's without selector, its namespace's
// without selector, then its namespace's selecting it.
func telemetriesFor(cfg *policy.Config, ns string, labels map[string]string) []*policy.Object {
	var mesh, namespace, workload []*policy.Object
	for _, o := range cfg.List(policy.KindTelemetry) {
		selector := o.Spec.(*telemetry.Telemetry).GetSelector().GetMatchLabels()
		switch {
		case o.Namespace == policy.RootNamespace && len(selector) == 0 && ns != policy.RootNamespace:
			mesh = append(mesh, o)
		case o.Namespace != ns:
		case len(selector) == 0:
			namespace = append(namespace, o)
		case policy.SelectorMatches(selector, labels):
			workload = append(workload, o)
		}
	}
	return slices.Concat(mesh, namespace, workload)
}

// tracerFor builds the tracer of the first named provider the mesh config
// defines, or of its legacy Zipkin address when tracing is enabled without
// providers, and names the collector service.
func tracerFor(mesh *meshv1alpha1.MeshConfig, names []string) (*tracev3.Tracing_Http, string, uint32) {
	for _, name := range names {
		for _, p := range mesh.GetExtensionProviders() {
			if p.GetName() != name {
				continue
			}
			if z := p.GetZipkin(); z != nil {
				return zipkinTracer(serviceHost(z.GetService()), z.GetPort()), serviceHost(z.GetService()), z.GetPort()
			}
			if o := p.GetOpentelemetry(); o != nil {
				return otelTracer(serviceHost(o.GetService()), o.GetPort()), serviceHost(o.GetService()), o.GetPort()
			}
		}
	}
	if len(names) == 0 && mesh.GetEnableTracing() {
		if host, port, ok := hostPort(mesh.GetDefaultConfig().GetTracing().GetZipkin().GetAddress()); ok {
			return zipkinTracer(host, port), host, port
		}
	}
	return nil, "", 0
}

func zipkinTracer(host string, port uint32) *tracev3.Tracing_Http {
	return &tracev3.Tracing_Http{Name: "envoy.tracers.zipkin", ConfigType: &tracev3.Tracing_Http_TypedConfig{
		TypedConfig: typedAny(&tracev3.ZipkinConfig{
			CollectorCluster:         ClusterName(Outbound, port, "", host),
			CollectorEndpoint:        zipkinSpansPath,
			CollectorEndpointVersion: tracev3.ZipkinConfig_HTTP_JSON,
			CollectorHostname:        host,
			TraceId_128Bit:           true,
		}),
	}}
}

func otelTracer(host string, port uint32) *tracev3.Tracing_Http {
	return &tracev3.Tracing_Http{Name: "envoy.tracers.opentelemetry", ConfigType: &tracev3.Tracing_Http_TypedConfig{
		TypedConfig: typedAny(&tracev3.OpenTelemetryConfig{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
				ClusterName: ClusterName(Outbound, port, "", host), Authority: host,
			}},
		}}),
	}}
}

// serviceHost drops the "NAMESPACE/" an extension provider's service may
// carry.
func serviceHost(service string) string {
	if _, host, ok := strings.Cut(service, "/"); ok {
		return host
	}
	return service
}

func hostPort(address string) (string, uint32, bool) {
	host, portText, err := net.SplitHostPort(address)
	port, perr := strconv.ParseUint(portText, 10, 32)
	return host, uint32(port), err == nil && perr == nil && host != ""
}

func scopeHasPort(scope *Scope, host string, port uint32) bool {
	for _, svc := range scope.Services() {
		if svc.Hostname == host && svc.Port(port) != nil {
			return true
		}
	}
	return false
}

func samplingOf(mesh *meshv1alpha1.MeshConfig, telemetrySampling *float64) float64 {
	switch {
	case telemetrySampling != nil:
		return *telemetrySampling
	case mesh.GetDefaultConfig().GetTracing().GetSampling() > 0:
		return mesh.GetDefaultConfig().GetTracing().GetSampling()
	}
	return defaultTraceSampling
}

// customTags are Envoy's tags for Telemetry's custom tags, by name:
// literals and request headers (environment variables of the proxy are not
// known to Isthmus and are left out).
func customTags(tags map[string]*telemetry.Tracing_CustomTag) []*tracingv3.CustomTag {
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []*tracingv3.CustomTag
	for _, name := range names {
		t := tags[name]
		switch {
		case t.GetLiteral() != nil:
			out = append(out, &tracingv3.CustomTag{Tag: name, Type: &tracingv3.CustomTag_Literal_{
				Literal: &tracingv3.CustomTag_Literal{Value: t.GetLiteral().GetValue()}}})
		case t.GetHeader() != nil:
			out = append(out, &tracingv3.CustomTag{Tag: name, Type: &tracingv3.CustomTag_RequestHeader{
				RequestHeader: &tracingv3.CustomTag_Header{Name: t.GetHeader().GetName(), DefaultValue: t.GetHeader().GetDefaultValue()}}})
		}
	}
	return out
}
