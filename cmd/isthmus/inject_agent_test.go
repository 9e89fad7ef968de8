package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/inject"
)

// The credential step Isthmus's sidecar mode injects, run as the kubelet
// would run it (its arguments, the projected token of the pod's service
// account with audience istio-ca, the mesh roots), gets the pod's
// certificate from a real isthmus serve that reviews the token with a real
// kube-apiserver; then the bootstrap step and the real Envoy, on that
// credential, connect to the secure port and receive their configuration.
func TestInjectedAgentGetsItsCredential(t *testing.T) {
	cluster := kubeharness.StartT(t, kubeharness.Options{Name: "aws"})
	ctx := t.Context()
	token := serviceAccountToken(t, cluster, "shop", "web")
	dir, caDir := t.TempDir(), filepath.Join(t.TempDir(), "ca")
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	ca, err := certs.LoadOrCreateCA(caDir, certs.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	var logs serveLogBuffer
	opts, _, err := parseServeFlags([]string{"--config-dir", dir, "--xds-listen", "", "--secure-listen", "127.0.0.1:0",
		"--monitoring-listen", "127.0.0.1:0", "--webhook-listen", "", "--ca-dir", caDir, "--secure-dns-names", "localhost",
		"--kubeconfig", "aws=" + cluster.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go serve(serveCtx, opts, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	secureAddr := waitForLogMatch(t, &logs, secureAddrInLog)
	_, port, _ := net.SplitHostPort(secureAddr)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "web"}}}}
	injected, err := inject.Pod(pod, "shop", inject.Config{Mode: inject.ModeIsthmus, ClusterID: "aws", DiscoveryAddress: "localhost:" + port})
	if err != nil {
		t.Fatal(err)
	}
	pods := t.TempDir()
	writePodFile(t, filepath.Join(pods, "var/run/secrets/tokens/istio-token"), []byte(token))
	writePodFile(t, filepath.Join(pods, "var/run/secrets/istio/root-cert.pem"), ca.RootsPEM())
	args := kubeletArgs(injected, pods)["isthmus-credential"]
	var stdout, stderr bytes.Buffer
	waitLong(t, "isthmus "+args[0]+" to get the credential", func() bool {
		stderr.Reset()
		return run(args, &stdout, &stderr) == 0
	})
	leaf := firstCertificate(t, filepath.Join(pods, "etc/isthmus/credential/cert-chain.pem"))
	if want := "spiffe://cluster.local/ns/shop/sa/web"; len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		t.Errorf("credential for %v, want %s", leaf.URIs, want)
	}
	if _, err := os.Stat(filepath.Join(pods, "etc/isthmus/credential/key.pem")); err != nil {
		t.Error(err)
	}
	runInjectedEnvoy(t, injected, pods)
}

// runInjectedEnvoy runs the bootstrap step and Envoy as injected, with two
// changes that keep this test off ports others may use: the admin
// interface on a free port, and no traffic capture (Isthmus then binds no
// 15001/15006 listeners). It waits until Envoy is connected and has
// accepted clusters and listeners from Isthmus.
func runInjectedEnvoy(t *testing.T, injected *corev1.Pod, pods string) {
	t.Helper()
	admin := freeLoopbackPort(t)
	bootstrapArgs := append(kubeletArgs(injected, pods)["isthmus-bootstrap"], "--admin-address="+admin, "--meta=INTERCEPTION_MODE=NONE")
	writePodFile(t, filepath.Join(pods, "etc/istio/pod/labels"), []byte("app=\"web\"\n"))
	if err := os.MkdirAll(filepath.Join(pods, "etc/isthmus/envoy"), 0o755); err != nil { // the isthmus-envoy emptyDir
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(bootstrapArgs, &stdout, &stderr); code != 0 {
		t.Fatalf("isthmus %v: exit %d: %s", bootstrapArgs, code, stderr.String())
	}
	bin, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	var envoyArgs []string
	for _, c := range injected.Spec.InitContainers {
		if c.Name == "isthmus-proxy" {
			envoyArgs = kubeletContainerArgs(c.Args, pods)
		}
	}
	var envoyLog bytes.Buffer
	cmd := exec.Command(bin, envoyArgs...)
	cmd.Stdout, cmd.Stderr = &envoyLog, &envoyLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Envoy's log:\n%s", envoyLog.String())
		}
	})
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // runs first: the log is complete
	stats := map[string]string{}
	waitLong(t, "Envoy connected to the secure port with its configuration", func() bool {
		stats = envoyStats(admin)
		return stats["control_plane.connected_state"] == "1" && atLeastOne(stats["cluster_manager.cds.update_success"]) &&
			atLeastOne(stats["listener_manager.lds.update_success"])
	})
	t.Logf("Envoy on the injected bootstrap: connected, cds updates %s, lds updates %s",
		stats["cluster_manager.cds.update_success"], stats["listener_manager.lds.update_success"])
}

func atLeastOne(counter string) bool {
	n, err := strconv.Atoi(counter)
	return err == nil && n >= 1
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// envoyStats reads Envoy's counters and gauges; empty when it does not answer.
func envoyStats(admin string) map[string]string {
	out := map[string]string{}
	resp, err := http.Get("http://" + admin + "/stats?filter=^(control_plane|cluster_manager.cds|listener_manager.lds)")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k] = v
		}
	}
	return out
}

// serviceAccountToken makes namespace/name and returns a token for it with
// audience istio-ca, as the projected istio-token volume holds.
func serviceAccountToken(t *testing.T, c *kubeharness.Cluster, namespace, name string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}, ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func writePodFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

func firstCertificate(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
