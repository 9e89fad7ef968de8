package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// TestDemoPodsAnswerFromTheHost: each cluster's demo pods run on its own
// node, hold addresses of that node's pod range, and answer the host by
// pod IP with their own identity.
func TestDemoPodsAnswerFromTheHost(t *testing.T) {
	for _, c := range clouds {
		pods := mustDemoPods(t, c)
		for _, pod := range pods {
			node := c.Node(pod.Spec.NodeName)
			if node == nil {
				t.Fatalf("cluster %s: pod %s is on node %q, not one of the cluster's", c.Name, pod.Name, pod.Spec.NodeName)
			}
			if ip := netip.MustParseAddr(pod.Status.PodIP); !node.PodCIDR.Contains(ip) {
				t.Errorf("cluster %s: pod %s has IP %s, outside its node's %s", c.Name, pod.Name, ip, node.PodCIDR)
			}
			var got answer
			if err := getJSON(t.Context(), podURL(pod, "/"), &got); err != nil {
				t.Fatalf("cluster %s: %v", c.Name, err)
			}
			if got.Cloud != c.Name || got.Pod != pod.Name || got.App != demoName {
				t.Errorf("cluster %s: pod %s answered %+v", c.Name, pod.Name, got)
			}
		}
	}
}

// TestClusterIPThroughKubeProxy: a pod reaches its cluster's demo Service
// at its ClusterIP (kube-proxy's rules in the node's namespace), and the
// answers come from that cluster's pods.
func TestClusterIPThroughKubeProxy(t *testing.T) {
	for _, c := range clouds {
		client := mustDemoPods(t, c)[0]
		svc, err := c.Client.CoreV1().Services(demoNamespace).Get(t.Context(), demoName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for range 30 {
			got := mustCall(t, client, "http://"+svc.Spec.ClusterIP+"/")
			if got.Error != "" || got.Status != 200 {
				t.Fatalf("cluster %s: pod %s → ClusterIP %s: %+v", c.Name, client.Name, svc.Spec.ClusterIP, got)
			}
			var a answer
			if err := json.Unmarshal([]byte(got.Body), &a); err != nil || a.Cloud != c.Name {
				t.Fatalf("cluster %s: ClusterIP answered from another cloud or garbled: %q (%v)", c.Name, got.Body, err)
			}
			seen[a.Pod] = true
		}
		if len(seen) != demoReplicas {
			t.Errorf("cluster %s: 30 requests to ClusterIP %s reached pods %v, want all %d replicas", c.Name, svc.Spec.ClusterIP, keys(seen), demoReplicas)
		}
	}
}

// TestPodsReachTheirAPIServer: a pod reaches its cluster's apiserver at
// the `kubernetes` Service's ClusterIP (a TLS handshake gets as far as
// the server's certificate, which the demo app does not trust), as an
// in-cluster client such as Isthmus does.
func TestPodsReachTheirAPIServer(t *testing.T) {
	for _, c := range clouds {
		client := mustDemoPods(t, c)[0]
		svc, err := c.Client.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := mustCall(t, client, "https://"+svc.Spec.ClusterIP+"/version")
		if !strings.Contains(got.Error, "certificate") {
			t.Errorf("cluster %s: pod → https://%s/version: want a certificate error (the apiserver reached), got %+v", c.Name, svc.Spec.ClusterIP, got)
		}
	}
}

// TestPodNetworksAreSeparate: the two clusters' pod networks do not route
// to each other (they are two networks, joined only through east-west
// gateways where the demo declares it): a pod of one cluster cannot reach
// a pod, the node, or a ClusterIP of the other, while it reaches its own.
func TestPodNetworksAreSeparate(t *testing.T) {
	for _, from := range clouds {
		for _, to := range clouds {
			if from == to {
				continue
			}
			client, target := mustDemoPods(t, from)[0], mustDemoPods(t, to)[0]
			own := mustCall(t, client, podURL(mustDemoPods(t, from)[1], "/"))
			if own.Status != 200 {
				t.Fatalf("%s pod → %s pod: %+v; a pod must reach its own cluster's pods", from.Name, from.Name, own)
			}
			toNode := to.Node(target.Spec.NodeName)
			toService, err := to.Client.CoreV1().Services(demoNamespace).Get(t.Context(), demoName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			unreachable := []string{
				podURL(target, "/"),
				fmt.Sprintf("http://%s:10250/healthz", toNode.IP),
				"http://" + toService.Spec.ClusterIP + "/",
			}
			for _, u := range unreachable {
				if got := mustCall(t, client, u); got.Error == "" {
					t.Errorf("%s pod %s reached %s of cluster %s: %+v", from.Name, client.Name, u, to.Name, got)
				}
			}
		}
	}
}

// TestSidecarImageRuns: the sidecar image's Envoy, isthmus and
// iptables-restore run in a pod (Envoy as uid 1337, as an injected proxy
// does), and their output reaches the pod's logs through the kubelet.
func TestSidecarImageRuns(t *testing.T) {
	c := clouds["aws"]
	ctx := t.Context()
	pod := sidecarPod()
	if _, err := c.Client.CoreV1().Pods(demoNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Pods(demoNamespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	})
	waitPodPhase(t, c, pod.Name, corev1.PodSucceeded)
	want := map[string]string{"envoy": "1.40.0", "isthmus": "isthmus agent", "iptables": "nf_tables"}
	for container, text := range want {
		logs, err := c.Client.CoreV1().Pods(demoNamespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs of %s: %v", container, err)
		}
		if !strings.Contains(string(logs), text) {
			t.Errorf("container %s logged %q, want it to mention %q", container, logs, text)
		}
	}
}

func sidecarPod() *corev1.Pod {
	container := func(name string, command ...string) corev1.Container {
		return corev1.Container{Name: name, Image: nodeimages.SidecarRef, ImagePullPolicy: corev1.PullNever, Command: command}
	}
	envoy := container("envoy", nodeimages.EnvoyBinary, "--version")
	envoy.SecurityContext = &corev1.SecurityContext{RunAsUser: new(int64(1337)), RunAsGroup: new(int64(1337))}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar-image", Namespace: demoNamespace},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{
				envoy,
				container("isthmus", nodeimages.IsthmusBinary, "agent", "--help"),
				container("iptables", nodeimages.IptablesRestore, "--version"),
			},
		},
	}
}

