package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/inject"
)

// The commands Isthmus's own sidecar mode injects are commands this
// binary runs: capture and agent accept their arguments, and bootstrap,
// given what the kubelet would give it (downward API values, the labels
// file, the mesh roots), writes a bootstrap for the secure port with the
// pod's node id and metadata, which Envoy accepts.
func TestInjectedIsthmusCommandsRun(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}}
	injected, err := inject.Pod(pod, "shop", inject.Config{Mode: inject.ModeIsthmus, ClusterID: "aws", Network: "net-aws"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	containers := kubeletArgs(injected, dir)
	var stdout, stderr bytes.Buffer
	if code := run(append(containers["isthmus-capture"], "--print"), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--dport 5432 -j RETURN") {
		t.Fatalf("isthmus %v: exit %d\n%s%s", containers["isthmus-capture"], code, stdout.String(), stderr.String())
	}
	for _, name := range []string{"isthmus-credential", "isthmus-agent"} {
		if _, _, err := parseAgentFlags(containers[name][1:]); err != nil {
			t.Errorf("isthmus %v: %v", containers[name], err)
		}
	}
	writeKubeletFiles(t, dir)
	if code := run(containers["isthmus-bootstrap"], &stdout, &stderr); code != 0 {
		t.Fatalf("isthmus %v: exit %d: %s", containers["isthmus-bootstrap"], code, stderr.String())
	}
	checkInjectedBootstrap(t, filepath.Join(dir, "etc/isthmus/envoy/envoy.yaml"))
	validateWithEnvoy(t, filepath.Join(dir, "etc/isthmus/envoy/envoy.yaml"))
}

// validateWithEnvoy has the real Envoy check a bootstrap (--mode validate).
func validateWithEnvoy(t *testing.T, path string) {
	t.Helper()
	bin, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", path, "--log-level", "warning").CombinedOutput()
	if err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}
}

// podEnv is what the downward API gives the injected containers.
var podEnv = map[string]string{"$(POD_NAME)": "web-0", "$(POD_NAMESPACE)": "shop", "$(INSTANCE_IP)": "10.1.2.3",
	"$(SERVICE_ACCOUNT)": "web", "$(NODE_NAME)": "node-a"}

// kubeletArgs is the arguments of each injected init container as the
// kubelet would run them: $(VAR)s expanded from podEnv, and the volumes'
// mount points moved under dir.
func kubeletArgs(pod *corev1.Pod, dir string) map[string][]string {
	containers := map[string][]string{}
	for _, c := range pod.Spec.InitContainers {
		containers[c.Name] = kubeletContainerArgs(c.Args, dir)
	}
	return containers
}

func kubeletContainerArgs(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for k, v := range podEnv {
			a = strings.ReplaceAll(a, k, v)
		}
		for _, root := range []string{"/etc/isthmus/", "/etc/istio/", "/var/run/secrets/"} {
			a = strings.ReplaceAll(a, root, filepath.Join(dir, root)+"/")
		}
		out[i] = a
	}
	return out
}

// writeKubeletFiles writes what the pod's volumes would hold.
func writeKubeletFiles(t *testing.T, dir string) {
	t.Helper()
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for path, content := range map[string][]byte{
		"etc/istio/pod/labels":                  []byte("app=\"web\"\nversion=\"v1\"\n"),
		"var/run/secrets/istio/root-cert.pem":   ca.RootsPEM(),
		"etc/isthmus/credential/cert-chain.pem": nil,
		"etc/isthmus/credential/key.pem":        nil,
		"etc/isthmus/envoy/.keep":               nil,
	} {
		path = filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkInjectedBootstrap(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if id := field(out, "node", "id"); id != "sidecar~10.1.2.3~web-0.shop~shop.svc.cluster.local" {
		t.Errorf("node id %v", id)
	}
	md, _ := field(out, "node", "metadata").(map[string]any)
	for k, want := range map[string]string{"NAMESPACE": "shop", "SERVICE_ACCOUNT": "web", "CLUSTER_ID": "aws", "NETWORK": "net-aws",
		"INSTANCE_IPS": "10.1.2.3", "WORKLOAD_NAME": "web-0", "NAME": "web-0", "INTERCEPTION_MODE": "REDIRECT", "MESH_ID": "cluster.local"} {
		if md[k] != want {
			t.Errorf("metadata %s = %#v, want %q", k, md[k], want)
		}
	}
	if labels, _ := md["LABELS"].(map[string]any); labels["app"] != "web" || labels["version"] != "v1" {
		t.Errorf("LABELS = %#v, want the labels file's", md["LABELS"])
	}
	if !strings.Contains(string(data), "isthmus.istio-system.svc") || !strings.Contains(string(data), "xds-client-cert") {
		t.Errorf("bootstrap does not connect to the secure port with the client certificate:\n%s", data)
	}
	if api := field(out, "dynamic_resources", "ads_config", "api_type"); api != "DELTA_GRPC" {
		t.Errorf("ADS api_type %v, want DELTA_GRPC", api)
	}
}

// serve refuses an unknown --inject-mode, and webhook configurations to
// patch without a config cluster to patch them in.
func TestServeInjectFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--inject-mode=sidecarless":                  `--inject-mode "sidecarless"`,
		"--injection-webhook=istio-sidecar-injector": "need --config-kubeconfig",
		"--validating-webhook=istio-validator":       "need --config-kubeconfig",
	} {
		_, _, err := parseServeFlags([]string{"--config-dir", ".", args})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", args, err, want)
		}
	}
	opts, _, err := parseServeFlags([]string{"--config-dir", "."})
	if err != nil || opts.inject.mode != "istio-agent" || opts.inject.discoveryAddress != "isthmus.istio-system.svc:15012" {
		t.Fatalf("defaults %+v, %v", opts.inject, err)
	}
}
