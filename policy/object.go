package policy

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"
)

// Kind names an Istio configuration kind (independent of API version).
type Kind string

// The Istio kinds Isthmus reads.
const (
	KindVirtualService        Kind = "VirtualService"
	KindDestinationRule       Kind = "DestinationRule"
	KindGateway               Kind = "Gateway"
	KindServiceEntry          Kind = "ServiceEntry"
	KindWorkloadEntry         Kind = "WorkloadEntry"
	KindSidecar               Kind = "Sidecar"
	KindPeerAuthentication    Kind = "PeerAuthentication"
	KindAuthorizationPolicy   Kind = "AuthorizationPolicy"
	KindRequestAuthentication Kind = "RequestAuthentication"
	KindTelemetry             Kind = "Telemetry"
)

// RootNamespace holds mesh-wide configuration, as in Istio.
const RootNamespace = "istio-system"

// DefaultNamespace is the namespace of objects that name none.
const DefaultNamespace = "default"

// Source says where an object was read from: a file (and document), or a
// Kubernetes cluster's API server (and the object's resourceVersion).
type Source struct {
	File            string // path of the file
	Doc             int    // 1-based index of the YAML document within the file
	Cluster         string // the cluster whose API server holds the object
	ResourceVersion string // the object's resourceVersion there
}

func (s Source) String() string {
	switch {
	case s.Cluster != "" && s.ResourceVersion != "":
		return fmt.Sprintf("cluster %s (resourceVersion %s)", s.Cluster, s.ResourceVersion)
	case s.Cluster != "":
		return "cluster " + s.Cluster
	case s.Doc == 0:
		return s.File
	}
	return fmt.Sprintf("%s#%d", s.File, s.Doc)
}

// Key identifies an object within a Config.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (k Key) String() string { return fmt.Sprintf("%s %s/%s", k.Kind, k.Namespace, k.Name) }

// Object is one decoded Istio configuration object. Spec holds the istio.io/api
// message for its kind (for example *networkingv1alpha3.VirtualService).
// Objects are immutable once decoded.
type Object struct {
	Key
	APIVersion  string
	Labels      map[string]string
	Annotations map[string]string
	Spec        proto.Message
	Source      Source
}

// Equivalent reports whether o and p are the same object, or equal in key,
// API version, labels, annotations and spec (where they were read from
// aside).
func (o *Object) Equivalent(p *Object) bool {
	if o == p {
		return true
	}
	return o.Key == p.Key && o.APIVersion == p.APIVersion && maps.Equal(o.Labels, p.Labels) &&
		maps.Equal(o.Annotations, p.Annotations) && proto.Equal(o.Spec, p.Spec)
}

// ConfigError is a problem with one object or document. Every field that is
// known is set, so the message names file, document, object and field.
type ConfigError struct {
	Source Source
	Key    Key    // zero when the document could not be identified
	Field  string // dotted path such as "spec.http[0].route[1].weight"
	Msg    string
}

func (e *ConfigError) Error() string {
	msg := e.Source.String()
	if e.Key.Kind != "" {
		msg += ": " + e.Key.String()
	}
	if e.Field != "" {
		msg += ": " + e.Field
	}
	return msg + ": " + e.Msg
}