// TestStartupCost reports what each cluster cost: start-up (processes to
// a Ready node) and memory (resident sets of the control plane and node
// daemons, and of the node's pods from its memory cgroup).
func TestStartupCost(t *testing.T) {
	for _, c := range clouds {
		perProcess := map[string]int64{}
		var daemons int64
		for _, pid := range c.PIDs() {
			rss := processRSS(t, pid)
			perProcess[processName(pid)] += rss >> 20
			daemons += rss
		}
		pods := int64(0)
		for _, n := range c.Nodes {
			pods += cgroupRSS(t, n.CgroupRoot)
		}
		if daemons == 0 {
			t.Errorf("cluster %s: no memory measured for its processes %v", c.Name, c.PIDs())
		}
		t.Logf("cluster %s: started (etcd to Ready node) in %s; memory: control plane + node daemons %d MiB %v (MiB), pods %d MiB",
			c.Name, c.startup.Round(10*time.Millisecond), daemons>>20, perProcess, pods>>20)
	}
}

// processRSS is a process's resident set in bytes.
func processRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Errorf("process %d: %v", pid, err)
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// processName is the component a process runs: the multi-call binary's
// first argument, else the program's name.
func processName(pid int) string {
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	argv := strings.Split(string(cmdline), "\x00")
	if len(argv) > 1 && filepath.Base(argv[0]) == "kube" {
		return argv[1]
	}
	return filepath.Base(argv[0])
}

// cgroupRSS is total_rss of a memory cgroup (its processes' anonymous
// memory, page cache left out).
func cgroupRSS(t *testing.T, root string) int64 {
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", root, "memory.stat"))
	if err != nil {
		t.Errorf("memory cgroup %s: %v", root, err)
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "total_rss "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return 0
}

func mustDemoPods(t *testing.T, c *cloud) []corev1.Pod {
	t.Helper()
	pods, err := demoPods(t.Context(), c)
	if err != nil {
		t.Fatalf("cluster %s: %v", c.Name, err)
	}
	if len(pods) < 2 {
		t.Fatalf("cluster %s: %d demo pods, want %d", c.Name, len(pods), demoReplicas)
	}
	return pods
}

func mustCall(t *testing.T, from corev1.Pod, target string) callResult {
	t.Helper()
	got, err := callFrom(t.Context(), from.Status.PodIP, target)
	if err != nil {
		t.Fatalf("pod %s: %v", from.Name, err)
	}
	return got
}

func podURL(pod corev1.Pod, path string) string {
	return fmt.Sprintf("http://%s:%d%s", pod.Status.PodIP, demoPort, path)
}

func waitPodPhase(t *testing.T, c *cloud, name string, phase corev1.PodPhase) {
	t.Helper()
	var last corev1.PodPhase
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err := c.Client.CoreV1().Pods(demoNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = pod.Status.Phase
		return last == phase || last == corev1.PodFailed, nil
	})
	if err != nil || last != phase {
		t.Fatalf("pod %s: phase %s, want %s (%v)", name, last, phase, err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
