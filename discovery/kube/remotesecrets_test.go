package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// kubeconfigFor is a remote kubeconfig as istioctl create-remote-secret
// writes it: one cluster, a service account token, inline data only.
// extraUser is YAML added to the user's fields.
func kubeconfigFor(server, extraUser string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: remote
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: istio-reader
  user:
    token: reader-token
%s
contexts:
- name: remote
  context: {cluster: remote, user: istio-reader}
current-context: remote
`, server, extraUser)
}

// fakeServers hands out a fake clientset per API server URL, as a real
// client would reach a different cluster per server.
type fakeServers struct {
	mu      sync.Mutex
	clients map[string]*faultyAPI
}

func (f *fakeServers) newClient(cfg *rest.Config) (kubernetes.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[cfg.Host]
	if !ok {
		return nil, fmt.Errorf("no fake cluster at %s", cfg.Host)
	}
	return c, nil
}

func remoteSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: map[string]string{RemoteSecretLabel: "true"}},
		Data:       data,
	}
}

// Remote secrets add their clusters, re-credential them when they change
// and remove them when deleted; a bad key is logged and skipped, leaving
// the others alone.
func TestRemoteSecretsAddChangeAndRemoveClusters(t *testing.T) {
	var logs logBuffer
	set := newSet(t, logs.logger())
	servers := &fakeServers{clients: map[string]*faultyAPI{
		"https://east.example:6443":  newFaultyAPI(t, web("10.1.0.1")),
		"https://east2.example:6443": newFaultyAPI(t, web("10.1.0.2")),
		"https://west.example:6443":  newFaultyAPI(t, web("10.2.0.1")),
	}}
	if err := set.AddClient(t.Context(), "primary", newFaultyAPI(t, web("10.0.0.1"))); err != nil {
		t.Fatal(err)
	}
	configCluster := fake.NewClientset(
		remoteSecret("istio-remote-secret-east", map[string][]byte{"east": kubeconfigFor("https://east.example:6443", "")}),
		// Not labelled: not a remote secret.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "istio-system"},
			Data: map[string][]byte{"north": kubeconfigFor("https://west.example:6443", "")}},
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := watchRemoteSecrets(ctx, configCluster, "", set, servers.newClient)
	if err != nil {
		t.Fatal(err)
	}
	if !w.WaitForSync(ctx) {
		t.Fatal("remote secrets never listed")
	}
	waitForSet(t, set, "east from its secret", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.0.0.1", "10.1.0.1"})
	})
	if has, remote := set.Has("east"); !has || !remote {
		t.Errorf("east: has %v, remote %v", has, remote)
	}

	secrets := configCluster.CoreV1().Secrets("istio-system")
	_, err = secrets.Create(ctx, remoteSecret("istio-remote-secret-mixed", map[string][]byte{
		"west":    kubeconfigFor("https://west.example:6443", ""),
		"garbage": []byte("{this is: [not a kubeconfig"),
		"primary": kubeconfigFor("https://west.example:6443", ""),
		"east":    kubeconfigFor("https://west.example:6443", ""),
		"execy":   kubeconfigFor("https://west.example:6443", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/steal}"),
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitForSet(t, set, "west added beside the bad keys", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.0.0.1", "10.1.0.1", "10.2.0.1"})
	})
	for key, reason := range map[string]string{
		"garbage": "not a kubeconfig",
		"primary": "already given by flag",
		"east":    "already given by secret istio-system/istio-remote-secret-east",
		"execy":   "exec plugin",
	} {
		if got := logs.lines("level=WARN", "secret=istio-system/istio-remote-secret-mixed", "key="+key, reason); len(got) != 1 {
			t.Errorf("key %s: want one WARN line naming the secret, key and %q; log:\n%s", key, reason, logs.String())
		}
	}
	if got := clusterIDs(set.Statuses()); !slices.Equal(got, []string{"primary", "east", "west"}) {
		t.Errorf("clusters %v, want the flag's first, then the secrets' by ID", got)
	}

	// New credentials: east now points at another API server.
	before := set.Cluster("east")
	updateSecret(t, secrets, "istio-remote-secret-east", map[string][]byte{"east": kubeconfigFor("https://east2.example:6443", "")})
	waitForSet(t, set, "east re-credentialed", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.0.0.1", "10.1.0.2", "10.2.0.1"})
	})
	if set.Cluster("east") == before {
		t.Error("east kept its registry after new credentials")
	}

	// A bad update leaves east on its credentials.
	updateSecret(t, secrets, "istio-remote-secret-east", map[string][]byte{"east": []byte("garbage")})
	eventually(t, "bad update logged", func() bool {
		return len(logs.lines("level=WARN", "key=east", "keeps its previous credentials")) == 1
	})
	if has, _ := set.Has("east"); !has {
		t.Error("east removed by a bad update")
	}

	// A key dropped from a secret, then a deleted secret.
	updateSecret(t, secrets, "istio-remote-secret-mixed", map[string][]byte{"garbage": []byte("still")})
	waitForSet(t, set, "west gone with its key", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.0.0.1", "10.1.0.2"})
	})
	if err := secrets.Delete(ctx, "istio-remote-secret-east", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForSet(t, set, "east gone with its secret", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.0.0.1"})
	})
	if got := clusterIDs(set.Statuses()); !slices.Equal(got, []string{"primary"}) {
		t.Errorf("clusters left: %v", got)
	}
	cancel()
	<-w.Done()
}

func updateSecret(t *testing.T, secrets interface {
	Update(context.Context, *corev1.Secret, metav1.UpdateOptions) (*corev1.Secret, error)
}, name string, data map[string][]byte) {
	t.Helper()
	if _, err := secrets.Update(t.Context(), remoteSecret(name, data), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A remote kubeconfig may not make Isthmus read a file or run a program.
func TestRemoteConfigRefusesLocalFilesAndPrograms(t *testing.T) {
	good, err := RemoteConfig(kubeconfigFor("https://east.example:6443", ""))
	if err != nil || good.Host != "https://east.example:6443" || good.BearerToken != "reader-token" {
		t.Fatalf("good kubeconfig: %v, %+v", err, good)
	}
	cases := map[string]struct{ kubeconfig, want string }{
		"empty":         {"  \n", "empty kubeconfig"},
		"garbage":       {"{not: [yaml", "not a kubeconfig"},
		"exec":          {string(kubeconfigFor("https://e", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}")), `exec plugin "aws"`},
		"auth provider": {string(kubeconfigFor("https://e", "    auth-provider: {name: gcp}")), `auth provider "gcp"`},
		"token file":    {string(kubeconfigFor("https://e", "    tokenFile: /var/run/secrets/token")), "file paths"},
		"client cert":   {string(kubeconfigFor("https://e", "    client-certificate: /etc/cert.pem")), "file paths"},
		"client key":    {string(kubeconfigFor("https://e", "    client-key: /etc/key.pem")), "file paths"},
		"ca file": {strings.Replace(string(kubeconfigFor("https://e", "")), "insecure-skip-tls-verify: true",
			"certificate-authority: /etc/ca.pem", 1), "certificate-authority file"},
		"no context": {strings.Replace(string(kubeconfigFor("https://e", "")), "current-context: remote", "", 1), "kubeconfig"},
		"unused exec user": {strings.Replace(string(kubeconfigFor("https://e", "")), "users:\n",
			"users:\n- name: other\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: sh}\n", 1),
			`user "other": exec plugin "sh"`},
	}
	for name, c := range cases {
		_, err := RemoteConfig([]byte(c.kubeconfig))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}
