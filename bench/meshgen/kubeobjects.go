package meshgen

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Kubernetes objects of a generated service, as pure functions of the
// Service: KubeMesh writes them to an API server.

const (
	// OwnerAnnotation marks every object meshgen creates in Kubernetes;
	// meshgen deletes only objects that carry it.
	OwnerAnnotation = "bench.isthmus.io/meshgen"
	// EndpointSliceManager is the managed-by label of meshgen's
	// EndpointSlices: the EndpointSlice controller leaves them alone (and
	// the Services have no selector, so it makes none of its own).
	EndpointSliceManager = "meshgen.bench.isthmus.io"
	// SchedulingGate keeps the synthetic pods from ever being scheduled:
	// they are records of workloads, not workloads.
	SchedulingGate = "bench.isthmus.io/synthetic"
	// PortName names the service port, the EndpointSlice port and the
	// container port; the "http" prefix is what makes Istio (and
	// discovery/kube) treat the port as HTTP, as the ServiceEntry says.
	PortName = "http"
	// pauseImage is never pulled (the pods are never scheduled), but a pod
	// must name an image.
	pauseImage = "registry.k8s.io/pause:3.10"
)

func ownerMeta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels,
		Annotations: map[string]string{OwnerAnnotation: "true"}}
}

// KubeNamespace is namespace j as a Kubernetes Namespace.
func KubeNamespace(j int) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: ownerMeta(NamespaceName(j), "", nil)}
}

// KubeServiceAccount is the service account the service's pods run as.
func (svc *Service) KubeServiceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: ownerMeta(svc.ServiceAccount(), svc.Namespace, nil)}
}

// KubeService is the service as a Kubernetes Service: cluster IP the VIP,
// one TCP port named http. It has no selector: its EndpointSlice is
// meshgen's (KubeEndpointSlice), not the controller's.
func (svc *Service) KubeService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: ownerMeta(svc.Name, svc.Namespace, nil),
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  svc.VIP,
			ClusterIPs: []string{svc.VIP},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      svc.kubeServicePorts(),
		},
	}
}

func (svc *Service) kubeServicePorts() []corev1.ServicePort {
	return []corev1.ServicePort{{
		Name:       PortName,
		Protocol:   corev1.ProtocolTCP,
		Port:       int32(svc.Port),
		TargetPort: intstr.FromInt32(int32(svc.Port)),
	}}
}

// PodName is the pod of endpoint ep: its name and address, so an endpoint
// that moves is a new pod, as a restarted workload is.
func PodName(ep Endpoint) string {
	return ep.Name + "-" + strings.ReplaceAll(ep.Address, ".", "-")
}

// KubePods are the pods of the service's endpoints, with the labels, the
// sidecar mark and the service account the file mode gives its endpoints.
// They carry no status: an API server ignores status on create, so
// KubeMesh reports it afterwards (pod IP, running, ready) as a kubelet
// would. The pods are gated from scheduling and mount no token.
func (svc *Service) KubePods() []*corev1.Pod {
	pods := make([]*corev1.Pod, len(svc.Endpoints))
	for p, ep := range svc.Endpoints {
		pods[p] = svc.kubePod(ep)
	}
	return pods
}

func (svc *Service) kubePod(ep Endpoint) *corev1.Pod {
	noToken := false
	return &corev1.Pod{
		ObjectMeta: ownerMeta(PodName(ep), svc.Namespace, svc.EndpointLabels(ep.Version)),
		Spec: corev1.PodSpec{
			ServiceAccountName:           svc.ServiceAccount(),
			AutomountServiceAccountToken: &noToken,
			SchedulingGates:              []corev1.PodSchedulingGate{{Name: SchedulingGate}},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: pauseImage,
				Ports: []corev1.ContainerPort{{Name: PortName, ContainerPort: int32(svc.Port), Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
}

// runningStatus is what a kubelet reports for a ready pod at address.
func runningStatus(address string) corev1.PodStatus {
	return corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  address,
		PodIPs: []corev1.PodIP{{IP: address}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
		},
	}
}

// KubeEndpointSlice lists every endpoint of the service, ready, each with
// its pod as targetRef, at the port named as the service port.
func (svc *Service) KubeEndpointSlice() *discoveryv1.EndpointSlice {
	labels := map[string]string{
		discoveryv1.LabelServiceName: svc.Name,
		discoveryv1.LabelManagedBy:   EndpointSliceManager,
	}
	name, proto, port := PortName, corev1.ProtocolTCP, int32(svc.Port)
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  ownerMeta(svc.Name, svc.Namespace, labels),
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
		Endpoints:   svc.sliceEndpoints(),
	}
}

func (svc *Service) sliceEndpoints() []discoveryv1.Endpoint {
	out := make([]discoveryv1.Endpoint, len(svc.Endpoints))
	for p, ep := range svc.Endpoints {
		ready, serving, terminating := true, true, false
		out[p] = discoveryv1.Endpoint{
			Addresses:  []string{ep.Address},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: svc.Namespace, Name: PodName(ep)},
		}
	}
	return out
}
