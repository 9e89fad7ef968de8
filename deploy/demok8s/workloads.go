package demok8s

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/inject"
	"github.com/isthmus-mesh/isthmus/inject/rootcert"
)

// The demo's workloads: namespace, app and service account. The
// frontend's service account is the principal the seed's
// AuthorizationPolicy allows; the client's is not.
const (
	AppPort = 8080

	FrontendNamespace = "frontend"
	FrontendApp       = "frontend"
	FrontendAccount   = "frontend-service"

	ClientNamespace = "client"
	ClientApp       = "client"

	BackendNamespace = "backend"
	ServiceB         = "service-b"
)

// ServiceBHost is service-b's name, as callers dial it.
const ServiceBHost = ServiceB + "." + BackendNamespace + ".svc.cluster.local"

// workload is one Deployment of the demo app.
type workload struct {
	namespace, app, account string
	// driver: the host calls the app directly (its inbound port is left
	// out of the capture), to make it call others through its sidecar.
	driver bool
	// hosts maps names the pod dials to addresses (no cluster DNS).
	hosts map[string]string
}

// meshNamespaces are labelled istio-injection=enabled in both clouds (the
// injector reads a namespace's labels from the config cluster, aws).
var meshNamespaces = []string{FrontendNamespace, ClientNamespace, BackendNamespace}

// createNamespaces creates the mesh namespaces in c, labelled for
// injection and, unless empty, with their network.
func createNamespaces(ctx context.Context, c *cloud, network string) error {
	for _, name := range meshNamespaces {
		labels := map[string]string{inject.LabelInjection: "enabled"}
		if network != "" {
			labels[kube.NetworkLabel] = network
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cluster %s: namespace %s: %w", c.Name, name, err)
		}
	}
	return nil
}

// deploy creates w's service account and Deployment in c.
func deploy(ctx context.Context, c *cloud, w workload) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: w.account, Namespace: w.namespace}}
	if _, err := c.Client.CoreV1().ServiceAccounts(w.namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster %s: service account %s/%s: %w", c.Name, w.namespace, w.account, err)
	}
	if _, err := c.Client.AppsV1().Deployments(w.namespace).Create(ctx, deployment(c.Name, w), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster %s: Deployment %s/%s: %w", c.Name, w.namespace, w.app, err)
	}
	return nil
}

func deployment(cloudName string, w workload) *appsv1.Deployment {
	labels := map[string]string{"app": w.app, "cloud": cloudName}
	annotations := map[string]string{}
	if w.driver {
		annotations[iptables.AnnotationExcludeInboundPorts] = fmt.Sprint(AppPort)
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	var aliases []corev1.HostAlias
	for host, ip := range w.hosts {
		aliases = append(aliases, corev1.HostAlias{IP: ip, Hostnames: []string{host}})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.app, Namespace: w.namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName:            w.account,
					TerminationGracePeriodSeconds: new(int64(2)),
					HostAliases:                   aliases,
					Containers: []corev1.Container{{
						Name: "app", Image: nodeimages.DemoAppRef, ImagePullPolicy: corev1.PullNever,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: AppPort}},
						Env: []corev1.EnvVar{
							{Name: "APP", Value: w.app}, {Name: "CLOUD", Value: cloudName}, {Name: "VERSION", Value: "v1"},
							fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
						},
					}},
				},
			},
		},
	}
}

// createService creates a ClusterIP Service for app in c and returns its
// address.
func createService(ctx context.Context, c *cloud, namespace, app string) (string, error) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Name: "http", Port: AppPort, TargetPort: intstr.FromInt32(AppPort)}},
		},
	}
	created, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("cluster %s: Service %s/%s: %w", c.Name, namespace, app, err)
	}
	return created.Spec.ClusterIP, nil
}

// copyRootCert copies the mesh roots Isthmus publishes in aws's namespace
// into gcp's, where the sidecars mount them (Isthmus keeps them in its
// config cluster only).
func copyRootCert(ctx context.Context, aws, gcp *cloud, namespace string) error {
	var cm *corev1.ConfigMap
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		cm, err = aws.Client.CoreV1().ConfigMaps(namespace).Get(ctx, rootcert.ConfigMapName, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("ConfigMap %s/%s in aws: %w", namespace, rootcert.ConfigMapName, err)
	}
	copied := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.Name, Namespace: namespace}, Data: cm.Data}
	if _, err := gcp.Client.CoreV1().ConfigMaps(namespace).Create(ctx, copied, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ConfigMap %s/%s in gcp: %w", namespace, cm.Name, err)
	}
	return nil
}

// waitReady waits until every pod the label selector picks in namespace is
// ready (at least one), and returns them.
func waitReady(ctx context.Context, c *cloud, namespace, selector string) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && podReady(p) {
				pods = append(pods, p)
			}
		}
		last = fmt.Sprintf("%d of %d pods ready", len(pods), len(list.Items))
		return len(pods) > 0 && len(pods) == len(list.Items), nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: pods %s in %s: %w (%s)", c.Name, selector, namespace, err, last)
	}
	return pods, nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// injected reports whether a pod runs Isthmus's sidecar.
func injected(p corev1.Pod) bool {
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if c.Image == nodeimages.SidecarRef {
			return true
		}
	}
	return false
}
