package crd

import (
	"google.golang.org/protobuf/proto"
	clientnetworking "istio.io/client-go/pkg/apis/networking/v1"
	clientsecurity "istio.io/client-go/pkg/apis/security/v1"
	clienttelemetry "istio.io/client-go/pkg/apis/telemetry/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// definition converts a custom resource into its definition: the object
// if it is valid, else no object and the problems. ok is false for an
// object of a kind Isthmus does not read.
func (s *Source) definition(obj any) (policy.Definition, []*policy.ConfigError, bool) {
	o, ok := s.object(obj)
	if !ok {
		return policy.Definition{}, nil, false
	}
	def := policy.Definition{Key: o.Key, Source: o.Source}
	problems := policy.Validate(o)
	if len(problems) == 0 {
		def.Object = o
	}
	return def, problems, true
}

// object builds the policy.Object of a custom resource, its spec copied.
func (s *Source) object(obj any) (*policy.Object, bool) {
	meta, spec, k, ok := parts(obj)
	if !ok {
		return nil, false
	}
	return &policy.Object{
		Key:         policy.Key{Kind: k, Namespace: meta.GetNamespace(), Name: meta.GetName()},
		APIVersion:  kindAPIVersion(k),
		Labels:      meta.GetLabels(),
		Annotations: meta.GetAnnotations(),
		Spec:        proto.Clone(spec),
		Source:      policy.Source{Cluster: s.cluster, ResourceVersion: meta.GetResourceVersion()},
	}, true
}

// parts splits a custom resource into its metadata, spec and kind.
func parts(obj any) (metav1.Object, proto.Message, policy.Kind, bool) {
	switch o := obj.(type) {
	case *clientnetworking.VirtualService:
		return o, &o.Spec, policy.KindVirtualService, true
	case *clientnetworking.DestinationRule:
		return o, &o.Spec, policy.KindDestinationRule, true
	case *clientnetworking.Gateway:
		return o, &o.Spec, policy.KindGateway, true
	case *clientnetworking.ServiceEntry:
		return o, &o.Spec, policy.KindServiceEntry, true
	case *clientnetworking.WorkloadEntry:
		return o, &o.Spec, policy.KindWorkloadEntry, true
	case *clientnetworking.Sidecar:
		return o, &o.Spec, policy.KindSidecar, true
	case *clientsecurity.PeerAuthentication:
		return o, &o.Spec, policy.KindPeerAuthentication, true
	case *clientsecurity.AuthorizationPolicy:
		return o, &o.Spec, policy.KindAuthorizationPolicy, true
	case *clientsecurity.RequestAuthentication:
		return o, &o.Spec, policy.KindRequestAuthentication, true
	case *clienttelemetry.Telemetry:
		return o, &o.Spec, policy.KindTelemetry, true
	}
	return nil, nil, "", false
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
