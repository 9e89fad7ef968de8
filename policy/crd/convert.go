package crd

import (
	"google.golang.org/protobuf/proto"
	meta "istio.io/api/meta/v1alpha1"
	clientnetworking "istio.io/client-go/pkg/apis/networking/v1"
	clientsecurity "istio.io/client-go/pkg/apis/security/v1"
	clienttelemetry "istio.io/client-go/pkg/apis/telemetry/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// resource is a custom resource read: its definition (the object if it is
// valid, else no object), its problems, and its status and generation.
type resource struct {
	def        policy.Definition
	problems   []*policy.ConfigError
	status     *meta.IstioStatus
	generation int64
}

// read converts a custom resource; ok is false for an object of a kind
// Isthmus does not read.
func (s *Source) read(obj any) (resource, bool) {
	m, spec, status, k, ok := parts(obj)
	if !ok {
		return resource{}, false
	}
	o := s.object(m, spec, k)
	r := resource{def: policy.Definition{Key: o.Key, Source: o.Source}, problems: policy.Validate(o), status: status, generation: m.GetGeneration()}
	if len(r.problems) == 0 {
		r.def.Object = o
	}
	return r, true
}

// object builds the policy.Object of a custom resource, its spec copied.
func (s *Source) object(meta metav1.Object, spec proto.Message, k policy.Kind) *policy.Object {
	return &policy.Object{
		Key:         policy.Key{Kind: k, Namespace: meta.GetNamespace(), Name: meta.GetName()},
		APIVersion:  kindAPIVersion(k),
		Labels:      meta.GetLabels(),
		Annotations: meta.GetAnnotations(),
		Spec:        proto.Clone(spec),
		Source:      policy.Source{Cluster: s.cluster, ResourceVersion: meta.GetResourceVersion()},
	}
}

// parts splits a custom resource into its metadata, spec, status and kind.
func parts(obj any) (metav1.Object, proto.Message, *meta.IstioStatus, policy.Kind, bool) {
	switch o := obj.(type) {
	case *clientnetworking.VirtualService:
		return o, &o.Spec, &o.Status, policy.KindVirtualService, true
	case *clientnetworking.DestinationRule:
		return o, &o.Spec, &o.Status, policy.KindDestinationRule, true
	case *clientnetworking.Gateway:
		return o, &o.Spec, &o.Status, policy.KindGateway, true
	case *clientnetworking.ServiceEntry:
		st := &meta.IstioStatus{Conditions: o.Status.GetConditions(), ValidationMessages: o.Status.GetValidationMessages(),
			ObservedGeneration: o.Status.GetObservedGeneration()}
		return o, &o.Spec, st, policy.KindServiceEntry, true
	case *clientnetworking.WorkloadEntry:
		return o, &o.Spec, &o.Status, policy.KindWorkloadEntry, true
	case *clientnetworking.Sidecar:
		return o, &o.Spec, &o.Status, policy.KindSidecar, true
	case *clientsecurity.PeerAuthentication:
		return o, &o.Spec, &o.Status, policy.KindPeerAuthentication, true
	case *clientsecurity.AuthorizationPolicy:
		return o, &o.Spec, &o.Status, policy.KindAuthorizationPolicy, true
	case *clientsecurity.RequestAuthentication:
		return o, &o.Spec, &o.Status, policy.KindRequestAuthentication, true
	case *clienttelemetry.Telemetry:
		return o, &o.Spec, &o.Status, policy.KindTelemetry, true
	}
	return nil, nil, nil, "", false
}

// kindAPIVersion is the apiVersion objects of k are read at.
func kindAPIVersion(k policy.Kind) string {
	for _, kk := range kinds {
		if kk.kind == k {
			return kk.apiVersion()
		}
	}
	return ""
}
