package demok8s

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/inject"
)

// The east-west gateway of each network: its name (app label, service
// account, Service), its selector label as the mesh's Gateway names it,
// and Istio's port for mTLS passthrough between networks.
const (
	EastWestName  = "istio-eastwestgateway"
	EastWestLabel = "eastwestgateway"
	EastWestPort  = kube.DefaultNetworkGatewayPort
)

// networkOf is a cloud's network name ("" with one network).
func (d *demo) networkOf(cloudName string) string {
	if !d.opts.TwoNetworks {
		return ""
	}
	return cloudName + "-network"
}

// deployEastWest runs c's east-west gateway: Isthmus's proxy (the sidecar
// image's agent, bootstrap and Envoy, as injection writes them) as a
// router node, and a Service labelled with c's network whose external IP
// is the node's address, where the other network's proxies reach it over
// the nodes' link.
func deployEastWest(ctx context.Context, c *cloud, network, isthmusIP string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: EastWestName, Namespace: SystemNamespace}}
	if _, err := c.Client.CoreV1().ServiceAccounts(SystemNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster %s: east-west gateway service account: %w", c.Name, err)
	}
	spec, err := eastWestPod(c.Name, network, isthmusIP)
	if err != nil {
		return fmt.Errorf("cluster %s: east-west gateway: %w", c.Name, err)
	}
	labels := spec.Labels
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: EastWestName, Namespace: SystemNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": EastWestName}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: spec.Annotations}, Spec: spec.Spec},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(SystemNamespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster %s: east-west gateway: %w", c.Name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: EastWestName, Namespace: SystemNamespace, Labels: map[string]string{kube.NetworkLabel: network}},
		Spec: corev1.ServiceSpec{
			Selector:    map[string]string{"app": EastWestName},
			Ports:       []corev1.ServicePort{{Name: "tls", Port: EastWestPort, TargetPort: intstr.FromInt32(EastWestPort)}},
			ExternalIPs: []string{c.node().IP.String()},
		},
	}
	if _, err := c.Client.CoreV1().Services(SystemNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster %s: east-west gateway Service: %w", c.Name, err)
	}
	return nil
}

// eastWestPod is the gateway's pod: what the injector writes for a pod of
// c, without the traffic capture and the application, its Envoy the main
// container and its node a router.
func eastWestPod(clusterID, network, isthmusIP string) (*corev1.Pod, error) {
	base := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": EastWestName, "istio": EastWestLabel, kube.NetworkLabel: network,
			inject.LabelSidecarInject: "false"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: EastWestName, TerminationGracePeriodSeconds: new(int64(2)),
			HostAliases: []corev1.HostAlias{{IP: isthmusIP, Hostnames: []string{DiscoveryHost}}},
			Containers:  []corev1.Container{{Name: "placeholder", Image: nodeimages.SidecarRef}},
		},
	}
	pod, err := inject.Pod(base, SystemNamespace, inject.Config{
		Mode: inject.ModeIsthmus, Image: nodeimages.SidecarRef, DiscoveryAddress: DiscoveryHost + ":15012",
		ClusterID: clusterID, Network: network,
	})
	if err != nil {
		return nil, err
	}
	var inits []corev1.Container
	for _, c := range pod.Spec.InitContainers {
		switch {
		case c.Name == "isthmus-capture":
		case c.RestartPolicy != nil && strings.Contains(strings.Join(c.Command, " "), "envoy"):
			c.RestartPolicy = nil
			c.Ports = []corev1.ContainerPort{{Name: "tls", ContainerPort: EastWestPort}}
			pod.Spec.Containers = []corev1.Container{c}
		default:
			inits = append(inits, asRouter(c))
		}
	}
	pod.Spec.InitContainers = inits
	return pod, nil
}

// asRouter makes the bootstrap step's node a router (a gateway) rather
// than a sidecar.
func asRouter(c corev1.Container) corev1.Container {
	for i, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--node-id=sidecar~"); ok {
			c.Args[i] = "--node-id=router~" + v
		}
	}
	return c
}
