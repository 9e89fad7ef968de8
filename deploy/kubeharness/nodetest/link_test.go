package nodetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// TestLinkedNodesReachOnlyNodePorts: once the two clouds' nodes are
// linked (as east-west gateways join two networks), a gcp pod reaches an
// aws NodePort at the aws node's address, and still not an aws pod by its
// IP; after unlinking, not even the NodePort.
func TestLinkedNodesReachOnlyNodePorts(t *testing.T) {
	aws, gcp := clouds["aws"], clouds["gcp"]
	nodePort := createNodePort(t, aws)
	client, target := mustDemoPods(t, gcp)[0], mustDemoPods(t, aws)[0]
	awsNode := aws.Node(target.Spec.NodeName)
	gateway := fmt.Sprintf("http://%s:%d/", awsNode.IP, nodePort)
	if got := mustCall(t, client, gateway); got.Error == "" {
		t.Fatalf("before linking, a gcp pod reached the aws NodePort: %+v", got)
	}

	unlink, err := kubeharness.LinkNodes(awsNode, gcp.Node(client.Spec.NodeName))
	if err != nil {
		t.Fatal(err)
	}
	answered := eventuallyCall(t, client, gateway)
	if answered.Status != 200 {
		t.Fatalf("linked: gcp pod → aws NodePort %s: %+v", gateway, answered)
	}
	if got := mustCall(t, client, podURL(target, "/")); got.Error == "" {
		t.Errorf("linked: a gcp pod reached aws pod %s by its IP: %+v", target.Name, got)
	}

	if err := unlink(); err != nil {
		t.Fatal(err)
	}
	if got := mustCall(t, client, gateway); got.Error == "" {
		t.Errorf("after unlinking, a gcp pod still reached the aws NodePort: %+v", got)
	}
}

// createNodePort exposes the demo app on a NodePort of c and returns it.
func createNodePort(t *testing.T, c *cloud) int32 {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-gateway", Namespace: demoNamespace},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": demoName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(demoPort)}},
		},
	}
	created, err := c.Client.CoreV1().Services(demoNamespace).Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Services(demoNamespace).Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
	})
	return created.Spec.Ports[0].NodePort
}

// eventuallyCall retries a call from a pod for up to 20 s (kube-proxy
// writes a new Service's rules a moment later) and returns the last result.
func eventuallyCall(t *testing.T, from corev1.Pod, target string) callResult {
	var last callResult
	_ = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		last = mustCall(t, from, target)
		return last.Status == 200, nil
	})
	return last
}
