package cabundle

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// On a real kube-apiserver: a configuration that appears after Run started
// gets the roots in every webhook; new roots replace them; an unchanged
// configuration is not written again; the missing one is logged once.
func TestRunFollowsRootsOnARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "cabundle"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var roots atomic.Value
	roots.Store([]byte("root one"))
	var logs syncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{Client: c.Client, Targets: []Target{{Kind: Mutating, Name: "injector"}, {Kind: Validating, Name: "validator"}},
			Roots: func() []byte { return roots.Load().([]byte) }, Interval: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	time.Sleep(300 * time.Millisecond) // several attempts on missing configurations
	createConfigurations(t, c.Client)
	waitBundles(t, c.Client, "root one")
	mutating, _ := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), "injector", metav1.GetOptions{})
	version := mutating.ResourceVersion

	time.Sleep(300 * time.Millisecond)
	if again, _ := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), "injector", metav1.GetOptions{}); again.ResourceVersion != version {
		t.Errorf("unchanged roots rewrote the configuration (resourceVersion %s → %s)", version, again.ResourceVersion)
	}
	roots.Store([]byte("root two"))
	waitBundles(t, c.Client, "root two")
	cancel()
	<-done
	if n := strings.Count(logs.String(), "webhook caBundle not set; retrying"); n != 2 {
		t.Errorf("%d retry warnings, want one per missing configuration:\n%s", n, logs.String())
	}
}

func createConfigurations(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://localhost:15017/x"
	cc := admissionregistrationv1.WebhookClientConfig{URL: &url}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "a.istio.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
			{Name: "b.istio.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
		}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "validator"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "v.istio.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
		}}
	api := client.AdmissionregistrationV1()
	if _, err := api.MutatingWebhookConfigurations().Create(t.Context(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(t.Context(), vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitBundles waits until every webhook of both configurations holds want.
func waitBundles(t *testing.T, client kubernetes.Interface, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var bundles [][]byte
		api := client.AdmissionregistrationV1()
		if m, err := api.MutatingWebhookConfigurations().Get(t.Context(), "injector", metav1.GetOptions{}); err == nil {
			for _, w := range m.Webhooks {
				bundles = append(bundles, w.ClientConfig.CABundle)
			}
		}
		if v, err := api.ValidatingWebhookConfigurations().Get(t.Context(), "validator", metav1.GetOptions{}); err == nil {
			for _, w := range v.Webhooks {
				bundles = append(bundles, w.ClientConfig.CABundle)
			}
		}
		if allEqual(bundles, []byte(want), 3) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caBundles %q, want 3 of %q", bundles, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func allEqual(bundles [][]byte, want []byte, n int) bool {
	if len(bundles) != n {
		return false
	}
	for _, b := range bundles {
		if !bytes.Equal(b, want) {
			return false
		}
	}
	return true
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
