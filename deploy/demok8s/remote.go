package demok8s

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/inject"
)

// Isthmus's ports the remote cluster's pods and API server use: the
// secure xDS and CA port, and the webhooks'.
var remotePorts = []corev1.ServicePort{
	{Name: "https-dns", Port: 15012, TargetPort: intstr.FromInt32(15012)},
	{Name: "https-webhook", Port: 15017, TargetPort: intstr.FromInt32(15017)},
}

// isthmusSelector picks the chart's Isthmus pods.
const isthmusSelector = "app.kubernetes.io/name=isthmus,app.kubernetes.io/instance=" + Release

// isthmusPodIPs are the addresses of aws's Ready Isthmus pods.
func isthmusPodIPs(ctx context.Context, aws *cloud) ([]string, error) {
	pods, err := waitReady(ctx, aws, SystemNamespace, isthmusSelector)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, p := range pods {
		ips = append(ips, p.Status.PodIP)
	}
	return ips, nil
}

// exposeIsthmusToRemote makes Isthmus reachable from gcp as istiod is
// from a remote cluster: a Service isthmus in gcp's istio-system without
// selector, whose EndpointSlice holds the aws Isthmus pods' addresses (one
// network) or the aws node's address and Isthmus's node ports (two
// networks: gcpNetwork is not empty), and gcp's injection webhook, a copy
// of aws's calling /inject/cluster/gcp (/net/gcpNetwork). It returns the
// Service's ClusterIP in gcp.
func exposeIsthmusToRemote(ctx context.Context, aws, gcp *cloud, gcpNetwork string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}
	if _, err := gcp.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("gcp namespace %s: %w", SystemNamespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Release, Namespace: SystemNamespace},
		Spec:       corev1.ServiceSpec{Ports: remotePorts},
	}
	created, err := gcp.Client.CoreV1().Services(SystemNamespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("gcp Service %s: %w", Release, err)
	}
	if err := syncRemoteEndpoints(ctx, aws, gcp, gcpNetwork != ""); err != nil {
		return "", err
	}
	if err := copyInjector(ctx, aws, gcp, gcpNetwork); err != nil {
		return "", err
	}
	return created.Spec.ClusterIP, nil
}

// syncRemoteEndpoints writes the aws Isthmus pods' addresses (viaNode:
// the aws node's, with the Service's node ports) into gcp's EndpointSlice
// of Service isthmus.
func syncRemoteEndpoints(ctx context.Context, aws, gcp *cloud, viaNode bool) error {
	ips, err := isthmusPodIPs(ctx, aws)
	if err != nil {
		return err
	}
	ports := map[string]int32{}
	for _, p := range remotePorts {
		ports[p.Name] = p.Port
	}
	if viaNode {
		ips = []string{aws.node().IP.String()}
		if ports, err = nodePorts(ctx, aws); err != nil {
			return err
		}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: Release + "-aws", Namespace: SystemNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: Release, discoveryv1.LabelManagedBy: "isthmus-demo"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: new(true)}})
	}
	for _, p := range remotePorts {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: new(p.Name), Port: new(ports[p.Name]), Protocol: new(corev1.ProtocolTCP)})
	}
	slices := gcp.Client.DiscoveryV1().EndpointSlices(SystemNamespace)
	existing, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = existing.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("gcp EndpointSlice %s: %w", slice.Name, err)
	}
	return nil
}

// copyInjector copies aws's injection webhook configuration, once Isthmus
// has patched its caBundle, into gcp with the path /inject/cluster/gcp.
func copyInjector(ctx context.Context, aws, gcp *cloud, gcpNetwork string) error {
	var src *admissionregistrationv1.MutatingWebhookConfiguration
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := aws.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 || len(list.Items[0].Webhooks) == 0 {
			return false, nil
		}
		src = &list.Items[0]
		return len(src.Webhooks[0].ClientConfig.CABundle) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("aws injection webhook with its caBundle: %w", err)
	}
	dst := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: src.Name, Labels: src.Labels},
		Webhooks:   src.Webhooks,
	}
	path := inject.Path + "/cluster/" + GCP
	if gcpNetwork != "" {
		path += "/net/" + gcpNetwork
	}
	for i := range dst.Webhooks {
		if s := dst.Webhooks[i].ClientConfig.Service; s != nil {
			s.Path = &path
		}
	}
	if _, err := gcp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, dst, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("gcp injection webhook: %w", err)
	}
	return nil
}

// nodePorts are the node ports of aws's Isthmus Service, by port name.
func nodePorts(ctx context.Context, aws *cloud) (map[string]int32, error) {
	svc, err := aws.Client.CoreV1().Services(SystemNamespace).Get(ctx, Release, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("aws Service %s: %w", Release, err)
	}
	out := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		out[p.Name] = p.NodePort
	}
	return out, nil
}
