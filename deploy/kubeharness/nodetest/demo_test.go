package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// The demo app's objects in each cluster.
const (
	demoNamespace = "default"
	demoName      = "demo"
	demoPort      = 8080
	demoReplicas  = 2
)

// deployDemo creates the demo Deployment and its Service and waits until
// the Deployment is available.
func deployDemo(ctx context.Context, c *cloud) error {
	if _, err := c.Client.AppsV1().Deployments(demoNamespace).Create(ctx, demoDeployment(c.Name), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Deployment %s: %w", demoName, err)
	}
	if _, err := c.Client.CoreV1().Services(demoNamespace).Create(ctx, demoService(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Service %s: %w", demoName, err)
	}
	if err := waitAvailable(ctx, c); err != nil {
		return err
	}
	return waitServiceRouted(ctx, c)
}

// waitServiceRouted waits until a demo pod reaches the demo Service's
// ClusterIP: kube-proxy writes its rules a moment after the endpoints
// become ready.
func waitServiceRouted(ctx context.Context, c *cloud) error {
	svc, err := c.Client.CoreV1().Services(demoNamespace).Get(ctx, demoName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pods, err := demoPods(ctx, c)
	if err != nil || len(pods) == 0 {
		return fmt.Errorf("no demo pods: %v", err)
	}
	var last callResult
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last, err = callFrom(ctx, pods[0].Status.PodIP, "http://"+svc.Spec.ClusterIP+"/")
		return err == nil && last.Status == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("Service %s at %s: %w (last: %+v)", demoName, svc.Spec.ClusterIP, err, last)
	}
	return nil
}

func demoDeployment(cloudName string) *appsv1.Deployment {
	labels := map[string]string{"app": demoName}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: demoName, Namespace: demoNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(demoReplicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(1)),
					Containers: []corev1.Container{{
						Name: "demoapp", Image: nodeimages.DemoAppRef, ImagePullPolicy: corev1.PullNever,
						Ports: []corev1.ContainerPort{{ContainerPort: demoPort}},
						Env: []corev1.EnvVar{
							{Name: "APP", Value: demoName}, {Name: "CLOUD", Value: cloudName}, {Name: "VERSION", Value: "v1"},
							fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(demoPort)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

func demoService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: demoName, Namespace: demoNamespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": demoName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(demoPort)}},
		},
	}
}

// waitAvailable waits until every replica of the demo Deployment is ready.
func waitAvailable(ctx context.Context, c *cloud) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := c.Client.AppsV1().Deployments(demoNamespace).Get(ctx, demoName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, demoReplicas)
		return d.Status.ReadyReplicas == demoReplicas, nil
	})
	if err != nil {
		return fmt.Errorf("Deployment %s: %w (%s)", demoName, err, last)
	}
	return nil
}

// demoPods lists the demo app's pods of a cluster.
func demoPods(ctx context.Context, c *cloud) ([]corev1.Pod, error) {
	pods, err := c.Client.CoreV1().Pods(demoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + demoName})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// answer is the part of demoapp's GET / answer the tests read.
type answer struct {
	App, Pod, Namespace, Cloud string
	ClientCert                 string
}

// callResult is demoapp's GET /call answer.
type callResult struct {
	URL    string
	Status int
	Body   string
	Error  string
}

// httpClient bounds every request the tests send.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// getJSON GETs url from the host and decodes its JSON answer into v.
func getJSON(ctx context.Context, rawURL string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", rawURL, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w: %s", rawURL, err, body)
	}
	return nil
}

// callFrom asks the demo pod at podIP to GET target, from inside its pod.
func callFrom(ctx context.Context, podIP, target string) (callResult, error) {
	var result callResult
	err := getJSON(ctx, fmt.Sprintf("http://%s:%d/call?url=%s", podIP, demoPort, url.QueryEscape(target)), &result)
	return result, err
}
