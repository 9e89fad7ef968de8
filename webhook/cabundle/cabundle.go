package cabundle

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Kind is the kind of webhook configuration.
type Kind string

const (
	Validating Kind = "ValidatingWebhookConfiguration"
	Mutating   Kind = "MutatingWebhookConfiguration"
)

// Target names one webhook configuration.
type Target struct {
	Kind Kind
	Name string
}

func (t Target) String() string { return string(t.Kind) + " " + t.Name }

// Set writes caBundle into every webhook of t and reports whether it
// changed anything.
func Set(ctx context.Context, client kubernetes.Interface, t Target, caBundle []byte) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		switch t.Kind {
		case Validating:
			changed, err = setValidating(ctx, client, t.Name, caBundle)
		case Mutating:
			changed, err = setMutating(ctx, client, t.Name, caBundle)
		default:
			err = fmt.Errorf("unknown kind %q", t.Kind)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("set the caBundle of %s: %w", t, err)
	}
	return changed, nil
}

func setValidating(ctx context.Context, client kubernetes.Interface, name string, caBundle []byte) (bool, error) {
	return setIn(ctx, client.AdmissionregistrationV1().ValidatingWebhookConfigurations(), name, caBundle,
		func(cfg *admissionregistrationv1.ValidatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, len(cfg.Webhooks))
			for i := range cfg.Webhooks {
				out[i] = &cfg.Webhooks[i].ClientConfig
			}
			return out
		})
}

func setMutating(ctx context.Context, client kubernetes.Interface, name string, caBundle []byte) (bool, error) {
	return setIn(ctx, client.AdmissionregistrationV1().MutatingWebhookConfigurations(), name, caBundle,
		func(cfg *admissionregistrationv1.MutatingWebhookConfiguration) []*admissionregistrationv1.WebhookClientConfig {
			out := make([]*admissionregistrationv1.WebhookClientConfig, len(cfg.Webhooks))
			for i := range cfg.Webhooks {
				out[i] = &cfg.Webhooks[i].ClientConfig
			}
			return out
		})
}

// configAPI is the typed client of one kind of webhook configuration.
type configAPI[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// setIn reads configuration name, sets caBundle in each of its webhooks'
// client configurations and writes it back when that changed anything.
func setIn[T any](ctx context.Context, api configAPI[T], name string, caBundle []byte, clientConfigs func(T) []*admissionregistrationv1.WebhookClientConfig) (bool, error) {
	cfg, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	changed := false
	for _, cc := range clientConfigs(cfg) {
		changed = setBundle(cc, caBundle) || changed
	}
	if !changed {
		return false, nil
	}
	_, err = api.Update(ctx, cfg, metav1.UpdateOptions{})
	return err == nil, err
}

func setBundle(cc *admissionregistrationv1.WebhookClientConfig, caBundle []byte) bool {
	if bytes.Equal(cc.CABundle, caBundle) {
		return false
	}
	cc.CABundle = bytes.Clone(caBundle)
	return true
}

// DefaultInterval is how often Run looks for changed roots and retries.
const DefaultInterval = 5 * time.Second

// Options configure Run.
type Options struct {
	Client   kubernetes.Interface
	Targets  []Target
	Roots    func() []byte // the mesh roots, PEM
	Interval time.Duration // default DefaultInterval
	Logger   *slog.Logger  // default slog.Default()
}

// Run keeps every target's caBundle equal to Roots() until ctx ends.
func Run(ctx context.Context, opts Options) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	done := make(map[Target][]byte, len(opts.Targets)) // the roots each target holds
	lastErr := map[Target]string{}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		roots := opts.Roots()
		for _, t := range opts.Targets {
			if bytes.Equal(done[t], roots) {
				continue
			}
			if attempt(ctx, opts, t, roots, lastErr) {
				done[t] = roots
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// attempt sets one target and logs the outcome; an error is logged when it
// differs from the target's previous one.
func attempt(ctx context.Context, opts Options, t Target, roots []byte, lastErr map[Target]string) bool {
	changed, err := Set(ctx, opts.Client, t, roots)
	if err != nil {
		if ctx.Err() == nil && lastErr[t] != err.Error() {
			opts.Logger.Warn("webhook caBundle not set; retrying", "kind", string(t.Kind), "name", t.Name, "error", err)
		}
		lastErr[t] = err.Error()
		return false
	}
	delete(lastErr, t)
	if changed {
		opts.Logger.Info("webhook caBundle set to the mesh roots", "kind", string(t.Kind), "name", t.Name)
	}
	return true
}
